"""``%%gemini --each VAR`` and :func:`generate_each`: one prompt per row of a table, concurrent,
polite to the quota, and resumable.

The cell is a template filled in from each row (:mod:`._row_data`). Each row becomes its own
:class:`~._prepare.Call` and goes as one non-streaming ``generateContent`` through the magic's
pooled client (:mod:`._send`).

* **Polite**: ``--concurrency`` workers share one :class:`~._limiter.Limiter`, which spaces the
  requests to ``--rpm`` and, after any 429, holds every worker for its ``RetryInfo`` delay, then
  lets them go a slot apart at the rate that was getting through (no 429 storm); a 5xx is
  retried by its own row (``max_retries``); a 4xx is that row's ``error``, and five identical ones
  in a row stop the job with that error instead of paying for thousands of failures.
* **Cheap per row**: the rows' log entries are written a second at a time (:class:`~._log.JobLog`)
  and the proxy variables read once per job, so the kernel spends under 2 ms of CPU a row.
* **Resumable**: every row goes through the response cache (on unless ``--no-cache``) keyed as
  :mod:`._exchange` keys it, so re-running the cell after Ctrl-C, a restart or a crash sends only
  the rows still missing. Ctrl-C stops at once: the main thread waits in short slices, the workers
  send nothing more, the finished rows are kept in ``-o`` (an answer still in flight goes to the
  cache when it arrives), and the cell returns without waiting for the network.
* **One result**: a DataFrame with the data's index (``answer``, or one column per ``--schema``
  property, then ``finish_reason``, ``input_tokens``, ``output_tokens``, ``error``), or with
  ``--into COL`` a copy of the data with those columns; a list of dicts without pandas.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from ._errors import GeminiAPIError, GeminiError, GeminiInterrupted, warn_line
from ._options import Options
from ._row_data import check_template, fill, is_missing, rows_of
from ._send import Pacing, environment_read_once, send_row, widen_pool

if TYPE_CHECKING:
    from ._api import Host
    from ._display import ViewFactory
    from ._prepare import Call

__all__ = [
    "DEFAULT_OUT",
    "RowRequests",
    "RowResult",
    "generate_each",
    "result_table",
    "row_result",
    "run_each",
]

DEFAULT_OUT = "_gemini_table"
STOP_AFTER = 5  # identical 4xx errors in a row that stop the job
LARGE_JOB = 100_000  # rows from which the time the job will take is said before it starts
ASSUMED_SECONDS = 2.0  # per request, for that estimate when there is no --rpm
SLICE = 0.1  # seconds the main thread waits at a time, so Ctrl-C lands at once
_MARK = "\x00row\x00"  # where a row's prompt goes in what --context/--code/--fix add around it


@dataclass
class RowResult:
    """What one row got back: the answer (or the parsed ``--schema`` values) and what it cost."""

    answer: str | None = None
    values: dict[str, Any] | None = None  # --schema: the answer's top-level properties
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    error: str | None = None  # None, or one line saying why the row has no answer
    cached: bool = False
    failure: GeminiError | None = field(default=None, repr=False, compare=False)  # what *error* says


class RowRequests:
    """Checked rows and how to build each one's request (``--batch`` builds its job from these too)."""

    def __init__(self, host: Host, options: Options, template: str, data: Any) -> None:
        from ._api import compose_prompt

        if options.chat or options.run_tools:
            raise UsageError("--each asks about each row on its own: --chat and --run-tools do not apply")
        if options.speech or options.speakers or (options.candidates or 1) > 1:
            raise UsageError(
                "--each fills a table with one text answer a row: --speech, --speakers and --candidates do not apply"
            )
        self.index, self.rows = rows_of(data)
        name = options.each or "rows"
        if not self.rows:
            raise UsageError(f"--each {name}: the table is empty; nothing was sent")
        cache = True if options.cache is None else options.cache  # a job is resumable by default
        self.options = replace(options, stream=False, cache=cache)
        self.host = host
        self.namespace = host.namespace if options.interpolate else {}
        used = check_template(template, list(self.rows[0]), self.namespace)
        self.missing = sum(any(is_missing(row[c]) for c in used) for row in self.rows)
        self.template = template
        self.settings = host.settings(self.options)
        around = compose_prompt(host, replace(self.options, interpolate=False), _MARK)  # --context, --code, --fix
        self._before, self._after = around.split(_MARK, 1)
        self.properties = schema_properties(self.options, host.namespace)
        self.url = self.call(0).url  # a bad option, schema or attachment is one line now, before anything is sent

    def prompt(self, position: int) -> str:
        """Row *position*'s prompt as sent."""
        text = fill(self.template, self.rows[position], self.index[position], self.namespace)
        return f"{self._before}{text}{self._after}"

    def call(self, position: int) -> Call:
        """Row *position*'s request (a row that holds the API key is a ``UsageError``)."""
        from ._prepare import prepare

        return prepare(self.options, self.prompt(position), self.host.namespace, [], self.settings, self.host.client)

    def notes(self) -> list[str]:
        """What the user should know about the data before it is sent."""
        if not self.missing:
            return []
        rows = "row has" if self.missing == 1 else "rows have"
        return [f"{self.missing:,} {rows} empty (NaN/None) cells in the template's columns, sent as empty"]


