"""The answer as an ordered list of runs: Markdown text, images and other parts.

Both the live view and the final static output read this one structure, so what was on screen
while streaming and what is saved in the notebook come from the same cached HTML. Each text run
remembers where it starts in the answer text, because citation offsets index the whole answer.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

from ._citations import insert_markers, marker_positions
from ._growing_markdown import MarkdownStream
from ._images import GeminiImage, image_of
from ._markdown import fenced, highlight, render_markdown, safe_markdown
from ._parts import part_html, part_markdown

__all__ = ["AnswerLayout", "TextRun"]


@dataclass
class TextRun:
    """Consecutive answer text; ``start`` is its character offset in the whole answer."""

    start: int
    stream: MarkdownStream = field(default_factory=MarkdownStream)
    pieces: list[str] = field(default_factory=list)
    length: int = 0

    def text(self) -> str:
        """The run's text so far."""
        return "".join(self.pieces)


@dataclass(frozen=True)
class PartBlock:
    """A non-text, non-image part (code, its output, a tool call) rendered both ways."""

    html: str
    markdown: str


Block = str | GeminiImage  # finished live-view content: HTML, or an image shown as itself


class AnswerLayout:
    """Collects candidate 0's parts in order; finished blocks are rendered exactly once."""

    def __init__(self, *, show_thoughts: bool = False, json_mode: bool = False) -> None:
        self.show_thoughts = show_thoughts
        self.json_mode = json_mode
        self.runs: list[TextRun | PartBlock | GeminiImage] = []
        self.blocks: list[Block] = []  # finished live-view blocks, in answer order
        self._run: TextRun | None = None  # the text run still growing
        self._text_length = 0
        self._thoughts = MarkdownStream()
        self.has_thoughts = False
        self.answer_started = False
        self.changed = False

    def add(self, parts: list[dict[str, Any]]) -> None:
        """Take the next parts of the stream: text grows the open run, any other part closes it."""
        for part in parts:
            if "text" in part and len(part.keys() - {"thought", "thoughtSignature"}) == 1:
                self._add_text(part["text"], thought=bool(part.get("thought")))
                continue
            self.answer_started = self.changed = True
            self._close_run()
            image = image_of(part)
            if image is not None:
                self.runs.append(image)
                self.blocks.append(image)
            else:
                block = PartBlock(part_html(part), part_markdown(part))
                self.runs.append(block)
                self.blocks.append(block.html)

    def _add_text(self, text: str, *, thought: bool) -> None:
        if not text:
            return
        self.changed = True
        if thought:
            self.has_thoughts = True
            if self.show_thoughts:
                self._thoughts.append(text)
            return
        self.answer_started = True
        run = self._run
        if run is None:
            run = self._run = TextRun(start=self._text_length)
            self.runs.append(run)
        run.pieces.append(text)
        run.length += len(text)
        self._text_length += len(text)
        if not self.json_mode:
            run.stream.append(text)

    def commit(self) -> None:
        """Render the open run's finished text (called at each live update, not per chunk)."""
        run = self._run
        if run is not None and run.stream.commit():
            self.blocks.append(run.stream.blocks[-1])

    def _close_run(self) -> None:
        if self._run is not None:
            self.commit()
            tail = self._run_tail(self._run)
            if tail:
                self.blocks.append(tail)
            self._run = None

    def _run_tail(self, run: TextRun) -> str:
        if self.json_mode:
            return f"<pre><code>{html.escape(run.text())}</code></pre>"
        return run.stream.tail_html()

    def tail_html(self) -> str:
        """The open text block, re-rendered on each update."""
        return self._run_tail(self._run) if self._run is not None else ""

    def thoughts_html(self) -> str:
        """The thought summaries as a collapsed ``<details>``, or "" when not asked for or none came."""
        if not self.show_thoughts or not self.has_thoughts:
            return ""
        return f"<details><summary>Thoughts</summary>{self._thoughts.html()}</details>"

    # -- the final output ---------------------------------------------------------------------

    def final_segments(self, candidate: dict[str, Any]) -> list[str | GeminiImage]:
        """HTML strings and images in answer order, with citation markers placed in the text."""
        grounding = candidate.get("groundingMetadata") or {}
        positions = marker_positions(self.answer_text(), grounding) if grounding else {}
        chunks = grounding.get("groundingChunks") or []
        merged: list[str | GeminiImage] = [self.thoughts_html()]
        for run in self.runs:
            if isinstance(run, GeminiImage):
                merged.append(run)
                continue
            piece = self._final_text(run, positions, chunks) if isinstance(run, TextRun) else run.html
            if isinstance(merged[-1], str):
                merged[-1] += piece
            else:
                merged.append(piece)
        return merged

    def _final_text(self, run: TextRun, positions: dict[int, list[int]], chunks: list[Any]) -> str:
        text = run.text()
        if self.json_mode:
            return highlight(_pretty_json(text), "json")
        mine = {p - run.start: n for p, n in positions.items() if run.start <= p <= run.start + run.length}
        if not mine:
            return run.stream.html()
        return render_markdown(*insert_markers(text, mine, chunks))

    def answer_text(self) -> str:
        """The answer text (thoughts excluded), the string citation offsets index into."""
        return "".join(run.text() for run in self.runs if isinstance(run, TextRun))

    def markdown(self) -> str:
        """The answer as Markdown (for the text/markdown output), without raw HTML or unsafe links."""
        pieces = []
        for run in self.runs:
            if isinstance(run, TextRun):
                pieces.append(fenced(_pretty_json(run.text()), "json") if self.json_mode else safe_markdown(run.text()))
            else:
                shown = f"*[{run!r}]*" if isinstance(run, GeminiImage) else run.markdown
                pieces.append(f"\n\n{shown}\n\n")
        return "".join(pieces).strip()


def _pretty_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text
