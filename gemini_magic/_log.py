"""The log of every exchange: one SQLite row per request, searchable later with ``%gemini log``.

On by default, as llm's log is, because "what did it say last Tuesday?" is only answerable if it
was kept. ``GeminiMagic.log = False`` stops it, ``GeminiMagic.log_path`` moves it; the default is
``gemini-magic/log.db`` in the user's data folder. SQLite in WAL mode with a busy timeout and one
short transaction per entry (per second for the rows of a job) lets several kernels append at once
without corrupting anything.

Logging only ever records: any failure (a folder that cannot be written, a locked or corrupt
database, a full disk) is one line on stderr and the answer is unaffected. The key never reaches
the log: an entry holds no headers, and the key's text is replaced should a prompt contain it.
Long base64 (images, thought signatures) is stored as its size and every string is capped, so a
2 MB image adds a few hundred bytes, not megabytes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from ._errors import warn_line
from ._options import Options
from ._settings import Settings

if TYPE_CHECKING:
    from ._magics import GeminiMagic

__all__ = ["JobLog", "LogEntry", "current_notebook", "default_log_path", "log_command", "log_path", "record"]

BUSY_TIMEOUT = 5.0  # seconds to wait for another kernel's write; each write takes milliseconds
MAX_TEXT_CHARS = 100_000  # of any one string kept (a prompt, an answer, a pasted file)
MAX_JSON_CHARS = 2_000_000  # of a request or response as stored; more is a note of its size
MAX_ROWS_SHOWN = 1000  # rows of the %gemini log table
DEFAULT_ROWS = 20
SHOWN_CHARS = 60  # of a prompt or an answer in a table cell
USAGE = "usage: %gemini log [-n N] [--search WORDS…] [--export FILE.jsonl]"
_HIDDEN_KEY = "<API key>"
FLUSH_SECONDS = 1.0  # a job's entries wait at most this long (what a crash can lose of its log)
FLUSH_ROWS = 500  # … or until this many wait
FLUSH_CHARS = 16_000_000  # … or until their JSON is this long

_SCHEMA = """
CREATE TABLE IF NOT EXISTS exchanges (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,          -- seconds since the epoch, when the request was sent
    notebook TEXT,               -- the notebook's path when the front end says it
    model TEXT NOT NULL,
    url TEXT NOT NULL,
    prompt TEXT NOT NULL,        -- the last user turn's text, for search
    answer TEXT NOT NULL,        -- the answer's text without thoughts, for search
    tokens_in INTEGER,
    tokens_out INTEGER,          -- answer and thinking tokens
    duration REAL NOT NULL,      -- seconds
    error TEXT,                  -- the one-line error of a failed call
    cached INTEGER NOT NULL,     -- 1: answered from the --cache folder
    request TEXT NOT NULL,       -- the request body as JSON (long base64 as its size)
    response TEXT NOT NULL,      -- the merged, possibly partial, response as JSON
    usage TEXT NOT NULL          -- usageMetadata as JSON
);
CREATE INDEX IF NOT EXISTS exchanges_by_time ON exchanges (time);
"""
_COLUMNS = "time, notebook, model, url, prompt, answer, tokens_in, tokens_out, duration, error, cached"


def current_notebook() -> str | None:
    """The running notebook's path, when the front end tells the kernel: VS Code puts it in the
    namespace (``__vsc_ipynb_file__``), jupyter_server in the environment (``JPY_SESSION_NAME``)."""
    from IPython import get_ipython

    shell = get_ipython()
    namespace = getattr(shell, "user_ns", None) or {}
    for value in (namespace.get("__vsc_ipynb_file__"), os.environ.get("JPY_SESSION_NAME")):
        if isinstance(value, str) and value:
            return value
    return None


@dataclass(frozen=True, kw_only=True)
class LogEntry:
    """One exchange as the log keeps it: no headers, so never the key."""

    time: float  # seconds since the epoch, when the request was sent
    model: str
    url: str
    request: dict[str, Any]  # the body sent
    response: dict[str, Any]  # the merged response, partial if the call failed
    duration: float  # seconds
    usage: dict[str, Any] = field(default_factory=dict)  # empty: the response's usageMetadata
    error: str | None = None
    cached: bool = False
    notebook: str | None = field(default_factory=current_notebook)


def default_log_path() -> Path:
    """``gemini-magic/log.db`` in the user's data folder: ``$XDG_DATA_HOME`` when set, else the
    platform's own (``~/.local/share``, ``~/Library/Application Support``, ``%LOCALAPPDATA%``)."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    if xdg:
        base = Path(xdg)
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    elif sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path.home() / ".local" / "share"
    return base / "gemini-magic" / "log.db"


