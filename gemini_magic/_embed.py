"""Embeddings: ``%gemini embed df.text -o vectors`` and :func:`embed`, through ``:batchEmbedContents``.

The texts go in batches of at most 100 (the API's limit, shared/wire-batch.md §7), a few batches at
once, through the limiter ``--each`` uses: ``rpm=`` spaces the requests, and a 429 pauses every
worker for its RetryInfo delay. One progress view counts the texts. Each batch's answer is kept in
the response cache (on by default here), so a re-run after Ctrl-C or a restart sends only the
batches not yet answered. The result keeps the input order: a 2-D numpy array (float32, one row a
text) when numpy is importable, else a list of lists.
"""

from __future__ import annotations

import ast
import math
import numbers
import re
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from ._errors import GeminiError, GeminiInterrupted, GeminiStreamError
from ._options import Options, parse_argv, split_line

if TYPE_CHECKING:
    import numpy
    import numpy.typing

    from ._api import Host
    from ._cache import ResponseCache
    from ._client import GeminiClient
    from ._display import ViewFactory
    from ._limiter import Limiter
    from ._magics import GeminiMagic
    from ._progress import JobProgress
    from ._settings import Settings

__all__ = ["DEFAULT_MODEL", "DEFAULT_OUT", "MAX_BATCH", "TASK_TYPES", "embed", "embed_command", "run_embed"]

DEFAULT_MODEL = "gemini-embedding-001"
DEFAULT_OUT = "_gemini_embeddings"
MAX_BATCH = 100  # texts per :batchEmbedContents request; 101 is a 400 INVALID_ARGUMENT
FLOAT32_MAX = 3.4028234663852886e38  # past it a value is no embedding (and numpy's float32 cast overflows)
WORKERS = 4  # batches in flight: 400 texts at once is plenty, and kinder to a per-minute quota
TASK_TYPES = (
    "RETRIEVAL_QUERY",
    "RETRIEVAL_DOCUMENT",
    "SEMANTIC_SIMILARITY",
    "CLASSIFICATION",
    "CLUSTERING",
    "QUESTION_ANSWERING",
    "FACT_VERIFICATION",
    "CODE_RETRIEVAL_QUERY",
)
#: The options that mean something for an embedding request; any other is refused, not ignored.
_APPLICABLE = frozenset({"model", "base_url", "timeout", "auth", "cache", "rpm", "out", "preset"})
#: What ``%gemini embed`` reads as its texts: ``texts``, ``df.text``, ``df["text"]``, ``data.rows[0]``.
_EXPRESSION = re.compile(r"""[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[(?:"[^"]*"|'[^']*'|\d+)\])*(?=\s|$)""")
USAGE = "usage: %gemini embed EXPR [-o NAME] [-m MODEL] [--dimensions N] [--task-type T] [--rpm N] [--no-cache]"

if TYPE_CHECKING:
    Vectors = numpy.typing.NDArray[numpy.float32] | list[list[float]]


def embed(
    texts: Any,
    model: str = DEFAULT_MODEL,
    dimensions: int | None = None,
    task_type: str | None = None,
    *,
    display: bool = False,
    **options: Any,
) -> Vectors:
    """Embed *texts* (a list, a pandas Series or one DataFrame column) and return one row per text.

    ``dimensions`` asks for shorter vectors (``outputDimensionality``; only the full size comes back
    normalised), ``task_type`` for a use (``CLUSTERING``, ``RETRIEVAL_DOCUMENT``…). Options are the
    magic's that apply: ``rpm=`` (requests per minute), ``cache=False`` (the cache is on by default),
    ``base_url=``, ``timeout=``, ``auth=``. Missing values (NaN, None) are sent as empty text, other
    non-strings as ``str()``::

        from gemini_magic import embed
        vectors = embed(df.text, dimensions=768, task_type="CLUSTERING")  # shape (len(df), 768)

    Returns a float32 numpy array of shape (texts, dimensions) when numpy is importable, else a list
    of lists, in the order of *texts*. Errors are the magic's: :class:`UsageError` for bad input, a
    :class:`GeminiError` subclass for API and network failures.
    """
    from ._api import _ScriptHost, _shell, option_argv
    from ._display import SilentView, view_factory

    parsed = _parse(option_argv({"model": model, **options}, {}))
    if parsed.out:
        raise UsageError("embed() returns the vectors: out= is the magic's option (%gemini embed EXPR -o NAME)")
    values, missing = _texts(texts, "texts")
    new_view = view_factory(_shell()) if display else SilentView
    return run_embed(_ScriptHost({}), parsed, Texts(values, missing, dimensions, task_type), new_view)


