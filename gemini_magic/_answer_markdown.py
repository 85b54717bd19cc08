"""An answer as Markdown, for front ends and exports that prefer ``text/markdown``, faithful to its HTML.

* Citation markers ``[n]`` at the places the HTML puts them (the same :func:`marker_positions`),
  as text: the numbered sources below link each address once (a grounding redirect is ~200
  characters; linking every marker to it made a cited answer's Markdown four times its text).
* Thought summaries (``--show-thoughts``) as a quoted section before the answer.
* An image as a note where it sits (``*(image 1: image/png, 640×480 — the next output;
  `_gemini.images[0]`)*``): the picture itself is its own ``image/png`` output, so exports keep it.
* After the answer: the numbered sources, the Search Suggestions as links to Google searches, the
  pages read and the recitation sources.

The answer is cut where its images are (:func:`markdown_gaps`), as its HTML is, so each text output
carries the Markdown of its own stretch and a Markdown export reads text, picture, text in order.
Everything from the model or the server goes through :func:`safe_markdown` or :func:`markdown_text`:
no raw HTML, links only to http(s) addresses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ._answer import GeminiCandidate
from ._citations import _markdown_url, marker_positions, sources_markdown, suggestion_links
from ._images import GeminiImage
from ._layout import AnswerLayout, TextRun, _pretty_json
from ._markdown import fenced, markdown_text, safe_markdown

__all__ = ["image_note", "markdown_gaps", "short_plain"]

PLAIN_CHARS = 160  # an answer up to this long is its own text/plain; a longer one is summed up in a line
SUMMARY_CHARS = 60  # of a longer answer's first line in that summary
_HEADING = re.compile(r"Answer \d+")  # above each answer in plain text when there are several


def markdown_gaps(answers: Iterable[tuple[AnswerLayout, dict[str, Any]]]) -> tuple[list[str], list[str]]:
    """The Markdown between the images of all *answers* (each a layout and its candidate): one
    string more than there are images, each image's note at the end of the stretch before it; and
    each image's note as plain text (for its own output's text/plain)."""
    gaps: list[list[str]] = [[]]
    notes: list[str] = []
    for layout, candidate in answers:
        gaps[-1] += [_head(layout, candidate)]
        grounding = candidate.get("groundingMetadata") or {}
        positions = {} if layout.json_mode else marker_positions(layout.answer_text(), grounding)
        images = 0
        for run in layout.runs:
            if isinstance(run, GeminiImage):
                gaps[-1].append(image_note(run, images, layout.name, markdown=True))
                notes.append(image_note(run, images, layout.name))
                gaps.append([])
                images += 1
            elif isinstance(run, TextRun):
                gaps[-1].append(_text(run, positions, json_mode=layout.json_mode))
            else:
                gaps[-1].append(run.markdown)
        gaps[-1].append(_grounding(candidate))
    return ["\n\n".join(piece.strip("\n") for piece in gap if piece.strip()) for gap in gaps], notes


def _head(layout: AnswerLayout, candidate: dict[str, Any]) -> str:
    """The answer's heading (with several candidates), then its thoughts as a quote."""
    heading = f"### {layout.heading()}" if layout.heading() else ""
    thoughts = GeminiCandidate(candidate).thoughts if layout.show_thoughts else ""
    if not thoughts.strip():
        return heading
    quoted = "\n".join(f"> {line}".rstrip() for line in safe_markdown(thoughts.strip()).split("\n"))
    return f"{heading}\n\n> **Thoughts**\n>\n{quoted}".strip()


def _text(run: TextRun, positions: dict[int, list[int]], *, json_mode: bool) -> str:
    """A text run with its citation markers, made safe."""
    text = run.text()
    if json_mode:
        return fenced(_pretty_json(text), "json")
    pieces, last = [], 0
    for at in sorted(p for p in positions if run.start <= p <= run.start + run.length):
        cut = at - run.start
        pieces.append(text[last:cut])
        # a "\" before the marker would escape its own: a space keeps it a marker
        pieces.append((" " if text[last:cut].endswith("\\") else "") + _markers(positions[at]))
        last = cut
    pieces.append(text[last:])
    return safe_markdown("".join(pieces))


