"""Grounding and citation metadata → numbered markers in the answer and a source list.

Offsets in ``groundingSupports[].segment`` are UTF-8 *byte* offsets into the concatenated
non-thought answer text (shared/gemini-wire.md §3.2), not character offsets: counting characters
puts every marker after the first non-ASCII character in the wrong place. On Gemini 3 they can
drift by a few bytes, so when ``segment.text`` is present and the slice does not match it, the
segment is looked for nearby.

Everything here builds HTML from untrusted values (titles, URIs, queries): all of it is escaped
and passed through the sanitizer; Google's Search Suggestions HTML is shown only inside a
sandboxed ``<iframe srcdoc>`` with scripts disabled, so its CSS cannot reach the notebook.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urlsplit

from ._markdown import markdown_text, placeholder
from ._sanitize import IFRAME_SANDBOX, sanitize
from ._theme import CHIP_HEIGHT

__all__ = [
    "insert_markers",
    "marker_positions",
    "search_suggestions_html",
    "sources_html",
    "sources_markdown",
    "suggestion_links",
]

_NEARBY = 64  # bytes either side of a drifted offset where the segment text is looked for


def marker_positions(text: str, grounding: dict[str, Any]) -> dict[int, list[int]]:
    """Character position in *text* → 1-based source numbers cited at that position."""
    data = text.encode()
    chunks = grounding.get("groundingChunks") or []
    positions: dict[int, list[int]] = {}
    for support in grounding.get("groundingSupports") or ():
        segment = support.get("segment") or {}
        numbers = [i + 1 for i in support.get("groundingChunkIndices") or () if 0 <= i < len(chunks)]
        if not numbers or "endIndex" not in segment:
            continue
        end = _segment_end(data, int(segment.get("startIndex") or 0), int(segment["endIndex"]), segment.get("text"))
        char = len(data[:end].decode("utf-8", "ignore"))
        cited = positions.setdefault(char, [])
        cited.extend(n for n in numbers if n not in cited)
    return {pos: sorted(nums) for pos, nums in positions.items()}


def _segment_end(data: bytes, start: int, end: int, text: str | None) -> int:
    end = max(0, min(end, len(data)))
    start = max(0, min(start, end))
    if not text:
        return end
    wanted = text.encode()
    if data[start:end] == wanted:
        return end
    low = max(0, start - _NEARBY)
    found = data.find(wanted, low, min(len(data), end + _NEARBY))
    if found < 0:
        found = data.find(wanted)
    return found + len(wanted) if found >= 0 else end


def insert_markers(text: str, positions: dict[int, list[int]], chunks: list[Any]) -> tuple[str, dict[str, str]]:
    """*text* with a placeholder at each cited position, and the ``[n]`` link HTML for each one.

    The markers are not written into the Markdown as raw HTML (raw HTML in model text is shown as
    text); :func:`render_markdown` fills the placeholders in before its final sanitizing pass.
    """
    pieces: list[str] = []
    inserts: dict[str, str] = {}
    last = 0
    for pos in sorted(positions):
        token = placeholder("c", len(inserts))
        inserts[token] = "".join(_marker(n, chunks[n - 1]) for n in positions[pos])
        pieces.append(text[last:pos])
        pieces.append(token)
        last = pos
    pieces.append(text[last:])
    return "".join(pieces), inserts


def _marker(number: int, chunk: dict[str, Any]) -> str:
    """``[n]``, a link to its source when it has an http(s) address. No ``title``: the numbered
    sources below name each one, and a saved notebook holds every marker (the sanitizer adds
    ``target`` and ``rel`` to every link)."""
    uri, _ = _chunk_link(chunk)
    label = f'<a href="{html.escape(uri)}">[{number}]</a>' if uri else f"[{number}]"
    return f'<sup class="gm-cite">{label}</sup>'


def _chunk_link(chunk: dict[str, Any]) -> tuple[str, str]:
    """(uri, title) of a grounding chunk of any kind; the uri only if it is http(s)."""
    kinds = ("web", "retrievedContext", "maps", "image")
    body: dict[str, Any] = next((chunk[k] for k in kinds if isinstance(chunk.get(k), dict)), {})
    uri = str(body.get("uri") or body.get("sourceUri") or "")
    store = str(body.get("fileSearchStore") or "").rsplit("/", 1)[-1]
    title = str(
        body.get("title") or body.get("documentName") or uri or (f"file search: {store}" if store else "source")
    )
    return (uri if uri.lower().startswith(("http://", "https://")) else ""), title


def _domain(uri: str, title: str) -> str:
    if "." in title and " " not in title and "/" not in title:
        return title
    return urlsplit(uri).hostname or ""


def sources_html(candidate: dict[str, Any]) -> str:
    """Source list, searched queries, URL-context and recitation notes, then Search Suggestions."""
    grounding = candidate.get("groundingMetadata") or {}
    parts: list[str] = []
    chunks = grounding.get("groundingChunks") or []
    if chunks:
        items = []
        for chunk in chunks:
            uri, title = _chunk_link(chunk)
            name = html.escape(title)
            link = f'<a href="{html.escape(uri)}">{name}</a>' if uri else name
            domain = _domain(uri, title)
            extra = f" <small>{html.escape(domain)}</small>" if domain and domain != title else ""
            snippet = (chunk.get("retrievedContext") or {}).get("text")
            if snippet:
                extra += f"<br><small>{html.escape(_clip(str(snippet), 200))}</small>"
            items.append(f"<li>{link}{extra}</li>")
        parts.append(f'<div class="gm-sources"><p><strong>Sources</strong></p><ol>{"".join(items)}</ol></div>')
    queries = [q for q in grounding.get("webSearchQueries") or () if isinstance(q, str) and q.strip()]
    if queries:
        searched = ", ".join(f"“{html.escape(q)}”" for q in queries)
        parts.append(f"<p><small>Searched: {searched}</small></p>")
    urls = (candidate.get("urlContextMetadata") or {}).get("urlMetadata") or []
    if urls:
        rows = []
        for meta in urls:
            url = str(meta.get("retrievedUrl", ""))
            status = str(meta.get("urlRetrievalStatus", "")).removeprefix("URL_RETRIEVAL_STATUS_")
            shown = (
                f'<a href="{html.escape(url)}">{html.escape(url)}</a>' if url.startswith("http") else html.escape(url)
            )
            rows.append(f"<li>{shown} <small>{html.escape(status)}</small></li>")
        parts.append(f"<p><small>Pages read</small></p><ul>{''.join(rows)}</ul>")
    recited = (candidate.get("citationMetadata") or {}).get("citationSources") or []
    if recited:
        rows = []
        for source in recited:
            uri = str(source.get("uri", ""))
            label = f'<a href="{html.escape(uri)}">{html.escape(uri)}</a>' if uri.startswith("http") else "(no link)"
            licence = f" <small>{html.escape(str(source['license']))}</small>" if source.get("license") else ""
            rows.append(f"<li>{label}{licence}</li>")
        parts.append(f"<p><small>Recitation sources</small></p><ul>{''.join(rows)}</ul>")
    suggestions = (grounding.get("searchEntryPoint") or {}).get("renderedContent")
    if suggestions:
        parts.append(search_suggestions_html(str(suggestions), queries))
    return sanitize("".join(parts))


# The frame's own page: transparent and without margin, and links open a new tab (google.com refuses
# to load inside a frame). It declares no colour scheme, like the frame element (``_theme`` sets it
# to ``normal`` there; JupyterLab Dark gives the page ``dark``): when the two differ, the browser
# paints the frame's canvas opaque, the white band seen on dark themes.
_FRAME_PAGE = (
    '<!DOCTYPE html><meta charset="utf-8"><base target="_blank">'
    "<style>html,body{margin:0;padding:0;background:transparent}</style>"
)
# Google's chip picks light or dark colours with ``prefers-color-scheme``, which inside a frame is the
# browser's setting, not the notebook's theme (a frame cannot see its parent's CSS). The frame's height
# can carry it: ``_theme`` makes the frame one pixel taller on a dark theme, and the chip's dark rules
# apply from that height.
_SCHEME = re.compile(r"\(\s*prefers-color-scheme\s*:\s*(light|dark)\s*\)", re.IGNORECASE)
_BY_HEIGHT = {"light": f"(max-height: {CHIP_HEIGHT}.5px)", "dark": f"(min-height: {CHIP_HEIGHT + 1}px)"}
_MAX_LINKS = 12


def search_suggestions_html(rendered: str, queries: list[str]) -> str:
    """Google's Search Suggestions chip, isolated, and the same suggestions as plain links.

    The chip runs in a sandboxed ``<iframe srcdoc>``: no scripts, no same-origin, its CSS stays
    inside (the sanitizer forces the ``sandbox`` value and never allows ``src``). JupyterLab drops
    iframes from untrusted notebooks (one executed by nbconvert, or someone else's), and Google's
    terms want the suggestions shown with a grounded answer, so the links follow as a plain
    paragraph, hidden by our stylesheet while the frame is there (``_theme``).
    """
    frame = (
        '<iframe class="gm-search-suggestions" title="Google Search Suggestions" '
        f'sandbox="{IFRAME_SANDBOX}" referrerpolicy="no-referrer" '
        f'style="width:100%;height:{CHIP_HEIGHT}px;border:0" '
        f'srcdoc="{html.escape(_FRAME_PAGE + _SCHEME.sub(_by_height, rendered), quote=True)}"></iframe>'
    )
    links = " · ".join(
        f'<a href="{html.escape(url)}">{html.escape(text)}</a>' for text, url in suggestion_links(rendered, queries)
    )
    return frame + (f'<p class="gm-search-links"><small>Google Search:</small> {links}</p>' if links else "")


def _by_height(match: re.Match[str]) -> str:
    return _BY_HEIGHT[match.group(1).lower()]


def suggestion_links(rendered: str, queries: list[str]) -> list[tuple[str, str]]:
    """(text, url) of each suggestion: the chips' own links in Google's HTML (https only), else a
    Google search for each of ``webSearchQueries``."""
    parser = _ChipLinks()
    parser.feed(rendered)
    parser.close()
    links = parser.links or [(q, _SEARCH + quote(q, safe="")) for q in queries]
    return [(" ".join(text.split()), url) for text, url in links[:_MAX_LINKS]]


_SEARCH = "https://www.google.com/search?q="


class _ChipLinks(HTMLParser):
    """Collects ``<a href="https://…">text</a>`` from Google's chip HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href") or ""
        if tag == "a" and href.lower().startswith("https://") and len(self.links) < _MAX_LINKS:
            self._href, self._text = href, []

    def handle_data(self, data: str) -> None:
        if self._href is not None and len(self._text) < 100:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            text = _clip("".join(self._text), 200)
            if text:
                self.links.append((text, self._href))
            self._href = None


def sources_markdown(candidate: dict[str, Any]) -> str:
    """The source list for the text/markdown output."""
    chunks = (candidate.get("groundingMetadata") or {}).get("groundingChunks") or []
    lines = []
    for number, chunk in enumerate(chunks, 1):
        uri, title = _chunk_link(chunk)
        lines.append(
            f"{number}. [{markdown_text(title)}]({_markdown_url(uri)})" if uri else f"{number}. {markdown_text(title)}"
        )
    return ("**Sources**\n\n" + "\n".join(lines)) if lines else ""


def _markdown_url(uri: str) -> str:
    return quote(uri, safe=":/?#@!$&'*+,;=%~[]")


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
