"""Markdown → sanitized HTML, rendered incrementally.

Model output is untrusted, so every piece of HTML this package shows goes through
:func:`sanitize` (nh3/ammonia): no scripts, no event handlers, no ``style`` beyond table
alignment, and links/images only with http(s) or mailto URLs. ``markdown`` and ``nh3`` are
imported on first use.

:class:`MarkdownStream` renders a growing answer in O(n): text is cut into blocks at blank lines
that cannot change how earlier text renders (outside code fences and math, not before a list
item or an indented continuation). A finished block is rendered once and cached; only the open
tail is re-rendered on each update, and the final HTML is the cached blocks plus the tail.
"""

from __future__ import annotations

import html
import re
from typing import Any

__all__ = ["MarkdownStream", "highlight", "render_markdown", "sanitize"]

_SAFE_URL = ("http://", "https://", "mailto:")
# Inline colours (no classes, no stylesheet) so highlighting survives save, export and sanitizing;
# only colour and font properties are kept, so the front end's own code background shows through.
HIGHLIGHT = {"noclasses": True, "guess_lang": False, "pygments_style": "default"}
_URL_ATTRIBUTES = {"href", "src", "cite", "srcset", "longdesc", "action", "background"}
_cleaner: Any = None
_markdown: Any = None


def sanitize(fragment: str) -> str:
    """Strip everything unsafe from an HTML fragment (shared by all renderers)."""
    global _cleaner
    if _cleaner is None:
        import nh3

        attributes = {
            "a": {"href", "title"},
            "img": {"src", "alt", "title", "width", "height"},
            "td": {"style", "colspan", "rowspan"},
            "th": {"style", "colspan", "rowspan"},
            "ol": {"start"},
            "details": {"open"},
            "abbr": {"title"},
            "span": {"style"},  # syntax highlighting colours (only the properties below survive)
        }
        _cleaner = nh3.Cleaner(
            tags=set(nh3.ALLOWED_TAGS) - {"map", "area"},
            clean_content_tags={"script", "style"},
            attributes=attributes,
            attribute_filter=_safe_attribute,
            url_schemes={"http", "https", "mailto"},
            filter_style_properties={"text-align", "color", "font-style", "font-weight"},
            allowed_classes={"div": {"codehilite", "gm-sources"}, "sup": {"gm-cite"}},
            link_rel="noopener noreferrer nofollow",
            set_tag_attribute_values={"a": {"target": "_blank"}},
        )
    return _cleaner.clean(fragment)


def _safe_attribute(tag: str, attribute: str, value: str) -> str | None:
    """Drop URLs that are relative or use any scheme but http(s)/mailto."""
    if attribute in _URL_ATTRIBUTES and not value.strip().lower().startswith(_SAFE_URL):
        return None
    return value


# ---------------------------------------------------------------------------------------------
# Markdown


def render_markdown(text: str) -> str:
    """Render one Markdown fragment (GFM-style tables, fences, 2-space nested lists) safely."""
    global _markdown
    if _markdown is None:
        import markdown

        _markdown = markdown.Markdown(
            extensions=["tables", "fenced_code", "sane_lists", "codehilite"],
            extension_configs={"codehilite": HIGHLIGHT},
            lazy_ol=False,  # keep "3." as the start of a list cut into blocks
            output_format="html",
        )
    protected, stash = _protect_math(text)
    rendered = _markdown.reset().convert(_normalise(protected))
    safe = sanitize(rendered)
    for index, math in enumerate(stash):
        safe = safe.replace(_placeholder(index), html.escape(math, quote=False))
    return safe


def highlight(code: str, language: str) -> str:
    """Syntax-highlighted, sanitized ``<pre>`` for code outside Markdown (executableCode, JSON)."""
    from pygments import highlight as pygmentize
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(language or "text")
    except ClassNotFound:
        lexer = get_lexer_by_name("text")
    formatter = HtmlFormatter(noclasses=True, nowrap=True, style=HIGHLIGHT["pygments_style"])
    return sanitize(f"<pre><code>{pygmentize(code, lexer, formatter)}</code></pre>")


_MATH = re.compile(
    r"\$\$.+?\$\$"  # display math
    r"|\\\[.+?\\\]|\\\(.+?\\\)"  # \[ … \] and \( … \)
    r"|(?<![\\$\w])\$(?=[^\s$])(?:[^$\n\\]|\\.)+?(?<=[^\s\\])\$(?![\w$])",  # $x$, not "$5 and $6"
    re.DOTALL,
)


def _placeholder(index: int) -> str:
    return f"GMMATH{index}XQZ"


