"""Merge streamed ``GenerateContentResponse`` deltas into one response of the same wire shape.

Rules (shared/gemini-wire.md §4.2), each there because a real stream needs it:

* consecutive text parts with the same ``thought`` flag are joined — but never across a
  ``thoughtSignature``: a signed part keeps exactly its own text, so the turn can be sent back
  verbatim (Gemini 3 answers 400 when signatures move or vanish);
* every other part (inlineData, functionCall, executableCode, …) is kept whole and in order;
* candidate metadata is merged from all events: an empty ``groundingMetadata: {}`` in an
  intermediate event never overwrites the full one that comes last;
* ``usageMetadata`` is a running snapshot: the last one wins, never a sum;
* ``citationMetadata.citationSources`` arrive spread over several events: they are collected
  from all of them, each source once;
* a missing ``index`` means 0, a missing ``parts`` means no parts.

Every event is type-checked first (:mod:`._shapes`), so the merging below can trust the shapes.

Text is collected in lists and joined once in :meth:`ResponseAccumulator.result`, so merging an
n-byte answer costs O(n).
"""

from __future__ import annotations

import json
from typing import Any

from ._images import GeminiImage, image_of
from ._shapes import check_event

__all__ = ["GeminiResponse", "ResponseAccumulator"]

_TEXT_KEYS = {"text", "thought", "thoughtSignature"}


