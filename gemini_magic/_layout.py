"""The answer as an ordered list of rendered blocks: Markdown text runs and other parts.

Both the live view and the final static output read this one structure, so what was on screen
while streaming and what is saved in the notebook are built from the same cached HTML.
"""

from __future__ import annotations

from typing import Any

from ._parts import part_html, part_markdown
from ._render import MarkdownStream, render_markdown

__all__ = ["AnswerLayout"]


class AnswerLayout:
    """Collects candidate 0's parts in order; finished blocks are rendered exactly once."""

    def __init__(self, *, show_thoughts: bool = False) -> None:
        self.show_thoughts = show_thoughts
        self.blocks: list[str] = []  # finished HTML blocks, in answer order
        self._text = MarkdownStream()
        self._thoughts: list[str] = []
        self._markdown: list[str] = []  # the text/markdown rendering, piece by piece
        self._base = 0  # index in ``blocks`` where the current text run's blocks start
        self.changed = False

    def add(self, parts: list[dict[str, Any]]) -> None:
        for part in parts:
            if "text" in part and len(part.keys() - {"thought", "thoughtSignature"}) == 1:
                if part.get("thought"):
                    if self.show_thoughts and part["text"]:
                        self._thoughts.append(part["text"])
                        self.changed = True
                elif part["text"]:
                    self._text.append(part["text"])
                    self._markdown.append(part["text"])
                    self.changed = True
            else:
                self._close_text()
                self.blocks.append(part_html(part))
                self._markdown.append(f"\n\n{part_markdown(part)}\n\n")
                self.changed = True
        self._sync()

    def _sync(self) -> None:
        """Copy blocks the current text stream has finished into ``blocks``."""
        done = self._text.blocks
        have = len(self.blocks) - self._base
        if len(done) > have:
            self.blocks.extend(done[have:])

    def _close_text(self) -> None:
        self._sync()
        tail = self._text.tail_html()
        if tail:
            self.blocks.append(tail)
        self._text = MarkdownStream()
        self._base = len(self.blocks)

    def tail_html(self) -> str:
        """The open text block, re-rendered on each update."""
        return self._text.tail_html()

    def thoughts_html(self) -> str:
        if not self._thoughts:
            return ""
        return f"<details><summary>Thoughts</summary>{render_markdown(''.join(self._thoughts))}</details>"

    def html(self) -> str:
        return self.thoughts_html() + "".join(self.blocks) + self.tail_html()

    def markdown(self) -> str:
        return "".join(self._markdown).strip()
