"""The progress of a job over many rows (``--each``, ``embed``, ``--batch``): one live view, not one output per row.

* Under a Jupyter kernel: one ipywidgets ``HTML`` — a bar, then done/total, rows/s, ETA, tokens
  in/out, retries, errors, a status note ("batch RUNNING"), then the last three answers, each cut to
  one line.
* In a terminal (terminal IPython, scripts): one line on stderr, rewritten in place with ``\\r``,
  without control characters (a status may quote the server).
* Nothing at all for ``generate_each(display=False)`` (``_display.SilentView``).

Workers call :meth:`JobProgress.advance` from their threads: it only counts, under a lock. A ticker
thread renders at most 5 times a second (and once a second while nothing changes, so rows/s and the
ETA keep moving). :meth:`JobProgress.finish` replaces the live view with static outputs — a summary
line and the first rows as a table (:func:`table_summary_bundles`) — then empties the widget's
value, closes it and lets go of the layout and style shared with the live views (closed with the
last of them): nothing stays open in the kernel, and the state a notebook may still save is small
and holds no answer text. As a context manager the view always ends: on an exception a static
"stopped at 120/2000 rows …" line takes its place and the exception goes on unchanged.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import math
import shutil
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from ._bundles import Bundle, note_bundle, table_bundle
from ._citations import _clip
from ._display import TerminalView, ViewFactory, WidgetView, show, show_live, view_factory
from ._errors import printable
from ._markdown import markdown_text
from ._sanitize import sanitize
from ._widget_models import shared_models

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["JobProgress", "Snapshot", "progress_factory", "table_summary_bundles"]

UPDATE_INTERVAL = 0.2  # seconds between renders: at most 5 updates a second
REFRESH = 1.0  # re-render this often while nothing changes (elapsed time, rate, ETA)
RATE_WINDOW = 10.0  # rows/s is measured over this many recent seconds (a burst of cached rows fades)
ANSWERS_SHOWN = 3
ANSWER_CHARS = 160  # of each recent answer, on one line
CELL_CHARS = 80  # of each table cell in the static output
TABLE_ROWS = 10
BAR_WIDTH = 20  # characters of the terminal bar
WIDGET_BAR = 40  # … and of the widget's
BAR_COLOUR = "var(--jp-brand-color1, #1976d2)"  # the front end's theme decides, with a fallback for exports
TRACK_COLOUR = "var(--jp-layout-color3, #bdbdbd)"


@dataclass(frozen=True)
class Snapshot:
    """The counts at one moment, as the views render them."""

    total: int
    done: int = 0
    errors: int = 0
    retries: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    elapsed: float = 0.0
    rate: float = 0.0  # rows per second, 0 until one row is done
    status: str = ""
    answers: tuple[str, ...] = ()

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate (None while the rate is unknown)."""
        if self.done >= self.total:
            return 0.0
        return (self.total - self.done) / self.rate if self.rate > 0 else None

    def counts(self) -> str:
        """``120/2,000 rows (6 %) · 7.9 rows/s · ETA 3 min 58 s · tokens 1,200 in / 800 out · 0 retries · 1 error``."""
        percent = 100 * self.done // self.total if self.total else 100
        eta = "?" if self.eta is None else duration(self.eta)
        return " · ".join(
            [
                f"{self.done:,}/{self.total:,} rows ({percent} %)",
                f"{_rate(self.rate)} rows/s",
                f"ETA {eta}",
                *self.tail(),
            ]
        )

    def bar(self, width: int) -> int:
        """How many of a bar's *width* cells are done."""
        return width * self.done // self.total if self.total else width

    def tail(self) -> list[str]:
        """Tokens, retries and errors: what every line ends with."""
        return [
            f"tokens {self.tokens_in:,} in / {self.tokens_out:,} out",
            f"{self.retries} {'retry' if self.retries == 1 else 'retries'}",
            f"{self.errors:,} {'error' if self.errors == 1 else 'errors'}",
        ]

    def summary(self) -> str:
        """The line left when the job is over: ``2,000 rows in 4 min 12 s · 7.9 rows/s · tokens … · 1 error``."""
        overall = self.done / self.elapsed if self.elapsed > 0 else 0.0
        head = f"{self.done:,} rows" if self.done == self.total else f"{self.done:,}/{self.total:,} rows"
        return " · ".join([f"{head} in {duration(self.elapsed)}", f"{_rate(overall)} rows/s", *self.tail()])


