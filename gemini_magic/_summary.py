"""Plain-language summaries of a finished response: the footer line and finish-reason notes."""

from __future__ import annotations

from typing import Any

from ._response import GeminiResponse

__all__ = ["block_note", "finish_note", "footer_text"]

_REASONS = {
    "SAFETY": "the answer was stopped by the safety filters",
    "RECITATION": "the answer was stopped because it recited protected material",
    "LANGUAGE": "the answer was stopped: the language is not supported",
    "OTHER": "the answer was stopped for an unspecified reason",
    "BLOCKLIST": "the answer was stopped: it contained a blocklisted term",
    "PROHIBITED_CONTENT": "the answer was stopped for prohibited content",
    "SPII": "the answer was stopped: it contained sensitive personal information",
    "MALFORMED_FUNCTION_CALL": "the model produced a malformed function call",
    "UNEXPECTED_TOOL_CALL": "the model called a tool that was not offered",
    "TOO_MANY_TOOL_CALLS": "the model made too many tool calls",
    "IMAGE_SAFETY": "the image was blocked by the safety filters",
    "IMAGE_PROHIBITED_CONTENT": "the image was blocked for prohibited content",
    "IMAGE_RECITATION": "the image was blocked because it recited protected material",
    "IMAGE_OTHER": "the image was blocked for an unspecified reason",
    "NO_IMAGE": "the model produced no image",
}


def finish_note(response: GeminiResponse, max_tokens: int | None = None) -> str | None:
    """One sentence for a finishReason other than STOP (None for a normal finish)."""
    candidate = response.candidate
    reason = candidate.get("finishReason")
    if reason in (None, "STOP", "FINISH_REASON_UNSPECIFIED"):
        return None
    usage = response.usage
    if reason == "MAX_TOKENS":
        limit = max_tokens or usage.get("candidatesTokenCount", 0) + usage.get("thoughtsTokenCount", 0)
        note = f"answer cut at {limit} tokens — raise --max-tokens"
        if usage.get("thoughtsTokenCount"):
            note += f" (thinking used {usage['thoughtsTokenCount']} of them)"
    else:
        note = _REASONS.get(reason, "the answer stopped early")
        blocked = [
            r.get("category", "?").removeprefix("HARM_CATEGORY_")
            for r in candidate.get("safetyRatings") or ()
            if r.get("blocked")
        ]
        if blocked:
            note += f" ({', '.join(blocked)})"
    message = candidate.get("finishMessage")
    return f"{note} [{reason}]" + (f": {message}" if message else "")


_SAFETY_BLOCKS = {"SAFETY", "IMAGE_SAFETY"}  # the only block reasons --safety thresholds can change


def block_note(response: GeminiResponse) -> str | None:
    """The sentence for a prompt the API refused to answer at all.

    A ``promptFeedback.blockReason`` says so; so does a ``promptFeedback`` with no candidate at
    all (``candidates: []``), even when the reason is left out. The reason is named as sent and
    Vertex's ``blockReasonMessage`` is quoted; ``--safety`` is advised only where it can help.
    """
    feedback = response.get("promptFeedback")
    if not feedback or not (feedback.get("blockReason") or not response.get("candidates")):
        return None
    reason = feedback.get("blockReason") or "no blockReason given"
    blocked = [
        r.get("category", "?").removeprefix("HARM_CATEGORY_")
        for r in feedback.get("safetyRatings") or ()
        if r.get("blocked")
    ]
    detail = f" ({', '.join(blocked)})" if blocked else ""
    advice = "rephrase it or adjust --safety" if reason in _SAFETY_BLOCKS else "rephrase it"
    message = feedback.get("blockReasonMessage")
    return f"the prompt was blocked [{reason}]{detail}; nothing was generated — {advice}" + (
        f". The API says: {message}" if message else ""
    )


def footer_text(response: GeminiResponse, model: str, timings: dict[str, Any]) -> str:
    """``model · tokens · timing`` — what a user checks after every answer."""
    usage = response.usage
    items = [response.model_version or model]
    if usage:
        tokens = f"{usage.get('promptTokenCount', 0):,} in → {usage.get('candidatesTokenCount', 0):,} out"
        if usage.get("thoughtsTokenCount"):
            tokens += f" + {usage['thoughtsTokenCount']:,} thinking"
        if usage.get("toolUsePromptTokenCount"):
            tokens += f" + {usage['toolUsePromptTokenCount']:,} tool"
        if usage.get("cachedContentTokenCount"):
            tokens += f" ({usage['cachedContentTokenCount']:,} cached)"
        if usage.get("totalTokenCount"):
            tokens += f" · {usage['totalTokenCount']:,} total"
        items.append(tokens + " tokens")
    if timings.get("first") is not None:
        items.append(f"first token {timings['first']:.2f} s")
    if timings.get("total") is not None:
        items.append(f"{timings['total']:.2f} s")
    return " · ".join(items)
