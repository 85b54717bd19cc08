"""Everything the magic shows, rendered as MIME bundles: pure functions, no display.

Showing is :mod:`._display`'s job; here each output is built once, in every form a front end may
prefer: ``text/html`` (sanitized as the very last step), ``text/markdown`` (no raw HTML from the
model or the server) and ``text/plain`` (no control characters, for terminal front ends).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from ._answer_markdown import markdown_gaps, short_plain
from ._candidates import answer_sections, candidate_layouts
from ._errors import printable
from ._images import GeminiImage
from ._layout import AnswerLayout
from ._markdown import fenced, markdown_text
from ._response import GeminiResponse
from ._sanitize import sanitize
from ._theme import stylesheet

__all__ = [
    "SHOWN_CHARS",
    "Bundle",
    "Outputs",
    "dry_run_bundle",
    "final_bundles",
    "note_bundle",
    "plain_bundle",
    "table_bundle",
    "text_bundle",
    "tool_results_bundle",
    "transcript_bundle",
]

#: One output: its MIME data and its metadata.
Bundle = tuple[dict[str, Any], dict[str, Any]]
SHOWN_CHARS = 300  # of each tool call and result in the "Ran" list: a 5 MB argument must not fill the notebook


class Outputs(list[Bundle]):
    """An answer's final outputs, and its footer line for the terminal view, which prints it: the
    footer is in the HTML and the Markdown already, so the saved metadata does not repeat it."""

    def __init__(self, footer: str) -> None:
        super().__init__()
        self.footer = footer


def _html(body: str) -> str:
    """Our wrapper, with the stylesheet the body needs (the sanitizer keeps only ours)."""
    return sanitize(f'<div class="gemini-magic">{stylesheet(body)}{body}</div>')


def _note_html(message: str) -> str:
    return f"<p><strong>⚠ {html.escape(message)}</strong></p>"


def text_bundle(text: str) -> Bundle:
    """A plain message (``%gemini chats``, "cache cleared")."""
    return {"text/plain": printable(text)}, {}


def note_bundle(message: str) -> Bundle:
    """A ⚠ line of its own (e.g. the tool-round limit was reached)."""
    return {"text/plain": f"⚠ {printable(message)}", "text/html": _html(_note_html(message))}, {}


def plain_bundle(layout: AnswerLayout) -> Bundle:
    """The answer as escaped plain text: what is left to show when rendering it failed."""
    text = layout.answer_text() or "(no text)"
    return {
        "text/plain": printable(text),
        "text/html": f'<div class="gemini-magic"><pre>{html.escape(text)}</pre></div>',
    }, {}


def table_bundle(header: Sequence[str], rows: Sequence[Sequence[str]], caption: str = "") -> Bundle:
    """A table as HTML and as aligned plain text (``%gemini config``, ``%gemini models``)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    small = f"<p><small>{html.escape(caption)}</small></p>" if caption else ""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in (header, *rows)]
    text = "\n".join([*lines, *([caption] if caption else [])])
    page = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{small}"
    return {"text/plain": printable(text), "text/html": sanitize(page)}, {}


def tool_results_bundle(calls: Sequence[dict[str, Any]], replies: Sequence[dict[str, Any]]) -> Bundle:
    """One line per function run: what was called and what went back, each cut to ``SHOWN_CHARS``
    (the whole exchange is in ``_gemini.request``)."""
    rows = []
    for call, reply in zip(calls, replies, strict=True):
        args = json.dumps(call.get("args") or {}, ensure_ascii=False, default=repr)
        result = json.dumps(reply["functionResponse"]["response"], ensure_ascii=False, default=repr)
        rows.append((_cut(f"{call.get('name')}({args})"), _cut(result)))
    text = "\n".join(f"ran {c} → {r}" for c, r in rows)
    items = "".join(f"<li><code>{html.escape(c)}</code> → <code>{html.escape(r)}</code></li>" for c, r in rows)
    return {"text/plain": printable(text), "text/html": _html(f"<small>Ran</small><ul>{items}</ul>")}, {}


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def dry_run_bundle(url: str, auth_header: str, masked: str, body: dict[str, Any], note: str = "") -> Bundle:
    """What would be sent; the key is replaced by a description of it."""
    lines = [
        f"POST {url}",
        "Content-Type: application/json",
        f"{auth_header}: {masked}",
        "",
        json.dumps(shorten_base64(body), indent=2, ensure_ascii=False),
        *([f"\n({note})"] if note else []),
    ]
    text = "\n".join(lines)
    return {"text/plain": text, "text/markdown": fenced(text, "http")}, {}


