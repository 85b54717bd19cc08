"""The answer as an ordered list of runs: Markdown text, images and other parts.

Both the live view and the final static output read this one structure, so what was on screen
while streaming and what is saved in the notebook come from the same cached HTML. Each text run
remembers where it starts in the answer text, because citation offsets index the whole answer.
Speech arrives in many parts that are one recording (an :class:`~._audio.AudioRun`: "🔊 speaking…"
while it streams, a player at the end). With several candidates (``--candidates N``) each other
answer has its own layout in :attr:`AnswerLayout.others`, shown after the first under its heading.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

from ._audio import AudioRun, audio_mime
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
LIVE_WINDOW = 8_000  # characters of finished HTML each other answer shows in the live view


class AnswerLayout:
    """Collects candidate 0's parts in order; finished blocks are rendered exactly once.

    *number* is the answer's place (1 for the first candidate); *name* how the user reaches it, for
    notes such as ``_gemini.audio[0].save(…)``.
    """

    def __init__(
        self, *, show_thoughts: bool = False, json_mode: bool = False, number: int = 1, name: str = "_gemini"
    ) -> None:
        self.show_thoughts = show_thoughts
        self.json_mode = json_mode
        self.number = number
        self.name = name
        self.runs: list[TextRun | PartBlock | GeminiImage | AudioRun] = []
        self.others: dict[int, AnswerLayout] = {}  # the other candidates' layouts, by index
        self._audio: AudioRun | None = None  # the recording still streaming
        self._audio_count = 0
        self.blocks: list[Block] = []  # finished live-view blocks, in answer order
        self._run: TextRun | None = None  # the text run still growing
        self._text_length = 0
        self._thoughts = MarkdownStream()
        self.has_thoughts = False
        self.answer_started = False
        self.changed = False

    def add(self, parts: list[dict[str, Any]]) -> None:
        """Take the next parts of the stream: text grows the open run, any other part closes it.

        The other candidates' parts (``parts.others``, see :class:`~._response.Delta`) go to their layouts.
        """
        for index, more in getattr(parts, "others", {}).items():
            self.other(index).add(more)
            self.answer_started = self.answer_started or self.others[index].answer_started
            self.changed = True
        for part in parts:
            if "text" in part and len(part.keys() - {"thought", "thoughtSignature"}) == 1:
                self._add_text(part["text"], thought=bool(part.get("thought")))
                continue
            self.answer_started = self.changed = True
            self._close_run()
            if self._audio is not None and self._audio.take(part):
                continue
            self._end_audio()
            mime = audio_mime(part)
            if mime is not None:
                self._audio = AudioRun(mime, f"{self.name}.audio[{self._audio_count}]")
                self._audio_count += 1
                self._audio.take(part)
                self.runs.append(self._audio)
                continue
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
        self._end_audio()
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

    def other(self, index: int) -> AnswerLayout:
        """The layout of candidate *index* (made when it first appears)."""
        layout = self.others.get(index)
        if layout is None:
            name = f"{self.name}.candidates[{index}]"
            layout = AnswerLayout(
                show_thoughts=self.show_thoughts, json_mode=self.json_mode, number=index + 1, name=name
            )
            self.others[index] = layout
        return layout

    def _end_audio(self) -> None:
        """The recording is over: leave a short note in the live view (the player comes with the final output)."""
        if self._audio is not None:
            self.blocks.append(f"<p><i>{html.escape(self._audio.note())}</i></p>")
            self._audio = None

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
        """The open text block (or the speech still streaming), re-rendered on each update; then the
        other candidates' answers so far, each under its heading."""
        tail = self._run_tail(self._run) if self._run is not None else ""
        if self._audio is not None:
            tail += self._audio.live_html()
        for index in sorted(self.others):
            tail += self.others[index].live_html()
        return tail

    def live_html(self) -> str:
        """This answer so far as one HTML string (for the other candidates in the live view): its
        latest finished blocks, about ``LIVE_WINDOW`` characters (every update re-sends it, so it
        must not grow with the answer; the final output shows all of it), then the open block."""
        self.commit()
        shown: list[str] = []
        size = 0
        for block in reversed(self.blocks):
            if size >= LIVE_WINDOW:
                shown.append("<p><i>…</i></p>")
                break
            piece = f"<p><i>[{html.escape(repr(block))}]</i></p>" if isinstance(block, GeminiImage) else block
            shown.append(piece)
            size += len(piece)
        return self.thoughts_html() + "".join(reversed(shown)) + self.tail_html()

    def heading(self) -> str:
        """The heading of each answer when there are several (``"Answer 2"``), else ``""``."""
        return f"Answer {self.number}" if self.number > 1 or self.others else ""

    def thoughts_html(self) -> str:
        """What comes before the answer: its heading when there are several, then the thought
        summaries as a collapsed ``<details>`` (when asked for and some came)."""
        heading = f"<h3>{self.heading()}</h3>" if self.heading() else ""
        if not self.show_thoughts or not self.has_thoughts:
            return heading
        return f"{heading}<details><summary>Thoughts</summary>{self._thoughts.html()}</details>"

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