def embed_command(magic: GeminiMagic, rest: str) -> None:
    """``%gemini embed EXPR -o NAME [-m MODEL] [--dimensions N] [--task-type T]``: embed the texts a
    notebook name holds and store the vectors in NAME (default ``_gemini_embeddings``)."""
    from ._display import view_factory

    line = rest.strip()
    match = _EXPRESSION.match(line)
    if match is None:
        raise UsageError(f'%gemini embed: name the texts, e.g. df.text or df["text"] ({USAGE})')
    argv = split_line(line[match.end() :])
    if argv and not argv[0].startswith("-"):
        raise UsageError(f"%gemini embed: expected options after {match.group(0)}, got {argv[0]!r} ({USAGE})")
    dimensions, task_type, argv = _own_options(argv)
    options = _parse(argv, magic.presets)
    texts, missing = _texts(_resolve(match.group(0), magic.namespace), match.group(0))
    name = options.out or DEFAULT_OUT
    new_view = view_factory(magic.shell)
    magic.namespace[name] = run_embed(magic, options, Texts(texts, missing, dimensions, task_type, name), new_view)


@dataclass(frozen=True)
class Texts:
    """What to embed: the texts (already strings; *missing* of them were NaN/None) and how."""

    texts: list[str]
    missing: int = 0
    dimensions: Any = None
    task_type: Any = None
    stored_in: str = ""  # the notebook name the vectors go to, for the summary


def run_embed(host: Host, options: Options, request: Texts, new_view: ViewFactory) -> Vectors:
    """Embed the texts of *request* for *host*; the vectors in order."""
    from ._bundles import text_bundle
    from ._cache import ResponseCache
    from ._limiter import Limiter
    from ._progress import JobProgress

    texts, missing, stored_in = request.texts, request.missing, request.stored_in
    dimensions, task_type = _dimensions(request.dimensions), _task_type(request.task_type)
    settings = host.settings(options)
    key = settings.api_key
    if len(key) >= 16 and any(key in text for text in texts):  # a shorter "key" would match ordinary words
        raise UsageError("embed: a text holds your API key; nothing was sent")
    path = settings.model if settings.model.startswith("models/") else f"models/{settings.model}"
    url = f"{settings.base_url}/v1beta/{path}:batchEmbedContents"
    bodies = [_body(path, texts[i : i + MAX_BATCH], dimensions, task_type) for i in range(0, len(texts), MAX_BATCH)]
    cache = ResponseCache(settings.cache_dir) if settings.cache else None
    started = time.monotonic()
    with JobProgress(len(texts), f"{settings.model} · embedding {len(texts):,} texts", new_view) as progress:
        job = _Job(host.client, settings, url, Limiter(options.rpm), cache, progress)
        vectors = _join(job.run(bodies))
        rows, width = _shape(vectors)
        plural = "" if len(texts) == 1 else "s"
        summary = f"Embedded {len(texts):,} text{plural} → {rows:,} × {width:,} in {time.monotonic() - started:.1f} s"
        summary += f" ({job.cached:,} from the cache)" if job.cached else ""
        summary += f", stored in {stored_in}." if stored_in else "."
        if missing:
            summary += f" {missing:,} missing values (NaN/None) were sent as empty text."
        progress.finish([text_bundle(summary)])
    return vectors


def _body(model: str, texts: list[str], dimensions: int | None, task_type: str | None) -> dict[str, Any]:
    """One ``batchEmbedContents`` request: an entry per text, each naming the model (as the SDK does)."""
    extra: dict[str, Any] = {}
    if task_type:
        extra["taskType"] = task_type
    if dimensions:
        extra["outputDimensionality"] = dimensions
    return {"requests": [{"model": model, "content": {"parts": [{"text": text}]}, **extra} for text in texts]}