def duration(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``3 min 58 s``, ``2 h 05 min``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _rate(rate: float) -> str:
    return f"{rate:.1f}" if rate < 100 else f"{rate:,.0f}"


class JobProgress:
    """One job's live progress; thread-safe counters, rendered by a ticker thread at most 5 times a second.

    ``with JobProgress(len(rows), "gemini-3-flash-preview", new_view) as progress:`` then, per
    finished row (or batch of rows), ``progress.advance(tokens_in=…, tokens_out=…, answer=…)``;
    ``progress.retry()`` after a retry or a 429, ``progress.status("batch RUNNING")`` for a note,
    and ``progress.finish(table_summary_bundles(result, progress.summary()))`` at the end. *new_view*
    is what the magic passes on (``_display.view_factory(shell)`` or ``SilentView``): it picks widgets,
    the terminal line or nothing.
    """

    def __init__(self, total: int, label: str, new_view: ViewFactory) -> None:
        self.total = max(0, total)
        self.label = label
        self.finished = False
        self._surface = _surface_for(new_view, label, self.total)
        self._lock = threading.Lock()
        self._done = self._errors = self._retries = self._tokens_in = self._tokens_out = 0
        self._answers: deque[str] = deque(maxlen=ANSWERS_SHOWN)
        self._status = ""
        self._changes = 0  # counts every change, so the ticker knows whether to render
        self._rendered = -1
        self._started = time.monotonic()
        self._samples: deque[tuple[float, int]] = deque([(self._started, 0)])
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """End the view: the summary line if :meth:`finish` was not called, "stopped at …" on an error."""
        if self.finished:
            return
        if exc_info[1] is None:
            self.finish([])
            return
        with contextlib.suppress(Exception):  # the error already on its way out is the one to report
            self._stop_ticker()
            self.finished = True
            snap = self.snapshot()
            self._surface.stop(snap, f"stopped at {snap.summary()}")

    def start(self) -> None:
        """Show the view with 0/total and start the ticker (the ``with`` statement calls it)."""
        self._started = time.monotonic()
        self._samples = deque([(self._started, 0)])
        if not self._surface.live:
            return
        self._rendered = self._changes
        self._surface.open(self.snapshot())
        self._ticker = threading.Thread(target=self._tick, name="gemini-magic-progress", daemon=True)
        self._ticker.start()

    def advance(
        self, n: int = 1, *, tokens_in: int = 0, tokens_out: int = 0, error: bool = False, answer: str | None = None
    ) -> None:
        """Count *n* finished rows (called by the workers, from their threads; cheap: no rendering here)."""
        with self._lock:
            self._done += n
            self._tokens_in += tokens_in
            self._tokens_out += tokens_out
            if error:
                self._errors += n
            if answer:
                self._answers.append(answer[: 2 * ANSWER_CHARS])  # bounded: only the start is shown
            self._changes += 1

    def retry(self) -> None:
        """Count a retry (a 429 pause or a retried 5xx)."""
        with self._lock:
            self._retries += 1
            self._changes += 1

    def status(self, text: str) -> None:
        """Show a note after the counts, e.g. ``"batch RUNNING"`` or ``"429: every worker waits 30 s"``."""
        with self._lock:
            self._status = text
            self._changes += 1

    def snapshot(self) -> Snapshot:
        """The counts now, with rows/s over the last ``RATE_WINDOW`` seconds."""
        now = time.monotonic()
        with self._lock:
            samples = self._samples
            if now - samples[-1][0] >= UPDATE_INTERVAL / 4:  # bounded, however often this is called
                samples.append((now, self._done))
            while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW:
                samples.popleft()
            since, then = samples[0]
            rate = (self._done - then) / (now - since) if now > since else 0.0
            return Snapshot(
                self.total,
                self._done,
                self._errors,
                self._retries,
                self._tokens_in,
                self._tokens_out,
                now - self._started,
                rate,
                self._status,
                tuple(self._answers),
            )

    def summary(self) -> str:
        """The summary line for :func:`table_summary_bundles`: rows, time, rows/s, tokens, retries, errors."""
        return self.snapshot().summary()

    def finish(self, bundles: list[Bundle]) -> None:
        """Stop updating and leave *bundles* in the view's place (the summary line when empty)."""
        self._stop_ticker()
        self.finished = True
        snap = self.snapshot()
        self._surface.close(snap, bundles or [_summary_bundle(snap.summary())])

    def _render(self) -> None:
        changes = self._changes
        self._surface.render(self.snapshot())
        self._rendered = changes

    def _tick(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(UPDATE_INTERVAL):
            now = time.monotonic()
            if self._changes != self._rendered or now - last >= REFRESH:
                self._render()
                last = now

    def _stop_ticker(self) -> None:
        self._stop.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(timeout=2)


def progress_factory(shell: Any) -> Callable[[int, str], JobProgress]:
    """``(total, label) → JobProgress``: widgets under a Jupyter kernel, the stderr line elsewhere."""
    return partial(JobProgress, new_view=view_factory(shell))


class _Surface:
    """Where the counts go; this base shows nothing (``SilentView``)."""

    live = False

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total

    def open(self, snap: Snapshot) -> None:
        """Show the view with *snap* (0/total)."""

    def render(self, snap: Snapshot) -> None:
        """Show *snap* (from the ticker thread, at most 5 times a second)."""

    def close(self, snap: Snapshot, bundles: list[Bundle]) -> None:
        """Replace the view with *bundles*."""

    def stop(self, snap: Snapshot, message: str) -> None:
        """End the view after an error with *message*."""


class _Widgets(_Surface):
    """One ``HTML`` widget (the bar drawn in it; the layout and style shared with the answers' live
    views, :mod:`._widget_models`: a lean saved state), replaced by the static outputs at the end."""

    live = True

    def open(self, snap: Snapshot) -> None:
        import ipywidgets

        self._html = ipywidgets.HTML(**shared_models.acquire())
        self._html.add_class("gemini-progress")
        self._value = ""
        self.render(snap)
        self._handle = show_live(self._html)

    def render(self, snap: Snapshot) -> None:
        filled = snap.bar(WIDGET_BAR)
        status = f" — <i>{html.escape(_line(snap.status, ANSWER_CHARS))}</i>" if snap.status else ""
        answers = "".join(f"<li>{html.escape(_line(a, ANSWER_CHARS))}</li>" for a in snap.answers)
        value = sanitize(
            f'<div class="gemini-magic"><span style="color: {BAR_COLOUR}">{"█" * filled}</span>'
            f'<span style="color: {TRACK_COLOUR}">{"█" * (WIDGET_BAR - filled)}</span><br>'
            f"<b>{html.escape(self.label)}</b> · {html.escape(snap.counts())}{status}"
            + (f"<ul>{answers}</ul>" if answers else "")
            + "</div>"
        )
        if value != self._value:
            self._value = self._html.value = value

    def close(self, snap: Snapshot, bundles: list[Bundle]) -> None:
        try:
            (data, metadata), *rest = bundles
            self._handle.update(data, raw=True, metadata=metadata)
            for bundle in rest:
                show(bundle)
        finally:  # no widget's saved state keeps answer text, and no model stays open
            self._html.value = ""
            self._html.close()
            shared_models.release()

    def stop(self, snap: Snapshot, message: str) -> None:
        self.close(snap, [note_bundle(message)])


class _Terminal(_Surface):
    """One line on stderr, rewritten with ``\\r``; the static outputs as text on stdout at the end."""

    live = True

    def open(self, snap: Snapshot) -> None:
        self._width = 0  # of the line on screen, so a shorter one can blank its end
        self.render(snap)

    def render(self, snap: Snapshot) -> None:
        filled = snap.bar(BAR_WIDTH)
        bar = "█" * filled + "░" * (BAR_WIDTH - filled)
        status = f" · {_line(snap.status, ANSWER_CHARS)}" if snap.status else ""
        line = f"{_line(self.label, 60)} {bar} {snap.counts()}{status}"
        line = line[: max(20, shutil.get_terminal_size((120, 24)).columns - 1)]
        sys.stderr.write("\r" + line + " " * max(0, self._width - len(line)))
        sys.stderr.flush()
        self._width = len(line)

    def close(self, snap: Snapshot, bundles: list[Bundle]) -> None:
        self._end(snap)
        for data, _ in bundles:
            if data.get("text/plain"):
                sys.stdout.write(printable(data["text/plain"]) + "\n")
        sys.stdout.flush()

    def stop(self, snap: Snapshot, message: str) -> None:
        self._end(snap)
        sys.stderr.write(printable(message) + "\n")
        sys.stderr.flush()

    def _end(self, snap: Snapshot) -> None:
        """The final numbers, then a new line."""
        self.render(snap)
        sys.stderr.write("\n")
        sys.stderr.flush()


def _surface_for(new_view: ViewFactory, label: str, total: int) -> _Surface:
    kind = new_view if isinstance(new_view, type) else None
    if kind is not None and issubclass(kind, WidgetView):
        return _Widgets(label, total)
    if kind is not None and issubclass(kind, TerminalView):
        return _Terminal(label, total)
    return _Surface(label, total)


def _summary_bundle(summary: str) -> Bundle:
    return {
        "text/plain": printable(summary),
        "text/html": sanitize(f'<div class="gemini-magic"><p>{html.escape(summary)}</p></div>'),
        "text/markdown": markdown_text(summary),
    }, {}


def table_summary_bundles(result: Any, summary: str) -> list[Bundle]:
    """The static output of a job: *summary*, then the first ``TABLE_ROWS`` rows of *result* as a table.

    *result* is a pandas DataFrame (its index is the first column) or a list of dicts (the columns in
    order of first appearance). Cells are cut to one line of ``CELL_CHARS``; the HTML is sanitized last,
    the Markdown holds no raw HTML from cells, the text no control characters.
    """
    header, rows, total = _first_rows(result)
    if not header or not rows:
        return [_summary_bundle(f"{summary} (no rows)" if not total else summary)]
    more = f"first {len(rows)} of {total:,} rows" if total > len(rows) else ""
    table, _ = table_bundle(header, rows, more)
    markdown = [
        markdown_text(summary),
        "",
        *_markdown_table(header, rows),
        *(["", markdown_text(more)] if more else []),
    ]
    page = f'<div class="gemini-magic"><p>{html.escape(summary)}</p>{table["text/html"]}</div>'
    return [
        (
            {
                "text/plain": printable(summary) + "\n" + table["text/plain"],
                "text/html": sanitize(page),
                "text/markdown": "\n".join(markdown),
            },
            {},
        )
    ]


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(markdown_text(c) for c in cells) + " |"

    return [line(header), "|" + "---|" * len(header), *(line(row) for row in rows)]


def _first_rows(result: Any) -> tuple[list[str], list[list[str]], int]:
    """Header, the first ``TABLE_ROWS`` rows as one-line strings, and how many rows there are."""
    if hasattr(result, "columns") and hasattr(result, "itertuples"):  # a pandas DataFrame
        head = result.head(TABLE_ROWS)
        header = [str(result.index.name or ""), *(str(c) for c in result.columns)]
        rows = [[_cell(r) for r in row] for row in head.itertuples(index=True, name=None)]
        return [_cell(h) for h in header], rows, len(result)
    first = [dict(row) for row in itertools.islice(result, TABLE_ROWS)]
    columns = list(dict.fromkeys(key for row in first for key in row))
    rows = [[_cell(row.get(c, "")) for c in columns] for row in first]
    return [_cell(c) for c in columns], rows, len(result)


def _cell(value: Any) -> str:
    """A table cell: one line of ``CELL_CHARS`` at most, missing values (None, NaN, ``pd.NA``) empty."""
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    return "" if missing or type(value).__name__ in ("NAType", "NaTType") else _line(str(value), CELL_CHARS)


def _line(text: str, limit: int) -> str:
    """*text* on one line of at most *limit* characters, without control characters."""
    return _clip(printable(text), limit)
