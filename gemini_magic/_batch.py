"""``%%gemini --each VAR --batch``: every row as one job of Google's Batch API, at half the price.

The rows' requests are built exactly as ``--each`` builds them (:mod:`._rows`), each keyed by its
position (``row-17``), and sent as one ``models/{model}:batchGenerateContent``: inline while the
create body stays under 20 MB, else as a JSONL file uploaded through the Files API (:mod:`._files`).
The job is then polled (5 s, backing off to 60 s) with a progress view of its state and counts, and
when it succeeds its results (inline, or a results file streamed line by line) fill the same table
as ``--each``, matched to rows by key, never by order (shared/wire-batch.md).

A job outlives the kernel, so each one submitted is recorded in the cache folder (name, model, rows,
template hash, the data's fingerprint and the options): ``%gemini batch NAME`` reattaches after a
restart and rebuilds the table when the data variable still holds the same rows, or else returns
the results by key alone and says so. ``%gemini batches`` lists the jobs; ``--cancel`` cancels one.

Creating a job is not idempotent (a retried create is a second bill), so it is sent once, without
retries; every server shape is checked before it is read (a wrong type is a ``GeminiStreamError``
naming the field).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shlex
import stat
import time
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from types import GenericAlias
from typing import TYPE_CHECKING, Any, get_type_hints
from urllib.parse import urlencode

from IPython.core.error import UsageError

from ._call import _one_line_errors
from ._errors import (
    GeminiAnswerError,
    GeminiAPIError,
    GeminiConnectionError,
    GeminiInterrupted,
    GeminiStreamError,
    warn_line,
)
from ._options import Options
from ._request import endpoint
from ._shapes import _check, _json_name

if TYPE_CHECKING:
    from ._api import Host
    from ._cache import ResponseCache
    from ._client import GeminiClient
    from ._display import ViewFactory
    from ._magics import GeminiMagic
    from ._rows import RowResult
    from ._settings import Settings

__all__ = ["INLINE_LIMIT", "POLL_DELAYS", "Job", "batch_command", "batches_command", "parse_job", "run_batch"]

#: Seconds between polls: 5 s, doubling, then 60 s for as long as the job runs.
POLL_DELAYS: tuple[float, ...] = (5.0, 10.0, 20.0, 40.0, 60.0)
INLINE_LIMIT = 20_000_000  # bytes of the whole create body; past it the rows go as a JSONL file
RECORDS_FOLDER = "batches"  # inside the cache folder: one small JSON file per job submitted
MAX_RECORDS = 200  # the oldest records past this are deleted
MAX_PAGES = 50  # of %gemini batches
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"})
_WORKING = frozenset({"PENDING", "RUNNING", "UNSPECIFIED"})
_COUNTS = ("requestCount", "successfulRequestCount", "failedRequestCount", "pendingRequestCount")
_GRPC = {1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND"}
_GRPC |= {7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION", 13: "INTERNAL"}
_GRPC |= {14: "UNAVAILABLE", 16: "UNAUTHENTICATED"}
_JOB_ID = re.compile(r"^(?:batches/)?([A-Za-z0-9][A-Za-z0-9_-]{0,127})$")

_STATUS = {"code": int, "message": str}
_ENTRY = {"key": str, "metadata": dict, "response": dict, "error": _STATUS}
_OUTPUT = {"responsesFile": str, "inlinedResponses": {"inlinedResponses": [_ENTRY]}}
_OPERATION = {
    "name": str,
    "done": bool,
    "error": _STATUS,
    "response": _OUTPUT,
    "metadata": {
        "name": str,
        "state": str,
        "displayName": str,
        "model": str,
        "createTime": str,
        "endTime": str,
        "batchStats": dict,
        "output": _OUTPUT,
    },
}


@dataclass(frozen=True)
class Job:
    """One batch job as the last poll saw it (the Operation of wire-batch.md §3, checked)."""

    name: str  # batches/…
    state: str  # PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED, EXPIRED, or what the server said
    display_name: str
    model: str
    created: str
    counts: dict[str, int]  # requestCount, successfulRequestCount, failedRequestCount, pendingRequestCount
    error: dict[str, Any] | None  # the operation's Status when it failed or was cancelled
    output: dict[str, Any]  # inlinedResponses or responsesFile, once done

    @property
    def done(self) -> bool:
        return self.state in TERMINAL

    def status(self, total: int) -> str:
        """``batch RUNNING 120/2000 (3 failed)`` for the progress view."""
        total = self.counts["requestCount"] or total
        finished = self.counts["successfulRequestCount"] + self.counts["failedRequestCount"]
        failed = self.counts["failedRequestCount"]
        unknown = "" if self.state in TERMINAL | _WORKING else " (a state this version does not know; still polling)"
        return f"batch {self.state} {finished}/{total}" + (f" ({failed} failed)" if failed else "") + unknown


def parse_job(operation: Any) -> Job:
    """Check an Operation (create, get, list) and read it; accepts ``BATCH_STATE_*`` and ``JOB_STATE_*``."""
    if not isinstance(operation, dict):
        raise GeminiStreamError(f"malformed batch job: it is {_json_name(operation)}, expected an object")
    _check(operation, _OPERATION, "")
    name = operation.get("name", "")
    if not _JOB_ID.match(name) or not name.startswith("batches/"):
        raise GeminiStreamError(f"malformed batch job: name is {name[:80]!r}, expected 'batches/…'")
    meta = operation.get("metadata", {})
    stats = meta.get("batchStats", {})
    counts = {key: _count(stats.get(key, "0"), key) for key in _COUNTS}
    state = meta.get("state", "BATCH_STATE_UNSPECIFIED").removeprefix("BATCH_STATE_").removeprefix("JOB_STATE_")
    error = operation.get("error")
    if operation.get("done") and state not in TERMINAL:  # done is the last word
        state = "FAILED" if error else "SUCCEEDED"
    output = operation.get("response") or meta.get("output") or {}
    created = meta.get("createTime", "")
    return Job(name, state, meta.get("displayName", ""), meta.get("model", ""), created, counts, error, output)


def _count(value: Any, key: str) -> int:
    """An int64 count: a JSON string of digits (as the API sends it) or a number."""
    if isinstance(value, str) and value.isascii() and value.isdigit():  # not "²", which int() refuses
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise GeminiStreamError(f"malformed batch job: metadata.batchStats.{key} is {_json_name(value)}, expected a count")


# ---------------------------------------------------------------- calls


def _job_url(settings: Settings, name: str, suffix: str = "") -> str:
    return f"{settings.base_url}/v1beta/{name}{suffix}"


def get_job(client: GeminiClient, settings: Settings, name: str) -> Job:
    """``GET /v1beta/batches/{id}``."""
    from ._files import get_object

    return parse_job(get_object(client, settings, _job_url(settings, name)))


def list_jobs(client: GeminiClient, settings: Settings, page_size: int = 100) -> list[Job]:
    """Every page of ``GET /v1beta/batches``."""
    jobs: list[Job] = []
    token = ""
    for _ in range(MAX_PAGES):
        query = {"pageSize": page_size, **({"pageToken": token} if token else {})}
        page = client.get(f"{settings.base_url}/v1beta/batches?{urlencode(query)}", settings)
        _check(page, {"operations": list, "nextPageToken": str}, "")
        jobs += [parse_job(op) for op in page.get("operations", [])]
        token = page.get("nextPageToken", "")
        if not token:
            break
    return jobs


def submit(client: GeminiClient, settings: Settings, bodies: list[dict[str, Any]], display_name: str) -> Job:
    """Create the job: inline under :data:`INLINE_LIMIT`, else through a JSONL upload. Sent once."""
    entries = [{"request": body, "metadata": {"key": f"row-{i}"}} for i, body in enumerate(bodies)]
    create: dict[str, Any] = {"displayName": display_name, "inputConfig": {"requests": {"requests": entries}}}
    if len(json.dumps({"batch": create}, ensure_ascii=False).encode()) >= INLINE_LIMIT:
        from ._files import JSONL_MIME, upload

        lines = (json.dumps({"key": f"row-{i}", "request": body}, ensure_ascii=False) for i, body in enumerate(bodies))
        file = upload(client, settings, "".join(f"{line}\n" for line in lines).encode(), JSONL_MIME, display_name)
        create = {"displayName": display_name, "inputConfig": {"fileName": file["name"]}}
    url = endpoint(settings.base_url, settings.model, stream=False).removesuffix(":generateContent")
    try:
        operation = client.generate(f"{url}:batchGenerateContent", {"batch": create}, replace(settings, max_retries=0))
    except GeminiConnectionError as exc:
        raise GeminiConnectionError(f"{exc} — the job may have been created anyway: see %gemini batches") from None
    return parse_job(operation)


def wait(client: GeminiClient, settings: Settings, job: Job, on_poll: Callable[[Job], None]) -> Job:
    """Poll until *job* ends, backing off along :data:`POLL_DELAYS`; Ctrl-C stops waiting, not the job."""
    polls = 0
    try:
        while not job.done:
            time.sleep(POLL_DELAYS[min(polls, len(POLL_DELAYS) - 1)])
            polls += 1
            job = get_job(client, settings, job.name)
            on_poll(job)
    except KeyboardInterrupt:
        raise _still_running(job.name) from None
    return job


def _still_running(name: str) -> GeminiInterrupted:
    return GeminiInterrupted(
        f"stopped waiting; batch job {name} keeps running: %gemini batch {name} reattaches, "
        f"%gemini batch {name} --cancel cancels it"
    )


def results(client: GeminiClient, settings: Settings, job: Job) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """(key, entry) for each result: inline entries, or the lines of the results file."""
    inline = job.output.get("inlinedResponses")
    if inline is not None:
        for entry in inline.get("inlinedResponses", []):
            yield _key(entry.get("metadata", {}).get("key")), entry
        return
    file = job.output.get("responsesFile")
    if not file:
        raise GeminiStreamError(f"batch job {job.name} succeeded but names no results (no inlinedResponses or file)")
    from ._files import download_lines

    for number, line in enumerate(download_lines(client, settings, file), 1):
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            raise GeminiStreamError(f"line {number} of {file} is not JSON: {line[:80]!r}") from None
        if not isinstance(entry, dict):
            raise GeminiStreamError(f"line {number} of {file} is {_json_name(entry)}, expected an object")
        _check(entry, _ENTRY, f"{file} line {number}")
        yield entry.get("key"), entry


def _key(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def job_failure(job: Job) -> Exception:
    """The one clear line for a job that ended without results."""
    status = job.error or {}
    message = status.get("message", "")
    if job.state == "EXPIRED":
        return GeminiAnswerError(
            f"batch job {job.name} expired: it was still pending or running after 48 h; expired jobs have no results"
        )
    if job.state == "CANCELLED":
        return GeminiAnswerError(f"batch job {job.name} was cancelled; it has no results")
    code = status.get("code", 0)
    return GeminiAPIError(
        code, _GRPC.get(code, ""), f"batch job {job.name} {job.state.lower()}: {message or '(no message)'}"
    )


# ---------------------------------------------------------------- job records (for reattaching)


def _records(settings: Settings) -> ResponseCache:
    """One JSON file per job in ``{cache_dir}/batches``: regular files only, checked sizes, atomic
    writes (the response cache's rules), out of reach of ``%gemini cache clear``."""
    from ._cache import ResponseCache

    return ResponseCache(Path(settings.cache_dir) / RECORDS_FOLDER)


def save_record(settings: Settings, record: dict[str, Any]) -> None:
    """Keep *record* under its job id; past :data:`MAX_RECORDS`, the oldest records go."""
    store = _records(settings)
    store.put(_job_id(record["name"]), record)
    with contextlib.suppress(OSError):
        kept = [p for p in store.folder.glob("*.json") if stat.S_ISREG(p.lstat().st_mode)]
        kept.sort(key=lambda p: p.lstat().st_mtime, reverse=True)
        for old in kept[MAX_RECORDS:]:
            old.unlink()


def load_record(settings: Settings, name: str) -> dict[str, Any] | None:
    """The record of job *name*, or None (never submitted here, or the cache folder was moved)."""
    record = _records(settings).get(_job_id(name))
    return record if record is not None and record.get("name") == name else None


def _job_id(name: str) -> str:
    match = _JOB_ID.match(name)
    if not match:
        raise UsageError(f"{name[:80]!r} is not a batch job name (batches/… as %gemini batches lists them)")
    return match.group(1)


def _option_values(options: Options) -> dict[str, Any]:
    """The options as JSON (strings, numbers, flags and None), to rebuild the table after a restart."""
    values = {f.name: getattr(options, f.name) for f in fields(options)}
    return {k: v for k, v in values.items() if v is None or isinstance(v, str | int | float | bool)}


def _options_of(record: dict[str, Any]) -> Options:
    """The options :func:`_option_values` kept; a value of the wrong type (an edited record) is left out."""
    stored = record.get("options")
    values = {k: v for k, v in (stored if isinstance(stored, dict) else {}).items() if _fits(k, v)}
    return replace(Options(), **values)


def _fits(name: str, value: Any) -> bool:
    kind = _OPTION_TYPES.get(name)
    return kind is not None and not isinstance(kind, GenericAlias) and isinstance(value, kind)


_OPTION_TYPES = get_type_hints(Options)  # str | None, bool, …: what each stored value must be


def fingerprint(rows: Any) -> str:
    """A hash of the rows a job was built from: the same data at reattach rebuilds the same table."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, default=repr, ensure_ascii=False).encode())
    return digest.hexdigest()[:32]


# ---------------------------------------------------------------- %gemini batch, %gemini batches


@_one_line_errors
def batch_command(magic: GeminiMagic, rest: str) -> None:
    """``%gemini batch NAME`` reattaches (polls, then the table in ``_gemini_table``);
    ``%gemini batch NAME --cancel`` cancels."""
    from ._bundles import text_bundle
    from ._display import show

    words = shlex.split(rest)
    if len(words) not in (1, 2) or words[1:] not in ([], ["--cancel"]):
        raise UsageError("usage: %gemini batch NAME [--cancel]")
    name = f"batches/{_job_id(words[0])}"
    record = load_record(magic.settings(Options(), need_key=False), name) or {"name": name}
    options = _options_of(record)  # the cell's -o, schema and so on
    settings = magic.settings(replace(options, base_url=None, auth=None))
    if options.base_url and options.base_url.rstrip("/") != settings.base_url:
        # a record is a file anyone can ship in a cache folder: it never chooses where the key goes
        raise UsageError(
            f"{name} was submitted to {options.base_url!r}; set GeminiMagic.base_url (or GEMINI_BASE_URL) to that "
            "host to reattach to it"
        )
    if words[1:]:
        magic.client.generate(_job_url(settings, name, ":cancel"), {}, settings)
        job = get_job(magic.client, settings, name)
        show(text_bundle(f"Cancel requested for {name}: it is {job.state} now (cancelling is best effort)."))
        return
    variable = record.get("variable")
    data = magic.namespace.get(variable) if isinstance(variable, str) else None
    from ._display import view_factory

    follow(magic, options, get_job(magic.client, settings, name), data, record, view_factory(magic.shell))


@_one_line_errors
def batches_command(magic: GeminiMagic, rest: str) -> None:
    """``%gemini batches``: every job of this key, newest first (also in ``_gemini_batches``)."""
    from ._bundles import table_bundle
    from ._display import show

    if rest.strip():
        raise UsageError("usage: %gemini batches")
    jobs = list_jobs(magic.client, magic.settings(Options()))
    jobs.sort(key=lambda job: job.created, reverse=True)
    magic.namespace["_gemini_batches"] = jobs
    rows = [
        (
            job.name,
            job.state,
            job.display_name,
            job.model.removeprefix("models/"),
            job.created[:19].replace("T", " "),
            f"{job.counts['successfulRequestCount']}/{job.counts['requestCount']}"
            + (f" ({job.counts['failedRequestCount']} failed)" if job.counts["failedRequestCount"] else ""),
        )
        for job in jobs
    ]
    header = ("job", "state", "name", "model", "created (UTC)", "done")
    show(table_bundle(header, rows, f"{len(rows)} batch jobs · %gemini batch NAME reattaches"))


# ---------------------------------------------------------------- --each VAR --batch


@_one_line_errors
def run_batch(host: Host, options: Options, template: str, data: Any, new_view: ViewFactory) -> Any:
    """Submit every row of *data* as one batch job, wait for it, and return ``--each``'s table
    (kept in ``-o``, default ``_gemini_table``; a DataFrame's ``attrs["gemini_batch"]`` is the job name)."""
    from ._rows import RowRequests

    requests = RowRequests(host, options, template, data)
    for note in requests.notes():
        warn_line(f"gemini-magic: {note}")
    settings = requests.settings
    bodies = [requests.call(position).body() for position in range(len(requests.rows))]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    job = submit(host.client, settings, bodies, f"gemini-magic {options.each or 'rows'} {stamp}")
    del bodies
    record = {
        "name": job.name,
        "model": settings.model,
        "created": job.created or stamp,
        "rows": len(requests.rows),
        "template": hashlib.sha256(template.encode()).hexdigest()[:16],
        "data": fingerprint(requests.rows),
        "variable": options.each,
        "options": _option_values(requests.options),
    }
    try:  # the job exists now: Ctrl-C from here on stops waiting, never the job
        save_record(settings, record)
        print(
            f"Batch job {job.name}: {len(requests.rows):,} rows. After a restart: %gemini batch {job.name}", flush=True
        )
        return follow(host, requests.options, job, data, record, new_view)
    except KeyboardInterrupt:
        raise _still_running(job.name) from None


def follow(host: Host, options: Options, job: Job, data: Any, record: dict[str, Any], new_view: ViewFactory) -> Any:
    """Wait for *job* with a progress view, then its results as ``--each``'s table: over *data* when
    it still holds the rows the job was made from, else by key alone (and the summary says so)."""
    from ._progress import JobProgress, table_summary_bundles
    from ._row_data import rows_of
    from ._rows import DEFAULT_OUT, RowResult, result_table

    settings = host.settings(options)
    properties, notes = _properties(host, options)
    index, rows = rows_of(data) if data is not None else ([], [])
    if data is None or record.get("data") != fingerprint(rows):
        notes.append(f"{record.get('variable') or 'the data'} is not the table this job was made from: results by row")
        index, rows, data = [], [], None
    stored = record.get("rows")
    known = len(rows) or (stored if isinstance(stored, int) and stored > 0 else 0)  # rows this kernel knows of
    total = known or job.counts["requestCount"]
    with JobProgress(total, f"batch {job.name}", new_view) as progress:
        progress.status(job.status(total))
        job = wait(host.client, settings, job, lambda polled: progress.status(polled.status(total)))
        if job.state != "SUCCEEDED":
            raise job_failure(job)
        found: dict[int, RowResult] = {}
        entries: Iterable[tuple[str | None, dict[str, Any]]] = results(host.client, settings, job)
        if not known:  # the server's count alone could be anything: one entry a row is what it gave
            entries = list(entries)
            known = len(entries)
        for key, entry in entries:
            position = _position(key)
            if 0 <= position < known:  # a key past the rows ("row-999999999999") is not one of ours
                found[position] = result = _row(entry, options, properties)
                progress.advance(
                    tokens_in=result.input_tokens or 0,
                    tokens_out=result.output_tokens or 0,
                    error=result.error is not None,
                    answer=result.answer,
                )
        if data is None:
            index = list(range(known))
            data = [f"row-{i}" for i in index]
        missing = RowResult(error="no result for this row in the batch output")
        answers: list[RowResult | None] = [found.get(i, missing) for i in range(len(index))]
        table = result_table(data, index, answers, options, properties)
        if hasattr(table, "attrs"):
            table.attrs["gemini_batch"] = job.name
        if isinstance(host.namespace, MutableMapping):
            host.namespace[options.out or DEFAULT_OUT] = table
        summary = "; ".join([f"{progress.summary()} · batch job {job.name} (half price)", *notes])
        progress.finish(table_summary_bundles(table, summary))
    return table


def _properties(host: Host, options: Options) -> tuple[list[str] | None, list[str]]:
    """``--schema``'s properties (the table's columns); after a restart the schema may be gone."""
    from ._rows import schema_properties

    try:
        return schema_properties(options, host.namespace), []
    except UsageError as exc:
        return None, [f"{exc}: the answers are in the answer column as JSON text"]


def _position(key: str | None) -> int:
    """``row-17`` → 17; any other key → -1 (not ours)."""
    number = (key or "").removeprefix("row-")
    return int(number) if (key or "").startswith("row-") and number.isascii() and number.isdigit() else -1


def _row(entry: dict[str, Any], options: Options, properties: list[str] | None) -> RowResult:
    """One result entry as a row of the table: judged as ``--each`` judges an answer."""
    from ._rows import RowResult, row_result

    error = entry.get("error")
    if error is not None:
        code = error.get("code", 0)
        return RowResult(error=f"{code} {_GRPC.get(code, '')}".strip() + f": {error.get('message', '(no message)')}")
    if "response" not in entry:
        return RowResult(error="the batch result holds neither a response nor an error")
    return row_result(entry["response"], options, properties)