class _Job:
    """The batches of one call, sent by a few workers; results by batch number, so order is kept."""

    def __init__(
        self,
        client: GeminiClient,
        settings: Settings,
        url: str,
        limiter: Limiter,
        cache: ResponseCache | None,
        progress: JobProgress,
    ) -> None:
        self.client = client
        self.settings = settings
        self.url = url
        self.limiter = limiter
        self.cache = cache
        self.progress = progress
        self.stop = threading.Event()
        self.cached = 0  # texts answered from the cache

    def run(self, bodies: list[dict[str, Any]]) -> list[Any]:
        """Each batch's vectors, in order: the cached ones at once, the others sent."""
        from ._settings import no_key_error

        results: list[Any] = [None] * len(bodies)
        keys = [self.cache.key(self.url, body) if self.cache else "" for body in bodies]
        for index, body in enumerate(bodies):
            results[index] = self._cached(keys[index], len(body["requests"]))
        todo = [index for index, found in enumerate(results) if found is None]
        if not todo:
            return results
        if not self.settings.api_key:
            raise no_key_error(self.settings.key_vars)
        pool = ThreadPoolExecutor(min(WORKERS, len(todo)), thread_name_prefix="gemini-embed")
        futures: dict[Future[Any], int] = {pool.submit(self._send, bodies[i], keys[i]): i for i in todo}
        try:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
        except KeyboardInterrupt:
            done = _count([body for body, found in zip(bodies, results, strict=True) if found is not None])
            kept = "; they are cached, so running it again sends only the rest" if self.cache and done else ""
            raise GeminiInterrupted(
                f"stopped by the user (interrupt) after {done:,} of {_count(bodies):,} texts{kept}"
            ) from None
        finally:
            self.stop.set()  # after an error or Ctrl-C the other workers send nothing more
            pool.shutdown(wait=False, cancel_futures=True)
        return results

    def _cached(self, key: str, count: int) -> Any:
        """The vectors of a cached answer, or None (not cached, or not a valid answer: sent again)."""
        data = self.cache.get(key) if self.cache else None
        if data is None:
            return None
        try:
            vectors = _vectors(data, count)
        except GeminiStreamError:
            return None
        self.cached += count
        self.progress.advance(count)
        return vectors

    def _send(self, body: dict[str, Any], key: str) -> Any:
        """One batch through ``--each``'s sender (a 429 pauses every worker, a 5xx waits for this
        batch alone); the vectors, or None when stopped."""
        from ._send import Pacing, send_row

        count = len(body["requests"])
        try:
            pacing = Pacing(self.limiter, self.stop, self.progress.retry)
            data = send_row(self.client, self.url, body, self.settings, pacing)
            if data is None:
                return None
            vectors = _vectors(data, count)
        except GeminiError:
            self.progress.advance(count, error=True)
            raise
        if self.cache is not None:
            self.cache.put(key, data)
        self.progress.advance(count)
        return vectors


def _count(bodies: list[dict[str, Any]]) -> int:
    return sum(len(body["requests"]) for body in bodies)


def _vectors(data: dict[str, Any], count: int) -> Any:
    """The answer's vectors after checking its shape: one per text, each a list of numbers, all as
    long; a float32 array when numpy is importable, else the lists."""
    embeddings = data.get("embeddings")
    if not isinstance(embeddings, list) or len(embeddings) != count:
        got = f"{len(embeddings)} entries" if isinstance(embeddings, list) else "no list"
        raise GeminiStreamError(f"the embedding answer has {got} in 'embeddings' for a batch of {count} texts")
    rows: list[list[float]] = []
    for index, entry in enumerate(embeddings):
        values = entry.get("values") if isinstance(entry, dict) else None
        if not isinstance(values, list) or not values or not set(map(type, values)) <= {float, int}:
            raise GeminiStreamError(f"the embedding answer's 'embeddings[{index}].values' is not a list of numbers")
        if not all(-FLOAT32_MAX <= value <= FLOAT32_MAX for value in values):  # NaN fails both tests
            raise GeminiStreamError(
                f"the embedding answer's 'embeddings[{index}].values' holds NaN, an infinity or a number past float32"
            )
        if rows and len(values) != len(rows[0]):
            raise GeminiStreamError(
                f"the embedding answer's 'embeddings[{index}].values' has {len(values)} numbers "
                f"where 'embeddings[0].values' has {len(rows[0])}"
            )
        rows.append(values)
    try:
        import numpy
    except ImportError:
        return rows
    return numpy.asarray(rows, dtype=numpy.float32)


def _join(batches: list[Any]) -> Vectors:
    """The batches' vectors as one array (or list), checking that every batch has the same width."""
    widths = [_shape(batch)[1] for batch in batches]
    for number, width in enumerate(widths):
        if width != widths[0]:
            raise GeminiStreamError(
                f"the embedding answers differ in length: batch {number + 1} has {width} values a text, "
                f"batch 1 has {widths[0]}"
            )
    if isinstance(batches[0], list):
        return [row for batch in batches for row in batch]
    import numpy

    return batches[0] if len(batches) == 1 else numpy.concatenate(batches)


def _shape(vectors: Any) -> tuple[int, int]:
    if isinstance(vectors, list):
        return len(vectors), len(vectors[0])
    rows, width = vectors.shape
    return int(rows), int(width)