def _markers(numbers: list[int]) -> str:
    """``[1][2]`` as Markdown text (escaped: never a link or a reference)."""
    return "".join(f"\\[{number}\\]" for number in numbers)


def _grounding(candidate: dict[str, Any]) -> str:
    """Sources, Search Suggestions as links, pages read, recitation sources: what the HTML lists."""
    grounding = candidate.get("groundingMetadata") or {}
    pieces = [sources_markdown(candidate)]
    queries = [q for q in grounding.get("webSearchQueries") or () if isinstance(q, str) and q.strip()]
    rendered = str((grounding.get("searchEntryPoint") or {}).get("renderedContent") or "")
    links = suggestion_links(rendered, queries) if rendered or queries else []
    if links:
        pieces.append("Google Search: " + " · ".join(_link(text, url) for text, url in links))
    pages = (candidate.get("urlContextMetadata") or {}).get("urlMetadata") or []
    if pages:
        rows = [
            f"* {_link(str(p.get('retrievedUrl', '')), str(p.get('retrievedUrl', '')))} "
            f"({markdown_text(str(p.get('urlRetrievalStatus', '')).removeprefix('URL_RETRIEVAL_STATUS_'))})"
            for p in pages
        ]
        pieces.append("Pages read:\n\n" + "\n".join(rows))
    recited = (candidate.get("citationMetadata") or {}).get("citationSources") or []
    if recited:
        rows = [f"* {_link(str(s.get('uri', '')), str(s.get('uri', '')) or '(no link)')}" for s in recited]
        pieces.append("Recitation sources:\n\n" + "\n".join(rows))
    return "\n\n".join(p for p in pieces if p)


def _link(text: str, url: str) -> str:
    """``[text](url)`` for an http(s) address, else the text alone."""
    shown = markdown_text(text) or "link"
    return f"[{shown}]({_markdown_url(url)})" if url.lower().startswith(("http://", "https://")) else shown


def image_note(image: GeminiImage, index: int, name: str, *, markdown: bool = False) -> str:
    """``image 1: image/png, 640×480 — the next output; _gemini.images[0]`` (in Markdown: italic, the
    name as code): where an answer's picture is, for the text forms, instead of its bytes."""
    size = f", {image.size[0]}×{image.size[1]}" if image.size else ""
    where = f"{name}.images[{index}]"
    if markdown:
        return f"*(image {index + 1}: {markdown_text(image.mime_type)}{size} — the next output; `{where}`)*"
    return f"image {index + 1}: {image.mime_type}{size}, {len(image.data):,} bytes — {where}"


def short_plain(text: str) -> str:
    """*text* as it is when short; else one line: its start and where the whole answer is (the HTML
    and Markdown outputs hold it, so the notebook need not store it a third time), then the lines
    that say how to keep a recording (the player is only in the HTML).

    The pointer names the response, not ``_gemini`` alone: ``generate(display=True)`` shows the
    same output and sets no ``_gemini``; its return value is the response."""
    recordings = [line for line in text.splitlines() if line.startswith("🔊 ")]
    words = "\n".join(line for line in text.splitlines() if not line.startswith("🔊 "))
    if len(words) <= PLAIN_CHARS:
        return text
    first = next((line for line in words.splitlines() if line.strip() and not _HEADING.fullmatch(line)), "").strip()
    start = first[:SUMMARY_CHARS]
    if len(first) > SUMMARY_CHARS and " " in start[SUMMARY_CHARS // 2 :]:
        start = start[: start.rfind(" ")]
    pointer = f"[{len(words):,} characters in all: the response's .text]"
    return "\n".join([f"{start.rstrip()}… {pointer}", *recordings])
