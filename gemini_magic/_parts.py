"""Non-text parts (code, tool calls, images…) as small sanitized HTML blocks.

Kept separate from Markdown rendering because each part kind has its own shape on the wire
(shared/gemini-wire.md §2.2) and its own way to be read.
"""

from __future__ import annotations

import html
import json
from typing import Any

from ._markdown import code_span, fenced, highlight, markdown_text
from ._response import part_kind

__all__ = ["part_html", "part_markdown"]

_OUTCOMES = {
    "OUTCOME_OK": "OK",
    "OUTCOME_FAILED": "FAILED",
    "OUTCOME_DEADLINE_EXCEEDED": "DEADLINE_EXCEEDED",
}


def _compact(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _language(value: dict[str, Any]) -> str:
    return str(value.get("language", "python")).lower()


def _outcome(value: dict[str, Any]) -> str:
    return _OUTCOMES.get(str(value.get("outcome")), str(value.get("outcome", "")))


def part_markdown(part: dict[str, Any]) -> str:
    """A Markdown rendering of one non-text part (for the text/markdown output and terminals).

    Values come from the model or server: code goes in fences no backtick inside can close, and
    everything else in code spans or escaped, so the Markdown holds no raw HTML.
    """
    kind = part_kind(part)
    value = part.get(kind)
    if kind == "executableCode" and isinstance(value, dict):
        return fenced(str(value.get("code", "")), _language(value))
    if kind == "codeExecutionResult" and isinstance(value, dict):
        return f"Output ({markdown_text(_outcome(value))}):\n\n{fenced(str(value.get('output', '')))}"
    if kind in ("functionCall", "toolCall", "functionResponse", "toolResponse") and isinstance(value, dict):
        return code_span(_text(kind, value))
    return markdown_text(_text(kind, value))


def _text(kind: str, value: Any) -> str:
    """One line of plain text for a tool call, a tool result or a data part."""
    if isinstance(value, dict):
        name = str(value.get("name") or value.get("toolType") or "tool")
        if kind in ("functionCall", "toolCall"):
            return f"{name}({_compact(value.get('args', {}))})"
        if kind in ("functionResponse", "toolResponse"):
            return f"{name} → {_compact(value.get('response', {}), 160)}"
        if kind == "inlineData":
            return f"[{value.get('mimeType', 'data')}, {len(str(value.get('data', ''))) * 3 // 4:,} bytes]"
    return f"[{kind}]"


def part_html(part: dict[str, Any]) -> str:
    """HTML for one non-text part; every value is escaped here, nothing model-made is trusted."""
    kind = part_kind(part)
    value = part.get(kind)
    if kind == "executableCode" and isinstance(value, dict):
        return f"<p><small>Code</small></p>{highlight(str(value.get('code', '')), _language(value))}"
    if kind == "codeExecutionResult" and isinstance(value, dict):
        return (
            f"<p><small>Output ({html.escape(_outcome(value))})</small></p>"
            f"<pre><samp>{html.escape(str(value.get('output', '')))}</samp></pre>"
        )
    return f"<p><code>{html.escape(_text(kind, value))}</code></p>"