def _parse(argv: list[str], presets: Mapping[str, str] | None = None) -> Options:
    """The magic's options for an embedding: the cache on unless turned off, the embedding model
    unless one is named, and any option that cannot apply refused."""
    options = parse_argv(argv, presets)
    blank = Options()
    for field in fields(Options):
        if field.name not in _APPLICABLE and getattr(options, field.name) != getattr(blank, field.name):
            raise UsageError(
                f"embed: {field.name} does not apply to embeddings "
                "(they take a model, dimensions, task_type, rpm, cache, base_url, timeout, auth)"
            )
    return replace(options, model=options.model or DEFAULT_MODEL, cache=options.cache is not False)


def _own_options(argv: list[str]) -> tuple[str | None, str | None, list[str]]:
    """``--dimensions N`` and ``--task-type T`` taken out of *argv*; the rest are the magic's options."""
    own: dict[str, str | None] = {"--dimensions": None, "--task-type": None}
    rest: list[str] = []
    words = iter(argv)
    for word in words:
        flag, equals, value = word.partition("=")
        if flag not in own:
            rest.append(word)
            continue
        if not equals:
            value = next(words, "")
        if not value:
            raise UsageError(f"%gemini embed: {flag} needs a value ({USAGE})")
        own[flag] = value
    return own["--dimensions"], own["--task-type"], rest


def _dimensions(value: Any) -> int | None:
    """``dimensions``/``--dimensions``: a positive whole number of values per text, or None."""
    if value is None:
        return None
    number = int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():  # not "²"
        number = int(value)
    if number is None or number < 1:
        raise UsageError(f"embed: dimensions must be a positive whole number (e.g. 768), got {value!r}")
    return number


def _task_type(value: Any) -> str | None:
    """``task_type``/``--task-type``: one of :data:`TASK_TYPES`, in any case, ``-`` for ``_``."""
    if value is None:
        return None
    name = str(value).strip().upper().replace("-", "_")
    if name not in TASK_TYPES:
        raise UsageError(f"embed: unknown task type {value!r} (one of: {', '.join(TASK_TYPES)})")
    return name


def _texts(value: Any, what: str) -> tuple[list[str], int]:
    """The texts in order, as strings (NaN and None as ""), and how many were missing."""
    kind = type(value).__name__
    if isinstance(value, str | bytes | Mapping):
        raise UsageError(f"embed: {what} is a {kind}; give a list of texts or a column, e.g. df.text")
    columns = getattr(value, "columns", None)
    if columns is not None:  # a DataFrame: one column is unambiguous, more are not
        if len(columns) != 1:
            raise UsageError(f"embed: {what} is a table with {len(columns)} columns; pick one, e.g. df.text")
        value = value[columns[0]]
    if getattr(value, "ndim", 1) != 1:
        raise UsageError(f"embed: {what} has {value.ndim} dimensions; give one column of texts")
    try:
        items = list(value)
    except TypeError:
        raise UsageError(f"embed: {what} is a {kind}, not a list of texts") from None
    if not items:
        raise UsageError(f"embed: {what} is empty; nothing was sent")
    texts = ["" if _missing(item) else item if isinstance(item, str) else str(item) for item in items]
    return texts, sum(map(_missing, items))


def _missing(value: Any) -> bool:
    """None, NaN (float or numpy) and pandas' NA/NaT: a cell with no text."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, int) and math.isnan(value)


def _resolve(expression: str, namespace: Mapping[str, Any]) -> Any:
    """What ``df.text``/``df["text"]`` names in the notebook, looked up here, never evaluated."""
    return _lookup(ast.parse(expression, mode="eval").body, namespace)


def _lookup(node: ast.expr, namespace: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        if node.id not in namespace:
            raise UsageError(f"%gemini embed: no variable named {node.id!r} in the notebook")
        return namespace[node.id]
    if isinstance(node, ast.Attribute):
        owner = _lookup(node.value, namespace)
        if not hasattr(owner, node.attr):
            raise UsageError(f"%gemini embed: {ast.unparse(node.value)} has no attribute {node.attr!r}")
        return getattr(owner, node.attr)
    assert isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)  # what _EXPRESSION lets through
    owner, key = _lookup(node.value, namespace), node.slice.value
    try:
        return owner[key]
    except (KeyError, IndexError, TypeError):
        columns = getattr(owner, "columns", None)
        known = f" (columns: {', '.join(map(str, list(columns)[:20]))})" if columns is not None else ""
        raise UsageError(f"%gemini embed: {ast.unparse(node.value)} has no [{key!r}]{known}") from None
