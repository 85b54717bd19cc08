"""Showing an answer: a live view while it streams, then static rich outputs in its place.

* In a Jupyter front end the live view is an ipywidgets ``HTML``: a status line (a ticking
  "thinking… 3.2 s" until the first answer token), the thoughts, and the answer; a long answer or
  one with images becomes a ``VBox`` of pages of bounded size (images in between). Updates are
  throttled (10 per second, fewer when an update is costly, so live rendering stays within a few
  percent of a core) and re-send only the open page.
* When the stream ends (or fails), the same display id is updated with the static bundles
  (:func:`._bundles.final_bundles`), images follow as real ``image/png`` / ``image/jpeg`` outputs,
  and every widget model the view opened is emptied and closed — layouts and styles too — so a
  saved, reloaded or exported notebook shows the answer instead of "Loading widget…"
  (ipywidgets#2279), the kernel keeps no model, and no saved widget state holds answer text.
* In terminal IPython (no widget front end) text is written to stdout as it arrives, without
  control characters: model text must not set the window title or write the clipboard. What cannot
  stream there (how to keep a recording, the other answers of ``--candidates N``) follows at the end.
* A view is a context manager: whatever raises inside the ``with`` (the network, Ctrl-C, or our own
  rendering), the ticker thread stops, the widgets close and a static output takes their place
  (plain text if rendering was what failed), and the exception goes on unchanged.

ipywidgets is imported only when a live view is first created.
"""

from __future__ import annotations

import contextlib
import html
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._audio import AudioRun
from ._bundles import Bundle, Outputs, plain_bundle
from ._errors import printable, warn_line
from ._images import GeminiImage
from ._layout import AnswerLayout
from ._sanitize import sanitize
from ._widget_models import shared_models

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "LiveView",
    "SilentView",
    "TerminalView",
    "ViewFactory",
    "WidgetView",
    "show",
    "show_live",
    "view_factory",
]

UPDATE_INTERVAL = 0.1  # seconds between live updates after the first one, at the least
MAX_INTERVAL = 0.5  # … and at the most
FLUSH_BUDGET = 0.02  # share of a core live updates may use: a costly update spaces out the next ones
TICK_INTERVAL = 0.1  # the "thinking… 3.2 s" counter


class LiveView:
    """What the magic talks to; subclasses decide how it reaches the user."""

    def __init__(self, layout: AnswerLayout, label: str) -> None:
        self.layout = layout
        self.label = label  # e.g. "gemini-3-flash-preview · thinking…"
        self.finished = False

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """On an error before :meth:`finish`, leave the answer as plain text; never mask the error.
        Whatever happened, nothing the view opened stays open."""
        try:
            if exc is not None and not self.finished:
                with contextlib.suppress(Exception):  # the error already on its way out is the one to report
                    self.finish([plain_bundle(self.layout)])
        finally:
            self.close()

    def start(self) -> None:
        """Show the view (the ``with`` statement calls it)."""

    def status(self, message: str) -> None:
        """Show a passing note, e.g. "retrying in 2.0 s"."""

    def update(self, parts: list[dict[str, Any]]) -> None:
        """Take the parts one event added (called per event: nothing here may grow with the answer)."""
        self.layout.add(parts)

    def finish(self, bundles: list[Bundle]) -> None:
        """Leave *bundles* as the static result (subclasses call this once they have)."""
        self.finished = True

    def close(self) -> None:
        """Release what the view holds open (called by :meth:`finish` and when the ``with`` ends)."""