def _protect_math(text: str) -> tuple[str, list[str]]:
    """Swap math spans for inert placeholders so Markdown cannot eat ``_`` or ``*`` inside them."""
    if "$" not in text and "\\" not in text:
        return text, []
    stash: list[str] = []

    def keep(match: re.Match[str]) -> str:
        stash.append(match.group(0))
        return _placeholder(len(stash) - 1)

    return _MATH.sub(keep, text), stash


_LIST_ITEM = re.compile(r"^( *)([*+-]|\d{1,9}[.)])( +|$)")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _normalise(text: str) -> str:
    """Adapt common chat Markdown to Python-Markdown's stricter rules.

    * Nested list items indented by 2 (or 3) spaces are re-indented to 4 per level.
    * A list or table that follows a paragraph line directly gets the blank line it needs.
    Lines inside code fences are left exactly as they are.
    """
    out: list[str] = []
    stack: list[int] = []  # original indents of the open list items
    fence: str | None = None
    previous = ""
    for line in text.split("\n"):
        if fence is not None:
            out.append(line)
            if line.strip().startswith(fence):
                fence = None
            continue
        fence_match = _FENCE.match(line)
        if fence_match:
            fence = fence_match.group(1)[0] * 3
            stack.clear()
            out.append(line.lstrip())
            previous = line
            continue
        item = _LIST_ITEM.match(line)
        stripped = line.strip()
        if item:
            indent = len(item.group(1))
            while stack and stack[-1] >= indent:
                stack.pop()
            if not stack and previous.strip() and not _LIST_ITEM.match(previous) and not previous.startswith(" "):
                out.append("")
            out.append(" " * (4 * len(stack)) + line[indent:])
            stack.append(indent)
        elif stripped and stack and line.startswith(" "):
            indent = len(line) - len(line.lstrip(" "))
            depth = sum(1 for level in stack if level < indent)
            out.append(" " * (4 * depth) + line.lstrip(" "))
        else:
            if stripped and not line.startswith(" "):
                stack.clear()
            if stripped.startswith("|") and previous.strip() and not previous.strip().startswith("|"):
                out.append("")
            out.append(line)
        previous = line
    return "\n".join(out)


class MarkdownStream:
    """A growing Markdown answer: finished blocks rendered once, the open tail on demand."""

    def __init__(self) -> None:
        self.blocks: list[str] = []  # HTML of finished blocks
        self._open = ""  # Markdown not yet committed to a block
        self._fence: str | None = None  # the fence open at the end of the scanned text
        self._scanned = 0  # how far into ``_open`` lines have been classified
        self._math_open = False
        self._tail_cache: tuple[str, str] | None = None

    def append(self, text: str) -> int:
        """Add streamed text; returns how many blocks this finished (for the live view)."""
        if not text:
            return 0
        self._open += text
        before = len(self.blocks)
        self._commit_finished()
        return len(self.blocks) - before

    def tail_html(self) -> str:
        """The rendered open block (cached until more text arrives)."""
        if self._tail_cache is None or self._tail_cache[0] != self._open:
            self._tail_cache = (self._open, render_markdown(self._open) if self._open.strip() else "")
        return self._tail_cache[1]

    def html(self) -> str:
        return "".join(self.blocks) + self.tail_html()

    def _commit_finished(self) -> None:
        text = self._open
        pos = self._scanned
        cut = 0
        while True:
            end = text.find("\n", pos)
            if end < 0:
                break
            line = text[pos:end]
            self._classify(line)
            next_start = end + 1
            # A blank line ends a block when the line after it has started and is block-safe.
            if not line.strip() and self._fence is None and not self._math_open and next_start < len(text):
                following = text[next_start:]
                if following.strip() and _starts_block(following):
                    cut = next_start
            pos = next_start
        if cut:
            block = text[:cut]
            if block.strip():
                self.blocks.append(render_markdown(block))
            self._open = text[cut:]
            pos -= cut
        self._scanned = pos

    def _classify(self, line: str) -> None:
        if self._fence is not None:
            if line.strip().startswith(self._fence):
                self._fence = None
            return
        match = _FENCE.match(line)
        if match:
            self._fence = match.group(1)[0] * 3
        elif line.count("$$") % 2:
            self._math_open = not self._math_open


def _starts_block(following: str) -> bool:
    """True when the text after a blank line begins a new top-level block."""
    first = following.split("\n", 1)[0]
    if first.startswith((" ", "\t", "|")) or first.strip() == "":
        return False
    return not _LIST_ITEM.match(first)
