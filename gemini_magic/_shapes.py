"""Type checks for response events at the boundary, before anything reads them.

Model output and server bytes are hostile: ``{"text": 5}`` or ``"usageMetadata": [1]`` would
otherwise surface as a TypeError deep in rendering, long after the stream. Each event is checked
against the fields we read (shared/gemini-wire.md §3); a wrong type is a
:class:`~gemini_magic._errors.GeminiStreamError` that names the field. Unknown fields and unknown
enum values are fine and kept, because the API grows; a ``null`` field is dropped, since proto3 JSON
reads null as the default value (gateways do send them).
"""

from __future__ import annotations

from typing import Any

from ._errors import GeminiStreamError

__all__ = ["check_event"]

# A spec is a Python type (the value's JSON type), a dict (an object with these known fields),
# or a one-item list (an array of that spec).
Spec = type | dict[str, Any] | list[Any]

_RATINGS = [{"category": str, "probability": str, "blocked": bool}]
_PART = {
    "text": str,
    "thought": bool,
    "thoughtSignature": str,
    "inlineData": {"mimeType": str, "data": str},
    "functionCall": {"name": str, "args": dict},
    "functionResponse": {"name": str, "response": dict},
    "executableCode": {"code": str, "language": str},
    "codeExecutionResult": {"outcome": str, "output": str},
}
_GROUNDING = {
    "groundingChunks": [{"web": dict, "retrievedContext": dict, "maps": dict, "image": dict}],
    "groundingSupports": [
        {"segment": {"startIndex": int, "endIndex": int, "text": str}, "groundingChunkIndices": [int]}
    ],
    "webSearchQueries": list,
    "searchEntryPoint": {"renderedContent": str},
}
_CANDIDATE = {
    "index": int,
    "content": {"role": str, "parts": [_PART]},
    "finishReason": str,
    "finishMessage": str,
    "safetyRatings": _RATINGS,
    "citationMetadata": {"citationSources": [{"startIndex": int, "endIndex": int, "uri": str, "license": str}]},
    "groundingMetadata": _GROUNDING,
    "urlContextMetadata": {"urlMetadata": [dict]},
}
_COUNTS = (
    "promptTokenCount",
    "candidatesTokenCount",
    "totalTokenCount",
    "thoughtsTokenCount",
    "cachedContentTokenCount",
    "toolUsePromptTokenCount",
)
_EVENT = {
    "candidates": [_CANDIDATE],
    "promptFeedback": {"blockReason": str, "blockReasonMessage": str, "safetyRatings": _RATINGS},
    "usageMetadata": dict.fromkeys(_COUNTS, int),
    "modelVersion": str,
    "responseId": str,
}

_NAMES: dict[type, str] = {
    str: "a string",
    int: "an integer",
    bool: "true or false",
    dict: "an object",
    list: "an array",
}


def _json_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return _NAMES.get(type(value), type(value).__name__)


def _check(value: Any, spec: Spec, path: str) -> None:
    kind = dict if isinstance(spec, dict) else list if isinstance(spec, list) else spec
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise GeminiStreamError(f"malformed response: {path} is {_json_name(value)}, expected {_NAMES[kind]}")
    if isinstance(spec, dict):
        for key, sub in spec.items():
            if key in value and value[key] is None:
                del value[key]  # proto3 JSON: null means the default value, i.e. the field left out
            elif key in value:
                _check(value[key], sub, f"{path}.{key}" if path else key)
    elif isinstance(spec, list):
        for number, item in enumerate(value):
            _check(item, spec[0], f"{path}[{number}]")


def check_event(event: Any) -> None:
    """Raise GeminiStreamError naming the first field whose JSON type is not the documented one."""
    if not isinstance(event, dict):
        raise GeminiStreamError(f"malformed response: the body is {_json_name(event)}, expected an object")
    _check(event, _EVENT, "")
