"""Markdown → sanitized HTML with Python-Markdown, adapted to how chat models write.

* Nested lists indented by 2 spaces and lists/tables right after a paragraph line are normalised
  for Python-Markdown's stricter rules.
* Raw HTML in model text is text: Python-Markdown's HTML handling is switched off, so
  ``List<String>`` or ``a <b> c`` show literally and only tags our Markdown makes reach the output.
* Math (``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\[…\\]``) is swapped for placeholders before Markdown, so
  ``_`` and ``*`` inside it survive and the front end can typeset it. Placeholders are filled in
  (HTML-escaped, quotes included: one may sit in an attribute) *before* sanitizing, which is always
  the last step — never after it.
* Remote images become links unless ``GeminiMagic.remote_images`` allows them (see ``_sanitize``).
* Fenced code is highlighted with Pygments after rendering, with one cached formatter and lexer
  per language (Python-Markdown's codehilite builds a formatter per block: half the render time).
* Inline patterns for reference-style links are dropped: models do not write them, and each
  pattern costs a pass over every text node.

``markdown`` and ``pygments`` are imported on first use.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING

from ._sanitize import policy, sanitize
from ._theme import PLAIN_CLASSES

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

    from markdown import Markdown
    from pygments.formatters import HtmlFormatter
    from pygments.lexer import Lexer

__all__ = [
    "FENCE",
    "LIST_ITEM",
    "code_span",
    "fenced",
    "highlight",
    "markdown_text",
    "placeholder",
    "render_markdown",
    "safe_markdown",
]

_markdown: Markdown | None = None
_UNUSED_INLINE = ("reference", "image_reference", "short_reference", "short_image_ref", "automail")


def render_markdown(text: str, inserts: Mapping[str, str] | None = None) -> str:
    """Render one Markdown fragment (GFM-style tables, fences, 2-space nested lists) safely.

    *inserts* maps placeholder tokens in *text* (see :func:`placeholder`) to trusted HTML of ours,
    such as citation markers; they are filled in before the final sanitizing pass.
    """
    global _markdown
    if _markdown is None:
        _markdown = _make_markdown()
    protected, stash = _protect(text)
    rendered = _markdown.reset().convert(_normalise(protected))
    if "<pre><code" in rendered:
        rendered = _CODE_BLOCK.sub(_highlight_block, rendered)
    if f"GM{_NONCE}" in rendered:
        fill = {placeholder("m", index): html.escape(math) for index, math in enumerate(stash)}
        fill[placeholder("b", 0)] = "<br>"
        fill.update(inserts or {})
        rendered = _PLACEHOLDER.sub(lambda m: fill.get(m.group(0), m.group(0)), rendered)
    return sanitize(rendered)


def _make_markdown() -> Markdown:
    import markdown
    from markdown.treeprocessors import Treeprocessor

    class RemoteImages(Treeprocessor):
        def run(self, root: Element) -> None:
            _unload_remote_images(root)

    md = markdown.Markdown(
        # sane_lists also keeps "3." as the start of a list cut into blocks (no lazy numbering)
        extensions=["tables", "fenced_code", "sane_lists"],
        output_format="html",
    )
    for name in _UNUSED_INLINE:
        md.inlinePatterns.deregister(name)
    md.inlinePatterns.deregister("html")  # raw inline HTML in model text stays text
    md.preprocessors.deregister("html_block")  # … and so do raw HTML blocks
    md.parser.blockprocessors.deregister("reference")
    md.treeprocessors.deregister("prettify")  # only adds newlines
    md.treeprocessors.register(RemoteImages(md), "gm_remote_images", 0)
    return md


def _unload_remote_images(root: Element) -> None:
    """Replace ``<img>`` with a link showing its alt text, unless remote images are allowed."""
    if policy.remote_images:
        return
    for parent in root.iter():
        for index, child in enumerate(parent):
            if child.tag == "img":
                parent[index] = _image_link(child)


def _image_link(image: Element) -> Element:
    from xml.etree.ElementTree import Element

    src = str(image.get("src") or "")
    alt = str(image.get("alt") or "").strip() or "image"
    if src.lower().startswith(("http://", "https://")):
        link = Element("a", {"href": src, "title": f"remote image, not loaded: {src}", "class": "gm-remote-image"})
    else:
        link = Element("span")
    link.text = f"🖼 {alt}"
    link.tail = image.tail
    return link


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
    """Pygments' short token classes, coloured by our stylesheet from the front end's theme
    (``_theme``); spans of classes it leaves uncoloured are dropped, so the HTML stays small.
    Without the stylesheet (GitHub drops ``<style>``) the code reads as plain text."""
    from pygments import highlight as pygmentize

    lexer = _lexer(language.lower())
    if lexer is None:
        return f"<pre><code>{html.escape(code, quote=False)}</code></pre>"
    spans = _PLAIN_SPAN.sub(_span_text, pygmentize(code, lexer, _formatter()))
    return f'<pre><code class="gm-hl">{spans}</code></pre>'


_PLAIN_SPAN = re.compile(f'<span class="(?:{"|".join(sorted(PLAIN_CLASSES))})">([^<]*)</span>')


def _span_text(match: re.Match[str]) -> str:
    return match.group(1)


@lru_cache(maxsize=64)
def _lexer(language: str) -> Lexer | None:
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(language)
    except ClassNotFound:
        return None


@lru_cache(maxsize=1)
def _formatter() -> HtmlFormatter[str]:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(nowrap=True)


_MATH = re.compile(
    r"\$\$.+?\$\$"  # display math
    r"|\\\[.+?\\\]|\\\(.+?\\\)"  # \[ … \] and \( … \)
    r"|(?<![\\$\w])\$(?=[^\s$])(?:[^$\n\\]|\\.)+?(?<=[^\s\\])\$(?![\w$])",  # $x$, not "$5 and $6"
    re.DOTALL,
)


_NONCE = secrets.token_hex(4)
_PLACEHOLDER = re.compile(rf"GM{_NONCE}[a-z]\d+Z")


def placeholder(kind: str, index: int) -> str:
    """An inert token Markdown leaves alone; unguessable, so model text cannot forge one."""
    return f"GM{_NONCE}{kind}{index}Z"


_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def _protect(text: str) -> tuple[str, list[str]]:
    """Swap math spans and ``<br>`` outside code for inert placeholders.

    Math, so Markdown cannot eat ``_`` or ``*`` inside it; a bare ``<br>`` (models put line breaks
    in table cells that way), because raw HTML is otherwise shown as text.
    """
    math = "$" in text or "\\" in text
    if not math and "<" not in text:
        return text, []
    stash: list[str] = []

    def keep(match: re.Match[str]) -> str:
        stash.append(match.group(0))
        return placeholder("m", len(stash) - 1)

    def prose(part: str) -> str:
        part = _BREAK.sub(lambda _: placeholder("b", 0), part)
        return _MATH.sub(keep, part) if math else part

    return _outside_code(text, prose), stash


# A fenced block (to its closing fence or the end) or an inline code span (within one paragraph).
_CODE = re.compile(
    r"^ {0,3}(?P<fence>`{3,}|~{3,})[^\n]*(?:\n.*?(?:\n {0,3}(?P=fence)[`~]*[ \t]*(?=\n|\Z)|\Z)|\Z)"
    r"|(?<![`\\])(?P<ticks>`+)(?!`)(?:(?!\n[ \t]*\n).)+?(?<!`)(?P=ticks)(?!`)",
    re.MULTILINE | re.DOTALL,
)


def _outside_code(text: str, change: Callable[[str], str]) -> str:
    """Apply *change* to the prose of *text*, leaving fenced blocks and code spans as written."""
    pieces: list[str] = []
    last = 0
    for match in _CODE.finditer(text):
        pieces.append(change(text[last : match.start()]))
        pieces.append(match.group(0))
        last = match.end()
    pieces.append(change(text[last:]))
    return "".join(pieces)


_RAW_HTML = re.compile(r"<(?=[A-Za-z/!?])(?!br\s*/?>)", re.IGNORECASE)
_IMAGE = re.compile(r"!\[")
_SAFE_TARGET = r"(?!\s*<?(?:https?://|mailto:))"
_UNSAFE_LINK = re.compile(r"\]\(" + _SAFE_TARGET)
_UNSAFE_DEFINITION = re.compile(r"^( {0,3})\[(?=[^\]\n]*\]:" + _SAFE_TARGET + ")", re.MULTILINE)


def safe_markdown(text: str) -> str:
    """Model Markdown made safe for front ends that render ``text/markdown`` themselves.

    Outside code: a ``<`` that would open raw HTML becomes ``&lt;`` (shown as ``<``); a link whose
    target is not http(s)/mailto stays text; and, unless remote images are allowed, ``![alt](url)``
    becomes a link (``[🖼 alt](url)``), so no renderer fetches it. When unsure whether a span is
    code, it is treated as prose: a stray ``&lt;`` is better than live HTML.
    """

    def prose(part: str) -> str:
        part = _RAW_HTML.sub("&lt;", part)
        if not policy.remote_images:
            part = _IMAGE.sub("[🖼 ", part)
        part = _UNSAFE_LINK.sub(lambda _: "]\\(", part)
        return _UNSAFE_DEFINITION.sub(lambda m: m.group(1) + "\\[", part)

    if "<" not in text and "](" not in text and "]:" not in text:
        return text
    return _outside_code(text, prose)


def fenced(code: str, language: str = "") -> str:
    """*code* as a Markdown code block whose fence no backtick run inside it can close."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    info = _NOT_INFO.sub("", language)
    return f"{fence}{info}\n{code}\n{fence}"


_NOT_INFO = re.compile(r"[^\w+#.-]")
_MARKDOWN_SPECIAL = re.compile(r"[\\`*_{}\[\]<>()#+!|~&$-]")


def markdown_text(text: str) -> str:
    """Server or model text (titles, messages) for Markdown: no markup, no raw HTML, one line."""
    return _MARKDOWN_SPECIAL.sub(r"\\\g<0>", " ".join(text.split()))


def code_span(text: str) -> str:
    """*text* as one inline code span (one line), whatever backticks it holds."""
    text = " ".join(text.split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


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
