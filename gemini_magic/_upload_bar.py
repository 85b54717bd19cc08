"""The progress of one Files API upload: bytes sent, MB/s, then the server's PROCESSING state.

The view kinds are the answer's (``_display.view_factory``): an ipywidgets ``HTML`` bar under a
Jupyter kernel, one ``\\r``-rewritten line on stderr in a terminal, nothing for ``SilentView``
(``generate(display=False)``). It renders from the uploading thread itself, at most 5 times a
second whatever the socket's pace, and at the end leaves one static line in its place (the widget
closed, its saved state empty), so a saved notebook shows "uploaded …" instead of "Loading widget…".
"""

from __future__ import annotations

import html
import shutil
import sys
import time
from typing import TYPE_CHECKING, Any

from ._display import TerminalView, ViewFactory, WidgetView, show_live
from ._errors import printable
from ._progress import BAR_COLOUR, BAR_WIDTH, TRACK_COLOUR, WIDGET_BAR, duration
from ._sanitize import sanitize

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["UPDATE_INTERVAL", "UploadBar", "megabytes"]

UPDATE_INTERVAL = 0.2  # seconds between renders: at most 5 a second


def megabytes(size: int) -> str:
    """``0.4 MB``, ``12 MB``, ``1,536 MB``."""
    mb = size / 1e6
    return f"{mb:.1f} MB" if mb < 10 else f"{mb:,.0f} MB"


class UploadBar:
    """``with UploadBar("lecture.mp4", size, new_view) as bar: bar.sent(n) … bar.status("PROCESSING")``;
    :meth:`done` leaves the closing line (an error leaves "stopped at …" instead)."""

    def __init__(self, label: str, total: int, new_view: ViewFactory | None) -> None:
        self.label = printable(label)[:80]
        self.total = max(total, 1)
        self.renders = 0  # how many times the view was drawn (the tests count them)
        self._kind = new_view if isinstance(new_view, type) else None
        self._sent = 0
        self._note = ""
        self._started = time.monotonic()
        self._last = float("-inf")
        self._width = 0
        self._html: Any = None
        self._handle: Any = None

    def __enter__(self) -> Self:
        if self._kind is not None and issubclass(self._kind, WidgetView):
            import ipywidgets

            self._html = ipywidgets.HTML()
            self._html.add_class("gemini-progress")
            self._render()
            self._handle = show_live(self._html)
        else:
            self._render()
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if self._html is not None or self._width:
            at = (
                f"at {self._percent()} %"
                if self._percent() < 100
                else f"after the upload ({self._note or 'finishing'})"
            )
            self.done(f"↑ {self.label}: stopped {at}")

    def sent(self, count: int) -> None:
        """*count* bytes of the file are sent (called per socket write: renders are throttled here)."""
        self._sent = count
        if time.monotonic() - self._last >= UPDATE_INTERVAL:
            self._render()

    def status(self, note: str) -> None:
        """A note after the counts (``PROCESSING 12 s``, ``resuming at 60 %``), throttled like the rest."""
        self._note = note
        if time.monotonic() - self._last >= UPDATE_INTERVAL:
            self._render()

    def done(self, message: str) -> None:
        """Replace the bar with *message*: the static line that stays."""
        line = printable(message)
        if self._html is not None:
            widget, self._html = self._html, None
            try:
                page = f'<div class="gemini-magic"><p><small>{html.escape(line)}</small></p></div>'
                if self._handle is not None:
                    self._handle.update({"text/plain": line, "text/html": sanitize(page)}, raw=True)
            finally:
                widget.value = ""
                for model in (widget, widget.layout, widget.style):
                    model.close()
        elif self._width:
            self._write(line)
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._width = 0

    def _percent(self) -> int:
        return min(100, 100 * self._sent // self.total)

    def _counts(self) -> str:
        elapsed = time.monotonic() - self._started
        rate = f" · {megabytes(int(self._sent / elapsed))}/s" if elapsed > 0.05 and self._sent else ""
        note = f" · {self._note}" if self._note else ""
        done = f"{megabytes(self._sent)} of {megabytes(self.total)} ({self._percent()} %)"
        return f"{done}{rate} · {duration(elapsed)}{note}"

    def _render(self) -> None:
        self._last = time.monotonic()
        if self._html is not None:
            filled = WIDGET_BAR * self._percent() // 100
            self._html.value = sanitize(
                f'<div class="gemini-magic"><span style="color: {BAR_COLOUR}">{"█" * filled}</span>'
                f'<span style="color: {TRACK_COLOUR}">{"█" * (WIDGET_BAR - filled)}</span><br>'
                f"<b>↑ {html.escape(self.label)}</b> · {html.escape(self._counts())}</div>"
            )
        elif self._kind is not None and issubclass(self._kind, TerminalView):
            filled = BAR_WIDTH * self._percent() // 100
            self._write(f"↑ {self.label} {'█' * filled}{'░' * (BAR_WIDTH - filled)} {self._counts()}")
        else:
            return
        self.renders += 1

    def _write(self, line: str) -> None:
        line = line[: max(20, shutil.get_terminal_size((120, 24)).columns - 1)]
        sys.stderr.write("\r" + line + " " * max(0, self._width - len(line)))
        sys.stderr.flush()
        self._width = max(len(line), 1)
