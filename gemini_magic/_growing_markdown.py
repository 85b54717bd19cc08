"""A growing Markdown answer rendered in O(n): finished text once, only the open tail again.

Text is committed at *safe* boundaries: a blank line, outside code fences and display math,
followed by a line that starts a new top-level block (not an indented continuation, a list item
or a table row), so rendering the parts separately gives the same HTML as rendering the whole.
Boundaries are found as text arrives (each character is scanned once); rendering happens only
when the live view flushes (:meth:`MarkdownStream.commit`), so a fast stream is rendered in a
few large blocks rather than hundreds of small ones.
"""

from __future__ import annotations

from ._markdown import FENCE, LIST_ITEM, render_markdown

__all__ = ["MarkdownStream"]


class MarkdownStream:
    """Append text as it streams; :meth:`commit` at each live update; read :meth:`html`."""

    def __init__(self) -> None:
        self.blocks: list[str] = []  # HTML of committed text, one entry per commit
        self._pieces: list[str] = []  # text not committed yet
        self._length = 0  # characters in ``_pieces``
        self._partial: list[str] = []  # the unfinished last line, in pieces (also in ``_pieces``)
        self._partial_length = 0
        self._boundary = 0  # last safe cut, as an offset into the uncommitted text
        self._fence: str | None = None  # the code fence open at the end of the scanned lines
        self._math_open = False
        self._previous_blank = False
        self._tail_cache: tuple[int, str] = (-1, "")

    def append(self, text: str) -> None:
        """Add streamed text; only classifies the lines it completes (no rendering here).

        The unfinished last line is kept as pieces and joined only when its newline arrives, so
        a long line streamed in many small chunks still costs O(n).
        """
        if not text:
            return
        self._pieces.append(text)
        start = self._length - self._partial_length  # offset of the unfinished line
        self._length += len(text)
        end = text.find("\n")
        if end < 0:
            self._partial.append(text)
            self._partial_length += len(text)
            return
        self._partial.append(text[:end])
        self._line("".join(self._partial), start)
        pos = end + 1
        while (end := text.find("\n", pos)) >= 0:
            self._line(text[pos:end], self._length - len(text) + pos)
            pos = end + 1
        self._partial = [text[pos:]]
        self._partial_length = len(text) - pos

    def _line(self, line: str, offset: int) -> None:
        if self._fence is not None:
            if line.strip().startswith(self._fence):
                self._fence = None
            self._previous_blank = False
            return
        blank = not line.strip()
        if not blank and self._previous_blank and not self._math_open and _starts_block(line):
            self._boundary = offset
        fence = FENCE.match(line)
        if fence:
            self._fence = fence.group(1)[0] * 3
        elif line.count("$$") % 2:
            self._math_open = not self._math_open
        self._previous_blank = blank

    def commit(self) -> int:
        """Render the text up to the last safe boundary as one block; returns blocks added."""
        if not self._boundary:
            return 0
        text = "".join(self._pieces)
        block, rest = text[: self._boundary], text[self._boundary :]
        self._pieces = [rest] if rest else []
        self._length = len(rest)
        self._boundary = 0
        self._tail_cache = (-1, "")  # the tail is other text now, even if just as long
        if not block.strip():
            return 0
        self.blocks.append(render_markdown(block))
        return 1

    def tail_html(self) -> str:
        """The uncommitted text rendered (cached until more text arrives)."""
        if self._tail_cache[0] != self._length:
            text = "".join(self._pieces)
            self._pieces = [text] if text else []
            self._tail_cache = (self._length, render_markdown(text) if text.strip() else "")
        return self._tail_cache[1]

    def html(self) -> str:
        """The HTML of all text so far (commits first)."""
        self.commit()
        return "".join(self.blocks) + self.tail_html()


def _starts_block(line: str) -> bool:
    """True when a line after a blank line begins a new top-level block."""
    if line.startswith((" ", "\t", "|")):
        return False
    return not LIST_ITEM.match(line)