def shorten_base64(value: Any) -> Any:
    """Long base64 (inline data, thought signatures) as a size, so a dry run stays readable."""
    if isinstance(value, dict):
        return {
            k: f"<{len(v):,} characters of base64>"
            if k in ("data", "thoughtSignature") and isinstance(v, str) and len(v) > 80
            else shorten_base64(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [shorten_base64(v) for v in value]
    return value


def transcript_bundle(turns: Sequence[dict[str, Any]]) -> Bundle:
    """A conversation, turn by turn (``%gemini chat NAME``)."""
    from ._markdown import render_markdown, safe_markdown
    from ._parts import part_markdown

    blocks = []
    for turn in turns:
        parts = turn.get("parts", [])
        pieces = [p["text"] for p in parts if "text" in p and not p.get("thought")]
        pieces += [part_markdown(p) for p in parts if "text" not in p]
        blocks.append(f"**{markdown_text(str(turn.get('role', 'user')))}:** " + "\n\n".join(pieces))
    markdown = "\n\n---\n\n".join(blocks)
    return {
        "text/html": _html(render_markdown(markdown)),
        "text/markdown": safe_markdown(markdown),
        "text/plain": printable(markdown),
    }, {}


def final_bundles(response: GeminiResponse, layout: AnswerLayout, footer: str, notes: list[str]) -> Outputs:
    """The static outputs that replace the live view: the answer as HTML and Markdown, cut where its
    images are (each image an output of its own in between), then the sources, notes and footer.

    A saved notebook keeps the answer twice, not three times: text/plain (what ``jupyter console``
    prints) is the whole text only when it is short, else one line of its start and where the rest
    is (:func:`short_plain`), then the notes; the footer is in the HTML and the Markdown (and on the
    returned :class:`Outputs`, for the terminal view). The metadata (model version, finish reason,
    token counts) goes on the first output only, with the counts alone: the per-modality details
    are in ``_gemini.usage``.
    """
    answers = answer_sections(response, layout)  # each candidate under its heading, with its sources
    markdown, image_notes = markdown_gaps(candidate_layouts(response, layout))
    pages, images = _between_images(answers.segments)
    notes_html = "".join(_note_html(note) for note in notes)
    tail_html = f"{notes_html}<hr><p><small>{html.escape(footer)}</small></p>"
    tail_markdown = "\n\n".join([*(f"**⚠ {markdown_text(note)}**" for note in notes), f"*{markdown_text(footer)}*"])
    plain = "\n".join([short_plain(answers.plain), *(f"⚠ {note}" for note in notes)])
    counts = {k: v for k, v in response.usage.items() if isinstance(v, int)}
    metadata = {
        "gemini_magic": {
            "modelVersion": response.model_version,
            "finishReason": response.finish_reason,
            "usage": counts,
        }
    }
    bundles = Outputs(footer)
    last = len(images)
    for index, (page, text) in enumerate(zip(pages, markdown, strict=True)):
        if index == last:
            page, text = page + tail_html, f"{text}\n\n{tail_markdown}".strip()
        if index in (0, last) or page or text:
            data = {"text/html": _html(page), "text/markdown": text}
            if index == 0:  # text/plain (no control characters) and the metadata, once
                data["text/plain"] = printable(plain)
            bundles.append((data, metadata if index == 0 else {}))
        if index < last:
            image = images[index]
            bundles.append(({image.mime_type: image.base64(), "text/plain": image_notes[index]}, {}))
    return bundles


def _between_images(segments: list[str | GeminiImage]) -> tuple[list[str], list[GeminiImage]]:
    """The HTML before, between and after the images (one more than the images), and the images."""
    pages, images = [""], []
    for segment in segments:
        if isinstance(segment, GeminiImage):
            images.append(segment)
            pages.append("")
        else:
            pages[-1] += segment
    return pages, images