def schema_properties(options: Options, namespace: Mapping[str, Any]) -> list[str] | None:
    """The top-level properties of ``--schema``: the table's columns in place of ``answer``."""
    if options.schema is None:
        return None
    from ._prepare import _schema

    schema = _schema(options, namespace) or {}
    properties = schema.get("properties")
    return [str(name) for name in properties] if isinstance(properties, dict) else []


# ------------------------------------------------------------------------------------------ sending


def row_result(data: dict[str, Any], options: Options, properties: list[str] | None, cached: bool = False) -> RowResult:
    """A row's result from its ``generateContent`` response, judged as a cell's answer is."""
    from ._call import _judge
    from ._response import ResponseAccumulator

    accumulator = ResponseAccumulator()
    try:
        accumulator.add(data)
    except GeminiError as exc:
        return RowResult(error=str(exc), cached=cached)
    response = accumulator.result()
    usage = response.usage
    failure = _judge(response, False, options.max_tokens, [])
    result = RowResult(
        answer=response.text,
        finish_reason=response.finish_reason,
        input_tokens=usage.get("promptTokenCount"),
        output_tokens=(usage.get("candidatesTokenCount") or 0) + (usage.get("thoughtsTokenCount") or 0)
        if usage
        else None,
        error=str(failure) if failure is not None else None,
        cached=cached,
    )
    if properties is not None and failure is None:
        try:
            parsed = response.parsed
        except ValueError as exc:
            parsed, result.error = None, str(exc)
        if isinstance(parsed, dict):
            result.values = parsed
        elif result.error is None:
            result.error = "the answer is not a JSON object; see the answer column"
    return result


class _Job:
    """The workers of one ``--each`` run and what they share."""

    def __init__(self, host: Host, requests: RowRequests, progress: Any) -> None:
        from ._limiter import Limiter
        from ._log import JobLog

        self.host, self.requests, self.progress = host, requests, progress
        self.log = JobLog()  # the rows' log entries, written a second at a time
        self.options = requests.options
        self.limiter = Limiter(self.options.rpm)
        self.stop = threading.Event()
        self.done = threading.Event()
        self.results: list[RowResult | None] = [None] * len(requests.rows)
        self.fatal: BaseException | None = None
        self.closed = False
        self._lock = threading.Lock()
        self._positions = iter(range(len(requests.rows)))
        self._workers = min(self.options.concurrency, len(requests.rows))
        self._streak: tuple[str, int] = ("", 0)  # the last 4xx and how many times in a row
        widen_pool(host.client, self._workers)

    def run(self) -> None:
        """Start the workers and wait for them in short slices (Ctrl-C raises here, at once)."""
        with environment_read_once(self.host.client.session, self.requests.url):
            for number in range(self._workers):
                threading.Thread(target=self._work, name=f"gemini-magic-each-{number}", daemon=True).start()
            while not self.done.wait(SLICE):
                pass

    def _work(self) -> None:
        try:
            with self.log.attached():
                self._take_rows()
        except BaseException as exc:  # noqa: BLE001 - a worker's failure stops the job and is raised by run_each
            self._fail(exc)
        finally:
            with self._lock:
                self._workers -= 1
                if not self._workers:
                    self.done.set()

    def _take_rows(self) -> None:
        while not self.stop.is_set():
            with self._lock:
                position = next(self._positions, None)
            if position is None:
                return
            result = self._row(position)
            if result is not None:
                self._finished(position, result)

    def _row(self, position: int) -> RowResult | None:
        requests, options = self.requests, self.options
        try:
            call = requests.call(position)
        except UsageError as exc:  # e.g. this row's text holds the API key
            return RowResult(error=str(exc))
        body = call.body()
        cache = call.cache
        key = cache.key(call.url, body) if cache else ""
        cached = cache.get(key) if cache else None
        if cached is not None:
            return row_result(cached, options, requests.properties, cached=True)
        if not call.settings.api_key:
            from ._settings import no_key_error

            raise no_key_error(call.settings.key_vars)
        started = time.time()
        try:
            pacing = Pacing(self.limiter, self.stop, self.progress.retry)
            data = send_row(self.host.client, call.url, body, call.settings, pacing)
        except GeminiError as exc:
            self._log(call, body, {}, exc, started)
            exc.__traceback__ = None  # its frames hold the request; the row keeps only the error
            return RowResult(error=str(exc), failure=exc)
        if data is None:
            return None
        result = row_result(data, options, requests.properties)
        self._log(call, body, data, None, started)
        if cache is not None and result.error is None:
            cache.put(key, data)  # also after a Ctrl-C: a re-run will not send it again
        return result

    def _log(self, call: Call, body: dict[str, Any], data: dict[str, Any], error: GeminiError | None, t: float) -> None:
        from ._exchange import _log

        _log(call, body, data, error, t, False)

    def _finished(self, position: int, result: RowResult) -> None:
        with self._lock:
            if self.closed:
                return
            self.results[position] = result
            self._count_error(result.failure)
        self.progress.advance(
            tokens_in=result.input_tokens or 0,
            tokens_out=result.output_tokens or 0,
            error=result.error is not None,
            answer=result.answer if result.error is None else None,
        )

    def _count_error(self, failure: GeminiError | None) -> None:
        """Five identical 4xx in a row: every other row would get it too, so stop paying for them."""
        if not (isinstance(failure, GeminiAPIError) and 400 <= failure.code < 500):
            self._streak = ("", 0)
            return
        last, count = self._streak
        self._streak = (str(failure), count + 1 if str(failure) == last else 1)
        if self._streak[1] >= STOP_AFTER and self.fatal is None:
            self.fatal = failure
            self.stop.set()

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            if self.fatal is None:
                self.fatal = exc
        self.stop.set()

    def close(self) -> list[RowResult | None]:
        """Stop the workers (an answer in flight still reaches the cache) and take the results."""
        self.stop.set()
        self.log.close()
        with self._lock:
            self.closed = True
            return list(self.results)