def log_path(settings: Settings) -> Path:
    """Where this configuration logs: ``GeminiMagic.log_path`` when set, else :func:`default_log_path`."""
    return Path(settings.log_path).expanduser() if settings.log_path else default_log_path()


# ---- writing


def record(settings: Settings, entry: LogEntry) -> None:
    """Append *entry* when logging is on; never raises: a failure is one stderr line. In a worker of
    a job (:meth:`JobLog.attached`) the entry waits in the job's buffer, at most ``FLUSH_SECONDS``."""
    if not settings.log:
        return
    path = log_path(settings)
    try:
        row = _row(entry, settings.api_key)
    except Exception as exc:  # noqa: BLE001 - the log must never fail the call it records
        _not_logged(path, exc)
        return
    job: JobLog | None = getattr(_attached, "job", None)
    if job is None or not job.add(path, row):
        _write(path, [row])


def _write(path: Path, rows: list[tuple[Any, ...]]) -> None:
    """Append *rows* in one transaction (a commit costs ~1 ms, whatever it holds); never raises."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():  # prompts are private: the file (and SQLite's -wal/-shm after it) for the user only
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        with _connect(path) as db:
            db.execute("BEGIN IMMEDIATE")
            if _needs_schema(db):  # a new file; another kernel may have created it since we looked
                for statement in _SCHEMA.split(";")[:-1]:
                    db.execute(statement)
            db.executemany(f"INSERT INTO exchanges ({_COLUMNS}, request, response, usage) VALUES ({_marks(14)})", rows)
            db.execute("COMMIT")
    except Exception as exc:  # noqa: BLE001 - the log must never fail the call it records
        _not_logged(path, exc)


def _not_logged(path: Path, exc: Exception) -> None:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
    warn_line(f"gemini-magic: not logged ({path}: {' '.join(reason.split())})")


_attached = threading.local()  # .job: the JobLog the entries recorded in this thread go to


class JobLog:
    """The log of one job's rows (``--each``): one transaction a second instead of one a row.

    A commit per row cost more kernel CPU than everything else a row does. The workers' entries
    wait here and are written by a flusher thread every ``FLUSH_SECONDS`` (sooner when
    ``FLUSH_ROWS`` or ``FLUSH_CHARS`` are waiting), and by :meth:`close` at the end, so a crash
    loses at most a second of log — never an answer, which the response cache keeps on its own.
    After :meth:`close` (an answer still in flight after Ctrl-C) entries are written one by one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[Path, list[tuple[Any, ...]]] = {}
        self._waiting = 0  # entries in _pending
        self._chars = 0  # their stored JSON, so a job of huge answers cannot fill memory
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self.closed = False

    @contextlib.contextmanager
    def attached(self) -> Iterator[None]:
        """While inside, :func:`record` in this thread buffers its entries here."""
        _attached.job = self
        try:
            yield
        finally:
            _attached.job = None

    def add(self, path: Path, row: tuple[Any, ...]) -> bool:
        """Buffer *row* for *path*; False once closed (the caller writes it itself)."""
        with self._lock:
            if self.closed:
                return False
            self._pending.setdefault(path, []).append(row)
            self._waiting += 1
            self._chars += sum(len(value) for value in row if isinstance(value, str))
            full = self._waiting >= FLUSH_ROWS or self._chars >= FLUSH_CHARS
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_often, name="gemini-magic-log", daemon=True)
                self._flusher.start()
        if full:
            self.flush()
        return True

    def flush(self) -> None:
        """Write what is waiting, one transaction per log file."""
        with self._lock:
            pending, self._pending, self._waiting, self._chars = self._pending, {}, 0, 0
        for path, rows in pending.items():
            _write(path, rows)

    def close(self) -> None:
        """Write the rest; from now on entries are written as they come."""
        with self._lock:
            self.closed = True
        self._stop.set()
        self.flush()

    def _flush_often(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self.flush()


def _needs_schema(db: sqlite3.Connection) -> bool:
    found = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'exchanges'").fetchone()
    return found is None


@contextlib.contextmanager
def _connect(path: Path, *, read_only: bool = False) -> Iterator[sqlite3.Connection]:
    """A connection that waits for other writers and runs in WAL mode (readers never block writers)."""
    target = f"{path.resolve().as_uri()}?mode=ro" if read_only else str(path)
    db = sqlite3.connect(target, timeout=BUSY_TIMEOUT, isolation_level=None, uri=read_only)
    try:
        if not read_only:
            db.execute("PRAGMA journal_mode = WAL")
        yield db
    finally:
        db.close()


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _row(entry: LogEntry, key: str) -> tuple[Any, ...]:
    """The entry as stored: capped, long base64 as its size, the key's text replaced."""
    from ._bundles import shorten_base64

    def clean(text: str) -> str:
        return text.replace(key, _HIDDEN_KEY) if key else text

    def stored(value: dict[str, Any]) -> str:
        text = clean(json.dumps(_capped(shorten_base64(value)), ensure_ascii=False, default=repr))
        if len(text) <= MAX_JSON_CHARS:
            return text
        return json.dumps({"omitted": f"{len(text):,} characters of JSON, over the log's {MAX_JSON_CHARS:,}"})

    usage = entry.usage or entry.response.get("usageMetadata") or {}
    tokens_out = [usage.get(name) for name in ("candidatesTokenCount", "thoughtsTokenCount")]
    outs = [n for n in tokens_out if isinstance(n, int)]
    return (
        entry.time,
        clean(entry.notebook) if entry.notebook else None,
        clean(entry.model),
        clean(entry.url),
        clean(_cut(_prompt_text(entry.request), MAX_TEXT_CHARS)),
        clean(_cut(_answer_text(entry.response), MAX_TEXT_CHARS)),
        usage.get("promptTokenCount") if isinstance(usage.get("promptTokenCount"), int) else None,
        sum(outs) if outs else None,
        entry.duration,
        clean(_cut(entry.error, MAX_TEXT_CHARS)) if entry.error else None,
        int(entry.cached),
        stored(entry.request),
        stored(entry.response),
        stored(usage if isinstance(usage, dict) else {}),
    )


def _capped(value: Any) -> Any:
    """*value* with every string cut to ``MAX_TEXT_CHARS`` (a pasted file must not fill the disk)."""
    if isinstance(value, str):
        return _cut(value, MAX_TEXT_CHARS)
    if isinstance(value, dict):
        return {k: _capped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_capped(v) for v in value]
    return value


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def _texts(parts: Any) -> str:
    if not isinstance(parts, list):
        return ""
    return "\n".join(
        p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
    )


def _prompt_text(request: dict[str, Any]) -> str:
    """The text of the last user turn that has any (after tool rounds, the turn that asked)."""
    contents = request.get("contents")
    for turn in reversed(contents if isinstance(contents, list) else []):
        if isinstance(turn, dict) and turn.get("role", "user") == "user":
            text = _texts(turn.get("parts"))
            if text:
                return text
    return ""


def _answer_text(response: dict[str, Any]) -> str:
    candidates = response.get("candidates")
    first = candidates[0] if isinstance(candidates, list) and candidates else None
    content = first.get("content") if isinstance(first, dict) else None
    return _texts(content.get("parts")) if isinstance(content, dict) else ""


# ---- reading: %gemini log


@dataclass(frozen=True)
class _Query:
    count: int | None = None
    words: tuple[str, ...] = ()
    export: str | None = None


def _parse(rest: str) -> _Query:
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise UsageError(f"{USAGE} ({exc})") from None
    count: int | None = None
    search: list[str] = []
    export = None
    index = 0
    while index < len(words):
        word = words[index]
        value = words[index + 1] if index + 1 < len(words) else None
        if word == "-n" and value is not None and value.isdigit() and 1 <= int(value) <= MAX_ROWS_SHOWN:
            count, index = int(value), index + 2
        elif word == "--export" and value is not None and not value.startswith("-"):
            export, index = value, index + 2
        elif word == "--search":
            index += 1
            while index < len(words) and words[index] not in ("-n", "--search", "--export"):
                search.append(words[index].casefold())
                index += 1
            if not search:
                raise UsageError(f"{USAGE} (--search needs words)")
        else:
            hint = f"-n takes a number from 1 to {MAX_ROWS_SHOWN}" if word == "-n" else f"unexpected {word!r}"
            raise UsageError(f"{USAGE} ({hint})")
    return _Query(count, tuple(search), export)


def _where(db: sqlite3.Connection, query: _Query) -> str:
    """The condition for ``--search``: every word in the prompt or the answer, case-insensitive
    beyond ASCII (SQLite's own ``lower``/``LIKE`` fold ASCII only)."""
    db.create_function("folded", 1, lambda text: (text or "").casefold(), deterministic=True)
    return " AND ".join(["instr(folded(prompt || char(10) || answer), ?) > 0"] * len(query.words)) or "1"


def _select(db: sqlite3.Connection, query: _Query, columns: str, *, newest_first: bool) -> Iterator[tuple[Any, ...]]:
    where = _where(db, query)
    limit = query.count if query.count is not None else (-1 if query.export else DEFAULT_ROWS)
    sql = f"SELECT id, {columns} FROM exchanges WHERE {where} ORDER BY time DESC, id DESC LIMIT ?"
    if not newest_first:  # the newest N, oldest first: an export reads as it happened
        sql = f"SELECT * FROM ({sql}) ORDER BY time, id"
    yield from db.execute(sql, (*query.words, limit))


def log_command(magic: GeminiMagic, rest: str) -> None:
    """``%gemini log [-n N] [--search WORDS…] [--export FILE.jsonl]``: recent exchanges, newest first."""
    from ._bundles import table_bundle, text_bundle
    from ._display import show

    query = _parse(rest)
    settings = magic.settings(Options(), need_key=False)
    path = log_path(settings)
    off = "" if settings.log else " Logging is off (GeminiMagic.log = False)."
    if not path.is_file():
        show(text_bundle(f"The log at {path} is empty.{off}"))
        return
    try:
        with _connect(path, read_only=True) as db:
            if _needs_schema(db):
                show(text_bundle(f"The log at {path} is empty.{off}"))
                return
            total = db.execute("SELECT count(*) FROM exchanges").fetchone()[0]
            found = db.execute(f"SELECT count(*) FROM exchanges WHERE {_where(db, query)}", query.words).fetchone()[0]
            if query.export:
                written = _export(db, query, Path(query.export).expanduser())
                show(text_bundle(f"Wrote {_plural(written)} to {query.export}"))
                return
            rows = [_table_row(row) for row in _select(db, query, _COLUMNS, newest_first=True)]
    except sqlite3.Error as exc:
        raise UsageError(f"could not read the log at {path}: {exc}") from None
    matching = f" matching {' '.join(query.words)!r}" if query.words else ""
    if not rows:
        empty = f"No exchange in the log at {path}{matching}." if total else f"The log at {path} is empty."
        show(text_bundle(empty + off))
        return
    where = f" (of {total:,} in {path})" if query.words else f" in {path}"
    caption = f"{len(rows)} newest of {_plural(found)}{matching}{where}.{off}"
    header = ("when", "model", "prompt", "answer", "tokens", "seconds", "notebook / error")
    show(table_bundle(header, rows, caption))


def _plural(count: int) -> str:
    return f"{count:,} exchange" + ("" if count == 1 else "s")


def _table_row(row: tuple[Any, ...]) -> tuple[str, ...]:
    _, when, notebook, model, _, prompt, answer, tokens_in, tokens_out, duration, error, cached = row
    tokens = f"{tokens_in if tokens_in is not None else '?'}→{tokens_out if tokens_out is not None else '?'}"
    return (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when)),
        model,
        _cell(prompt),
        _cell(answer),
        tokens if tokens_in is not None or tokens_out is not None else "",
        "cached" if cached else f"{duration:.1f}",
        f"⚠ {_cell(error)}" if error else Path(notebook).name if notebook else "",
    )


def _cell(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SHOWN_CHARS else flat[: SHOWN_CHARS - 1] + "…"


def _export(db: sqlite3.Connection, query: _Query, target: Path) -> int:
    """Write the selected entries as JSON Lines, oldest first; returns how many."""
    columns = "time, notebook, model, url, request, response, usage, duration, error, cached"
    written = 0
    try:
        with target.open("w", encoding="utf-8") as out:
            for row in _select(db, query, columns, newest_first=False):
                id_, when, notebook, model, url, request, response, usage, duration, error, cached = row
                entry = LogEntry(
                    time=when,
                    notebook=notebook,
                    model=model,
                    url=url,
                    request=json.loads(request),
                    response=json.loads(response),
                    usage=json.loads(usage),
                    duration=duration,
                    error=error,
                    cached=bool(cached),
                )
                out.write(json.dumps({"id": id_, **asdict(entry)}, ensure_ascii=False) + "\n")
                written += 1
    except OSError as exc:
        raise UsageError(f"could not write {target}: {exc.strerror or exc}") from None
    return written
