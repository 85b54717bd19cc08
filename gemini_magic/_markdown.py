"""Markdown → sanitized HTML with Python-Markdown, adapted to how chat models write.

* Nested lists indented by 2 spaces and lists/tables right after a paragraph line are normalised
  for Python-Markdown's stricter rules.
* Math (``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\[…\\]``) is swapped out before Markdown and back after, so
  ``_`` and ``*`` inside it survive and the front end can typeset it.
* Fenced code is highlighted with Pygments after rendering, with one cached formatter and lexer
  per language (Python-Markdown's codehilite builds a formatter per block: half the render time).
* Inline patterns for reference-style links are dropped: models do not write them, and each
  pattern costs a pass over every text node.

``markdown`` and ``pygments`` are imported on first use.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Any

from ._sanitize import sanitize

__all__ = ["FENCE", "LIST_ITEM", "highlight", "render_markdown"]

_markdown: Any = None
_UNUSED_INLINE = ("reference", "image_reference", "short_reference", "short_image_ref", "automail")
_STYLE = "default"


def render_markdown(text: str) -> str:
    """Render one Markdown fragment (GFM-style tables, fences, 2-space nested lists) safely."""
    global _markdown
    if _markdown is None:
        import markdown

        _markdown = markdown.Markdown(
            extensions=["tables", "fenced_code", "sane_lists"],
            lazy_ol=False,  # keep "3." as the start of a list cut into blocks
            output_format="html",
        )
        for name in _UNUSED_INLINE:
            _markdown.inlinePatterns.deregister(name)
        _markdown.parser.blockprocessors.deregister("reference")
        _markdown.treeprocessors.deregister("prettify")  # only adds newlines
    protected, stash = _protect_math(text)
    rendered = _markdown.reset().convert(_normalise(protected))
    if "<pre><code" in rendered:
        rendered = _CODE_BLOCK.sub(_highlight_block, rendered)
    safe = sanitize(rendered)
    for index, math in enumerate(stash):
        safe = safe.replace(_placeholder(index), html.escape(math, quote=False))
    return safe


_CODE_BLOCK = re.compile(r'<pre><code(?: class="language-([\w+#.-]+)")?>(.*?)</code></pre>', re.DOTALL)


def _highlight_block(match: re.Match[str]) -> str:
    language, escaped = match.group(1), match.group(2)
    if not language:
        return match.group(0)
    return _pygmentize(html.unescape(escaped), language)


def highlight(code: str, language: str) -> str:
    """Syntax-highlighted, sanitized ``<pre>`` for code outside Markdown (executableCode, JSON)."""
    return sanitize(_pygmentize(code, language))


def _pygmentize(code: str, language: str) -> str:
    """Inline colours (no classes, no stylesheet), so highlighting survives save, export and the
    sanitizer; only colour and font properties are kept, so the theme's code background shows."""
    from pygments import highlight as pygmentize

    lexer = _lexer(language.lower())
    if lexer is None:
        return f"<pre><code>{html.escape(code, quote=False)}</code></pre>"
    return f"<pre><code>{pygmentize(code, lexer, _formatter())}</code></pre>"


@lru_cache(maxsize=64)
def _lexer(language: str) -> Any:
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(language)
    except ClassNotFound:
        return None


@lru_cache(maxsize=1)
def _formatter() -> Any:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(noclasses=True, nowrap=True, style=_STYLE)


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


LIST_ITEM = re.compile(r"^( *)([*+-]|\d{1,9}[.)])( +|$)")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


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
        fence_match = FENCE.match(line)
        if fence_match:
            fence = fence_match.group(1)[0] * 3
            stack.clear()
            out.append(line.lstrip())
            previous = line
            continue
        item = LIST_ITEM.match(line)
        stripped = line.strip()
        if item:
            indent = len(item.group(1))
            while stack and stack[-1] >= indent:
                stack.pop()
            if not stack and previous.strip() and not LIST_ITEM.match(previous) and not previous.startswith(" "):
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