# ------------------------------------------------------------------------------------------- result


def result_table(
    data: Any, index: list[Any], results: list[RowResult | None], options: Options, properties: list[str] | None = None
) -> Any:
    """The job's table: a DataFrame with the data's index (``--into COL``: a copy of the data with
    the columns added), or a list of dicts without pandas. A row never answered has no values."""
    answer = options.into or "answer"
    columns: dict[str, list[Any]] = {}
    if properties is None:
        columns[answer] = [r.answer if r else None for r in results]
    else:
        for name in properties:
            columns[name] = [(r.values or {}).get(name) if r else None for r in results]
    columns["finish_reason"] = [r.finish_reason if r else None for r in results]
    columns["input_tokens"] = [r.input_tokens if r else None for r in results]
    columns["output_tokens"] = [r.output_tokens if r else None for r in results]
    columns["error"] = [r.error if r else None for r in results]
    try:
        pandas: Any = importlib.import_module("pandas")  # optional, and untyped
    except ImportError:
        originals = rows_of(data)[1] if options.into else [{} for _ in results]
        return [{**row, **{c: v[i] for c, v in columns.items()}} for i, row in enumerate(originals)]
    labels = data.index if isinstance(data, pandas.DataFrame | pandas.Series) else pandas.Index(index)
    for name in ("input_tokens", "output_tokens"):
        columns[name] = pandas.array(columns[name], dtype="Int64")
    table = pandas.DataFrame(columns, index=labels)
    if not options.into:
        return table
    base = data.to_frame() if isinstance(data, pandas.Series) else data
    base = base.copy() if isinstance(base, pandas.DataFrame) else pandas.DataFrame(rows_of(data)[1], index=labels)
    for name in table.columns:
        base[name] = table[name].to_numpy()
    return base


def _summary(progress: Any, results: list[RowResult | None], notes: list[str]) -> str:
    """The progress view's summary line, with how many rows the cache answered and the notes."""
    cached = sum(r is not None and r.cached for r in results)
    line = progress.summary() + (f" · {cached:,} from the cache" if cached else "")
    return "; ".join([line, *notes])


def _estimate(rows: int, options: Options) -> str:
    """How long *rows* requests take at ``--rpm`` (or with the workers and a guessed latency)."""
    if options.rpm:
        per_second, how = options.rpm / 60, f"--rpm {options.rpm:g}"
    else:
        per_second, how = options.concurrency / ASSUMED_SECONDS, f"{options.concurrency} at once, ~2 s each"
    hours = rows / per_second / 3600
    return (
        f"{rows:,} rows at {how} take about {hours:,.1f} h; --batch sends them as one job at half the price "
        "(stop with Ctrl-C, re-run to resume)"
    )


