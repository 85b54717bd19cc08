"""Showing an answer: a live view while it streams, then a static rich output in its place.

* In a Jupyter front end the live view is an ipywidgets ``VBox``: one ``HTML`` child per finished
  block (sent once) and one for the open tail (re-sent, throttled). Only what changed crosses to
  the browser.
* When the stream ends (or fails), the same display id is updated with a static bundle
  (``text/html`` + ``text/markdown`` + ``text/plain``) and the widgets are closed, so a saved,
  reloaded or exported notebook shows the answer instead of "Loading widget…" (ipywidgets#2279).
* In terminal IPython (no widget front end) text is written to stdout as it arrives.

ipywidgets is imported only when a live view is first created.
"""

from __future__ import annotations

import html
import sys
import time
from typing import Any

from ._layout import AnswerLayout
from ._response import GeminiResponse

__all__ = ["LiveView", "TerminalView", "WidgetView", "final_bundle", "make_view"]

UPDATE_INTERVAL = 0.1  # seconds between live updates after the first one


class LiveView:
    """What the magic talks to; subclasses decide how it reaches the user."""

    def __init__(self, layout: AnswerLayout) -> None:
        self.layout = layout

    def start(self, waiting: str) -> None: ...

    def status(self, message: str) -> None: ...

    def update(self, parts: list[dict[str, Any]]) -> None:
        self.layout.add(parts)

    def finish(self, bundle: dict[str, Any], metadata: dict[str, Any]) -> None: ...


class WidgetView(LiveView):
    def __init__(self, layout: AnswerLayout) -> None:
        super().__init__(layout)
        self._box: Any = None
        self._handle: Any = None
        self._widgets: list[Any] = []
        self._sent_blocks = 0
        self._last_flush = 0.0
        self._tail_value = ""

    def start(self, waiting: str) -> None:
        import ipywidgets
        from IPython.display import display

        self._html = ipywidgets.HTML
        self._thoughts = ipywidgets.HTML()
        self._tail = ipywidgets.HTML()
        self._status = ipywidgets.HTML(value=f"<i>{html.escape(waiting)}</i>")
        self._box = ipywidgets.VBox([self._thoughts, self._tail, self._status])
        self._box.add_class("gemini-live")
        self._widgets = [self._box, self._thoughts, self._tail, self._status]
        self._handle = display(self._box, display_id=True)

    def status(self, message: str) -> None:
        self._status.value = f"<i>{html.escape(message)}</i>" if message else ""

    def update(self, parts: list[dict[str, Any]]) -> None:
        super().update(parts)
        now = time.monotonic()
        first = self._last_flush == 0.0
        if self.layout.changed and (first or now - self._last_flush >= UPDATE_INTERVAL):
            self.flush()
            self._last_flush = now

    def flush(self) -> None:
        layout = self.layout
        layout.changed = False
        if self._status.value.startswith("<i>Waiting"):
            self._status.value = ""
        if len(layout.blocks) > self._sent_blocks:
            new = [self._html(value=block) for block in layout.blocks[self._sent_blocks :]]
            self._widgets.extend(new)
            self._sent_blocks = len(layout.blocks)
            children = list(self._box.children)
            self._box.children = children[:-2] + new + children[-2:]
        tail = layout.tail_html()
        if tail != self._tail_value:
            self._tail.value = self._tail_value = tail
        thoughts = layout.thoughts_html()
        if thoughts != self._thoughts.value:
            self._thoughts.value = thoughts

    def finish(self, bundle: dict[str, Any], metadata: dict[str, Any]) -> None:
        if self._handle is not None:
            self._handle.update(bundle, raw=True, metadata=metadata)
        for widget in self._widgets:
            widget.close()
        self._widgets = []


class TerminalView(LiveView):
    """Plain text on stdout, as it arrives (terminal IPython, scripts)."""

    def start(self, waiting: str) -> None:
        self._wrote = False

    def status(self, message: str) -> None:
        if message:
            print(f"[{message}]", file=sys.stderr, flush=True)

    def update(self, parts: list[dict[str, Any]]) -> None:
        super().update(parts)
        for part in parts:
            if part.get("text") and not part.get("thought"):
                sys.stdout.write(part["text"])
                self._wrote = True
        sys.stdout.flush()

    def finish(self, bundle: dict[str, Any], metadata: dict[str, Any]) -> None:
        footer = metadata.get("gemini_magic", {}).get("footer", "")
        print(("\n" if self._wrote else "") + footer, flush=True)


def make_view(shell: Any, layout: AnswerLayout) -> LiveView:
    """A widget view under a Jupyter kernel, plain text elsewhere."""
    if shell is not None and getattr(shell, "kernel", None) is not None:
        return WidgetView(layout)
    return TerminalView(layout)


def final_bundle(
    response: GeminiResponse, layout: AnswerLayout, footer: str, notes: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The static output that replaces the live view: HTML, Markdown and plain text + provenance."""
    note_html = "".join(f"<p><strong>⚠ {html.escape(note)}</strong></p>" for note in notes)
    body = layout.html()
    data = {
        "text/html": f'<div class="gemini-magic">{body}{note_html}'
        f"<hr><p><small>{html.escape(footer)}</small></p></div>",
        "text/markdown": "\n\n".join(
            [
                layout.markdown() or "*(no text)*",
                *(f"**⚠ {note}**" for note in notes),
                f"<sub>{html.escape(footer)}</sub>",
            ]
        ),
        "text/plain": "\n".join([response.text or "(no text)", *(f"⚠ {note}" for note in notes), footer]),
    }
    metadata = {
        "gemini_magic": {
            "model": (response.request or {}).get("model"),
            "modelVersion": response.model_version,
            "responseId": response.get("responseId"),
            "finishReason": response.finish_reason,
            "usage": response.usage,
            "footer": footer,
        }
    }
    return data, metadata