class WidgetView(LiveView):
    """Live widgets, as few as the answer needs: one ``HTML`` (the status line, the thoughts, the
    answer), and only for a long answer or one with images a ``VBox`` of such "pages".

    The open page shows its committed HTML plus the re-rendered tail; once it holds ``PAGE_SIZE``
    characters it is frozen and a new page starts, so each update re-sends at most one page (not
    the whole answer). All widgets use the layout and style every live view shares
    (:mod:`._widget_models`), so a short answer opens one model of its own; :meth:`finish` empties
    the values and closes every model, so none stays open in the kernel and what a notebook may
    still save of them (``nbconvert --execute`` keeps the last state of every model, closed or not)
    is small and holds no answer text.
    """

    PAGE_SIZE = 16_000

    def __init__(self, layout: AnswerLayout, label: str) -> None:
        super().__init__(layout, label)
        self._handle: Any = None
        self._models: list[Any] = []  # every widget this view opened, closed by finish
        self._shared: dict[str, Any] | None = None  # the layout and style all live widgets share
        self._box: Any = None  # the VBox of pages, once a second page or an image needs one
        self._sent_blocks = 0
        self._last_flush = 0.0
        self._interval = UPDATE_INTERVAL
        self._page_html: list[str] = []  # committed HTML on the open page
        self._page_size = 0
        self._page_value = ""
        self._first_body = ""  # the first page's answer HTML; the status line and thoughts go above it
        self._status_html = ""
        self._thoughts_value = ""
        self._note = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def start(self) -> None:
        """Display the first page and start the "thinking…" ticker."""
        import ipywidgets
        from IPython.display import display

        self._w = ipywidgets
        try:
            self._shared = shared_models.acquire()
            self._page = self._first = self._widget(ipywidgets.HTML)
            self._first.add_class("gemini-live")
            self._started = time.monotonic()
            self._show_status()
            self._handle = display(self._first, display_id=True)
        except BaseException:
            self.close()
            raise
        self._ticker = threading.Thread(target=self._tick, name="gemini-magic-ticker", daemon=True)
        self._ticker.start()

    def _widget(self, kind: Any, **values: Any) -> Any:
        """A new widget on the shared layout (and style, for ``HTML``), closed by :meth:`finish`."""
        assert self._shared is not None
        shared = self._shared if kind is self._w.HTML else {"layout": self._shared["layout"]}
        widget = kind(**shared, **values)
        self._models.append(widget)
        return widget

    def _show_status(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            elapsed = time.monotonic() - self._started
            note = f" — {html.escape(self._note)}" if self._note else ""
            self._status_html = f"<i>{html.escape(self.label)} {elapsed:.1f} s{note}</i>"
            self._show_first()

    def _show_first(self) -> None:
        """The first page: status line, thoughts, then its answer HTML (call with the lock held)."""
        self._first.value = _styled(self._status_html + self._thoughts_value + self._first_body)

    def _tick(self) -> None:
        while not self._stop.wait(TICK_INTERVAL):
            self._show_status()

    def _stop_ticker(self) -> None:
        with self._lock:
            self._stop.set()
            if self._status_html:
                self._status_html = ""
                self._show_first()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(timeout=1)

    def status(self, message: str) -> None:
        """Show *message* after the ticking label."""
        self._note = message
        self._show_status()

    def update(self, parts: list[dict[str, Any]]) -> None:
        """Add the parts; re-render at most every ``_interval`` seconds (adaptive: a costly update waits longer)."""
        super().update(parts)
        now = time.monotonic()
        if self.layout.changed and (self._last_flush == 0.0 or now - self._last_flush >= self._interval):
            cpu = time.thread_time()
            self.flush()
            cost = time.thread_time() - cpu
            self._interval = min(MAX_INTERVAL, max(UPDATE_INTERVAL, cost / FLUSH_BUDGET))
            self._last_flush = now

    def flush(self) -> None:
        """Send what changed: new committed blocks to the open page, the re-rendered tail, the thoughts."""
        layout = self.layout
        layout.changed = False
        layout.commit()
        if layout.answer_started and not self._stop.is_set():
            self._stop_ticker()
        for block in layout.blocks[self._sent_blocks :]:
            if isinstance(block, GeminiImage):
                image = self._widget(self._w.Image, value=block.data, format=block.extension.replace("jpg", "jpeg"))
                self._new_page(image)
            else:
                self._page_html.append(block)
                self._page_size += len(block)
                if self._page_size >= self.PAGE_SIZE:
                    self._new_page()
        self._sent_blocks = len(layout.blocks)
        thoughts = layout.thoughts_html()
        if thoughts != self._thoughts_value:
            with self._lock:
                self._thoughts_value = thoughts
                self._show_first()
        self._set_page("".join(self._page_html) + layout.tail_html())

    def _set_page(self, value: str) -> None:
        if value == self._page_value:
            return
        self._page_value = value
        if self._page is self._first:
            with self._lock:
                self._first_body = value
                self._show_first()
        else:
            self._page.value = _styled(value)  # blocks are sanitized already; the page as sent is too

    def _new_page(self, *between: Any) -> None:
        """Freeze the open page with its committed HTML, add *between*, and open a new page (the
        first time, the display turns into a ``VBox`` holding the first page and the new ones)."""
        self._set_page("".join(self._page_html))
        self._page = self._widget(self._w.HTML)
        self._page_html, self._page_size, self._page_value = [], 0, ""
        added = (*between, self._page)
        if self._box is None:
            self._box = self._widget(self._w.VBox, children=(self._first, *added))
            self._first.remove_class("gemini-live")
            self._box.add_class("gemini-live")
            self._handle.update(self._box)
        else:
            self._box.children = (*self._box.children, *added)

    def finish(self, bundles: list[Bundle]) -> None:
        """Replace the widgets with *bundles*; the ticker stops and the widgets close even if that fails."""
        from IPython.display import display

        try:
            self._stop_ticker()
            (data, metadata), *rest = bundles
            if self._handle is not None:
                self._handle.update(data, raw=True, metadata=metadata)
            for data, metadata in rest:
                display(data, raw=True, metadata=metadata)
            super().finish(bundles)
        finally:
            self.close()

    def close(self) -> None:
        """Empty every value (the last state a notebook may save holds no answer text), close every
        widget this view opened, and let go of the shared layout and style (closed with the last view)."""
        with self._lock:  # the ticker checks this under the lock: it writes nothing after
            self._stop.set()
        models, self._models = self._models, []
        shared, self._shared = self._shared, None
        for model in models:
            with contextlib.suppress(Exception):  # one failing close must not keep the others open
                if isinstance(model, self._w.HTML):
                    model.value = ""
                elif isinstance(model, self._w.Image):
                    model.value = b""
                elif isinstance(model, self._w.Box):
                    model.children = ()
        for model in models:
            with contextlib.suppress(Exception):
                model.close()
        if shared is not None:
            shared_models.release()


class TerminalView(LiveView):
    """Plain text on stdout, as it arrives (terminal IPython, scripts).

    The first answer streams; what a terminal cannot show as it comes is written at the end, as
    text: how to keep each recording (``--speech``), then every other answer (``--candidates N``)
    under its heading, then the footer.
    """

    def start(self) -> None:
        """Nothing to set up: text goes straight to stdout."""
        self._wrote = False
        self._headed = False

    def status(self, message: str) -> None:
        """Retry notes go to stderr, so stdout holds only the answer."""
        if message:
            warn_line(f"[{printable(message)}]")

    def update(self, parts: list[dict[str, Any]]) -> None:
        """Write the answer text as it arrives, without control characters."""
        super().update(parts)
        for part in parts:
            if part.get("text") and not part.get("thought"):
                self._heading()
                sys.stdout.write(printable(part["text"]))
                self._wrote = True
        sys.stdout.flush()

    def _heading(self) -> None:
        """ "Answer 1" above the first answer, once the others are known to come."""
        if not self._headed and self.layout.others:
            sys.stdout.write(f"{self.layout.heading()}\n")
        self._headed = True

    def finish(self, bundles: list[Bundle]) -> None:
        """End the answer with its recordings' notes, the other answers and the footer line."""
        from ._candidates import _plain

        if isinstance(bundles, Outputs):  # an answer: its footer is not in the saved metadata
            footer = bundles.footer
        else:  # a single output (a token count) may carry its line in its metadata
            footer = bundles[0][1].get("gemini_magic", {}).get("footer", "")
        lines = [run.note() for run in self.layout.runs if isinstance(run, AudioRun)]
        if lines or not self._wrote:
            self._heading()
        lines += [f"\n{_plain(other, other.answer_text())}" for _, other in sorted(self.layout.others.items())]
        lines += [footer] if footer else []
        text = "".join(f"{printable(line)}\n" for line in lines)
        sys.stdout.write(("\n" if self._wrote else "") + text)
        sys.stdout.flush()
        super().finish(bundles)


class SilentView(LiveView):
    """Shows nothing: ``gemini_magic.generate()`` unless it is asked to display."""


#: Makes the live view for one call: (layout, "model · thinking…" label) → view.
ViewFactory = Callable[[AnswerLayout, str], LiveView]


def view_factory(shell: Any) -> ViewFactory:
    """Widgets under a Jupyter kernel, plain text elsewhere (terminal IPython, scripts)."""
    if shell is not None and getattr(shell, "kernel", None) is not None:
        return WidgetView
    return TerminalView


def show(bundle: Bundle) -> None:
    """Display one rendered output: the one place outside the live views that calls ``display``."""
    from IPython.display import display

    data, metadata = bundle
    display(data, raw=True, metadata=metadata or None)


def show_live(widget: Any) -> Any:
    """Display a live widget (a job's progress view) under a new display id; returns the handle whose
    ``update`` puts the static output in its place."""
    from IPython.display import display

    return display(widget, display_id=True)


def _styled(page: str) -> str:
    """A live page with the theme's rules it needs (code colours, tables), sanitized as sent."""
    from ._theme import stylesheet

    return sanitize(stylesheet(page) + page)