def run_each(host: Host, options: Options, template: str, data: Any, new_view: ViewFactory) -> Any:
    """``%%gemini --each``: answer every row, keep the table in ``-o`` (also a partial one), return it.

    Ctrl-C raises :class:`GeminiInterrupted` and a job stopped by repeated errors its
    :class:`GeminiAPIError`, each with the table of the finished rows in ``error.response``.
    """
    from ._progress import JobProgress, table_summary_bundles

    requests = RowRequests(host, options, template, data)
    notes = requests.notes()
    rows = len(requests.rows)
    if options.dry_run:
        from ._bundles import dry_run_bundle
        from ._display import show

        call, settings = requests.call(0), requests.settings
        note = f"the first of {rows:,} rows; each row is one such request"
        show(dry_run_bundle(call.url, settings.auth_header(), settings.masked_key(), call.body(), note))
        return None
    if rows >= LARGE_JOB and not options.batch:
        warn_line(f"gemini-magic: {_estimate(rows, requests.options)}")
    if notes:
        warn_line(f"gemini-magic: {notes[0]}")
    failure: BaseException | None = None
    with JobProgress(rows, f"{requests.settings.model} · {rows:,} rows", new_view) as progress:
        job = _Job(host, requests, progress)
        try:
            job.run()
        except KeyboardInterrupt:
            failure = GeminiInterrupted()
        except BaseException:
            job.close()  # stop the workers and the log's flush thread before the error goes up
            raise
        results = job.close()
        failure = failure or job.fatal
        table = result_table(data, requests.index, results, requests.options, requests.properties)
        out = options.out or DEFAULT_OUT
        if isinstance(host.namespace, MutableMapping):
            host.namespace[out] = table
        summary = _summary(progress, results, notes)
        if isinstance(failure, GeminiInterrupted):
            done = sum(r is not None for r in results)
            failure = GeminiInterrupted(
                f"stopped by the user: the {done:,} finished rows of {rows:,} are kept in {out}; "
                "run the cell again to send only the rest"
            )
        elif failure is not None:
            summary += f"; stopped: {failure}"
        if hasattr(table, "attrs"):
            table.attrs["summary"] = summary
        progress.finish(table_summary_bundles(table, summary))
    if failure is not None:
        if isinstance(failure, GeminiError):
            failure.response = table
        failure.__context__ = failure.__cause__ = None
        raise failure.with_traceback(None)
    return table


def generate_each(
    rows: Any,
    template: str,
    *,
    display: bool = False,
    concurrency: int = 8,
    rpm: float | None = None,
    into: str | None = None,
    **options: Any,
) -> Any:
    """Ask once per row and return the answers as a table (a DataFrame, or a list of dicts without pandas).

    *rows* is a DataFrame, a Series, a list of strings or a list of dicts; *template* is a prompt in
    which ``{column}`` (or ``{row.column}``, ``{index}``) is filled in from each row::

        from gemini_magic import generate_each
        table = generate_each(df, "Classify this ticket as bug, question or praise: {text}", temperature=0)
        table["answer"].value_counts()

    Options are :func:`~gemini_magic.generate`'s (``schema=`` gives one column per property);
    ``concurrency`` requests go at once, at most ``rpm`` per minute; ``into="label"`` returns a copy
    of *rows* with the answers added as ``label``. Answers are cached (``cache=False`` turns it
    off), so calling again after a failure or Ctrl-C sends only the missing rows. A job that stops
    raises (:class:`GeminiInterrupted`, :class:`GeminiAPIError`) with the finished rows' table in
    ``error.response``.
    """
    from ._api import _ScriptHost, _shell, option_argv
    from ._display import SilentView, view_factory
    from ._options import parse_argv

    namespace: dict[str, Any] = {}
    keywords = {**options, "each": "rows", "concurrency": concurrency, "rpm": rpm, "into": into}
    parsed = parse_argv(option_argv(keywords, namespace))
    if parsed.out or parsed.dry_run:
        raise UsageError("generate_each() returns the table: out= and dry_run= are the magic's options")
    if "interpolate" not in options:
        parsed = replace(parsed, interpolate=False)  # a script formats its own strings; the rows still fill in
    new_view = view_factory(_shell()) if display else SilentView
    return run_each(_ScriptHost(namespace), parsed, template, rows, new_view)