class GeminiResponse(dict):  # type: ignore[type-arg]
    """The merged response, exactly as the API shapes it, with a few reading helpers.

    ``dict(response)`` is the wire JSON; ``.text``, ``.thoughts``, ``.images``, ``.parsed``,
    ``.finish_reason`` and ``.usage`` read candidate 0. ``.request`` holds the request that produced it (URL and body,
    never the key).
    """

    request: dict[str, Any] | None = None

    @property
    def candidate(self) -> dict[str, Any]:
        candidates = self.get("candidates") or [{}]
        return candidates[0]

    @property
    def parts(self) -> list[dict[str, Any]]:
        return (self.candidate.get("content") or {}).get("parts") or []

    @property
    def text(self) -> str:
        """The answer text (thought summaries excluded)."""
        return "".join(p["text"] for p in self.parts if "text" in p and not p.get("thought"))

    @property
    def thoughts(self) -> str:
        """The thought summaries, when ``--show-thoughts`` asked for them."""
        return "".join(p["text"] for p in self.parts if "text" in p and p.get("thought"))

    @property
    def parsed(self) -> Any:
        """The answer parsed as JSON (for ``--json``/``--schema``); ValueError if it is not JSON."""
        try:
            return json.loads(self.text)
        except ValueError as exc:
            raise ValueError(f"the answer is not valid JSON ({exc}); see .text") from None

    @property
    def images(self) -> list[GeminiImage]:
        """Every image in the answer, decoded: ``.mime_type``, ``.data``, ``.save(path)``."""
        return [image for image in map(image_of, self.parts) if image is not None]

    @property
    def finish_reason(self) -> str | None:
        return self.candidate.get("finishReason")

    @property
    def usage(self) -> dict[str, Any]:
        return self.get("usageMetadata") or {}

    @property
    def model_version(self) -> str | None:
        return self.get("modelVersion")

    def to_json(self, **kwargs: Any) -> str:
        """The wire JSON (for saving or for comparing with a recording)."""
        return json.dumps(self, ensure_ascii=False, **kwargs)

    def __repr__(self) -> str:
        text = self.text
        preview = text if len(text) <= 60 else text[:57] + "..."
        kinds = sorted({part_kind(p) for p in self.parts})
        return (
            f"GeminiResponse(model_version={self.model_version!r}, finish_reason={self.finish_reason!r}, "
            f"text={preview!r} ({len(text)} chars), parts={kinds}, "
            f"tokens={self.usage.get('totalTokenCount')})"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def part_kind(part: dict[str, Any]) -> str:
    """The data field that makes a part what it is (``text``, ``inlineData``, ``functionCall``…)."""
    return next((k for k in part if k not in ("thought", "thoughtSignature")), "text")


class _Candidate:
    """One candidate being merged; text runs are kept as lists of pieces until the end."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.role: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.pieces: list[list[str]] = []  # text pieces of each part (empty for non-text parts)
        self.meta: dict[str, Any] = {}
        self.content_seen = False
        self.index_seen = False

    def add(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """Merge one event's candidate; return its new parts (the delta, for live display)."""
        self.index_seen = self.index_seen or "index" in data
        content = data.get("content")
        new_parts: list[dict[str, Any]] = []
        if content is not None:
            self.content_seen = True
            self.role = content.get("role") or self.role
            new_parts = content.get("parts") or []
            for part in new_parts:
                self._add_part(part)
        for key, value in data.items():
            if key not in ("content", "index"):
                _merge_field(self.meta, key, value)
        return new_parts

    def _add_part(self, part: dict[str, Any]) -> None:
        if part.keys() <= _TEXT_KEYS and "text" in part:
            if self.parts and self._joinable(part):
                self.pieces[-1].append(part["text"])
                return
            self.parts.append({k: v for k, v in part.items() if k != "text"})
            self.pieces.append([part["text"]])
            return
        self.parts.append(part)
        self.pieces.append([])

    def _joinable(self, part: dict[str, Any]) -> bool:
        last = self.parts[-1]
        return (
            bool(self.pieces[-1])
            and "thoughtSignature" not in last
            and "thoughtSignature" not in part
            and bool(last.get("thought")) == bool(part.get("thought"))
        )

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.content_seen:
            content: dict[str, Any] = {}
            if self.parts:
                content["parts"] = [
                    {"text": "".join(pieces), **part} if pieces else part
                    for part, pieces in zip(self.parts, self.pieces)
                ]
            if self.role:
                content["role"] = self.role
            out["content"] = content
        out.update(self.meta)
        if self.index or self.index_seen:
            out["index"] = self.index
        return out


def _is_empty(value: Any) -> bool:
    return value is None or value == {} or value == [] or value == ""


def _merged_sources(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Citation sources of all events, each (uri, startIndex, endIndex) once, in arrival order."""
    merged = list(old)
    seen = {(s.get("uri"), s.get("startIndex"), s.get("endIndex")) for s in old}
    for source in new:
        key = (source.get("uri"), source.get("startIndex"), source.get("endIndex"))
        if key not in seen:
            seen.add(key)
            merged.append(source)
    return merged


def _merge_field(target: dict[str, Any], key: str, value: Any) -> None:
    """Newer non-empty values win; dicts merge key by key so partial metadata accumulates."""
    if value.__class__ is str and value and target.get(key) == value:
        return  # the same modelVersion / responseId again: the common case in a stream
    if _is_empty(value):
        target.setdefault(key, value)
        return
    old = target.get(key)
    if key == "citationSources" and old:  # each event cites its own stretch of the answer
        target[key] = _merged_sources(old, value)
    elif isinstance(old, dict) and isinstance(value, dict):
        merged = dict(old)
        for sub_key, sub_value in value.items():
            _merge_field(merged, sub_key, sub_value)
        target[key] = merged
    else:
        target[key] = value


class ResponseAccumulator:
    """Feed it every decoded event (:meth:`add`); read the merged response with :meth:`result`."""

    def __init__(self) -> None:
        self._candidates: dict[int, _Candidate] = {}
        self._top: dict[str, Any] = {}
        self.events = 0

    def add(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Merge one event; return candidate 0's new parts, which is what the live view shows."""
        check_event(event)
        self.events += 1
        delta: list[dict[str, Any]] = []
        for data in event.get("candidates") or ():
            index = data.get("index") or 0
            candidate = self._candidates.get(index)
            if candidate is None:
                candidate = self._candidates[index] = _Candidate(index)
            parts = candidate.add(data)
            if index == 0:
                delta = parts
        for key, value in event.items():
            if key == "candidates":
                continue
            if key == "usageMetadata":
                self._top[key] = value  # a running snapshot: the last one is the total
            else:
                _merge_field(self._top, key, value)
        return delta

    def result(self) -> GeminiResponse:
        response = GeminiResponse()
        if self._candidates:
            response["candidates"] = [self._candidates[i].result() for i in sorted(self._candidates)]
        response.update(self._top)
        return response
