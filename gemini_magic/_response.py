"""Merge streamed ``GenerateContentResponse`` deltas into one response of the same wire shape.

Rules (shared/gemini-wire.md §4.2), each there because a real stream needs it:

* consecutive text parts with the same ``thought`` flag are joined — but never across a
  ``thoughtSignature``: a signed part keeps exactly its own text, so the turn can be sent back
  verbatim (Gemini 3 answers 400 when signatures move or vanish);
* consecutive raw-PCM audio parts (``audio/L16``, a spoken answer split over events) are pieces of one
  recording: they become one part, their bytes joined in order (at most ``MAX_AUDIO_BYTES`` decoded);
* every other part (inlineData, functionCall, executableCode, …) is kept whole and in order;
* candidate metadata is merged from all events: an empty ``groundingMetadata: {}`` in an
  intermediate event never overwrites the full one that comes last;
* ``usageMetadata`` is a running snapshot: the last one wins, never a sum;
* ``citationMetadata.citationSources`` arrive spread over several events: they are collected
  from all of them, each source once;
* a missing ``index`` means 0, a missing ``parts`` means no parts; candidates are merged by their
  ``index``, never by their place in an event (an event may carry only some of them).

Every event is type-checked first (:mod:`._shapes`), so the merging below can trust the shapes.

Text is collected in lists and joined once in :meth:`ResponseAccumulator.result`, so merging an
n-byte answer costs O(n).
"""

from __future__ import annotations

import json
from typing import Any

from ._answer import AnswerParts, GeminiCandidate
from ._audio import MAX_AUDIO_BYTES, audio_mime, decoded_size, join_base64, pcm_format
from ._errors import GeminiStreamError
from ._shapes import check_event

__all__ = ["Delta", "GeminiCandidate", "GeminiResponse", "ResponseAccumulator"]

_TEXT_KEYS = {"text", "thought", "thoughtSignature"}
MAX_CANDIDATES = 64  # distinct candidate indexes in one response: the API sends at most 8


class GeminiResponse(AnswerParts, dict[str, Any]):
    """Gemini's answer: the API's JSON response (a dict), with helpers that read the useful parts.

    After ``%%gemini`` runs, ``_gemini`` (and the variable named by ``-o NAME``) holds one;
    ``gemini_magic.generate()`` returns one. For example::

        _gemini.text                      # the answer as a string (Markdown)
        _gemini.parsed                    # with --json or --schema: the answer as Python lists/dicts
        _gemini.images[0].save("x.png")   # with --image: keep a generated picture
        _gemini.audio[0].save("x.wav")    # with --speech: keep the spoken answer
        _gemini.candidates[1].text        # with --candidates N: the second answer
        _gemini.usage["totalTokenCount"]  # what the call cost, in tokens
        _gemini.finish_reason             # "STOP" when the model finished on its own
        _gemini.to_json(indent=2)         # the whole response, for saving or comparing

    The helpers read the first candidate answer (the API sends one unless a request asks for more).
    ``dict(_gemini)`` is the response exactly as the API sent it (camelCase keys), streamed pieces
    merged. ``.request`` holds what was sent to get it (URL, model and body, never the API key),
    or None.
    """

    #: What was sent (``url``, ``model``, ``body``; never the key), or None if not recorded.
    request: dict[str, Any] | None = None

    @property
    def candidate(self) -> dict[str, Any]:
        """The first candidate answer as the API shaped it (content, finishReason, grounding, …)."""
        candidates: list[dict[str, Any]] = self.get("candidates") or [{}]
        return candidates[0]

    @property
    def candidates(self) -> list[GeminiCandidate]:
        """Every answer (``--candidates N``), each with ``.text``, ``.parts``, ``.images``, ``.audio``…"""
        return [GeminiCandidate(candidate) for candidate in self.get("candidates") or ()]

    @property
    def usage(self) -> dict[str, Any]:
        """Token counts (``promptTokenCount``, ``candidatesTokenCount``, ``totalTokenCount``…): cost and limits."""
        return self.get("usageMetadata") or {}

    @property
    def model_version(self) -> str | None:
        """The exact model that answered (e.g. ``"gemini-2.5-flash"``), for the record; None if unsaid."""
        return self.get("modelVersion")

    def to_json(self, **kwargs: Any) -> str:
        """The response as a JSON string, to save to a file or compare; keyword arguments go to ``json.dumps``."""
        return json.dumps(self, ensure_ascii=False, **kwargs)

    def __repr__(self) -> str:
        """One short line (model, finish reason, start of the text, tokens), even with big images inside."""
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
        self.audio: dict[int, list[str]] = {}  # base64 pieces of each raw-PCM part, by part position
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
        mime = audio_mime(part)
        if mime is not None and part.keys() == {"inlineData"} and pcm_format(mime) is not None:
            last = len(self.parts) - 1
            if last in self.audio and self.parts[last]["inlineData"].get("mimeType") == mime:
                self.audio[last].append(str(part["inlineData"].get("data", "")))
                return
            self.audio[len(self.parts)] = [str(part["inlineData"].get("data", ""))]
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
                    for part, pieces in zip(self.parts, self.pieces, strict=True)
                ]
                for position, audio in self.audio.items():
                    if len(audio) > 1:
                        inline = {**self.parts[position]["inlineData"], "data": join_base64(audio)}
                        content["parts"][position] = {"inlineData": inline}
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


class Delta(list[dict[str, Any]]):
    """What one event added: candidate 0's new parts (the list itself), and in :attr:`others` the
    new parts of each other candidate the event carried, by index (``--candidates N``)."""

    def __init__(self) -> None:
        super().__init__()
        self.others: dict[int, list[dict[str, Any]]] = {}


class ResponseAccumulator:
    """Feed it every decoded event (:meth:`add`); read the merged response with :meth:`result`."""

    def __init__(self) -> None:
        self._candidates: dict[int, _Candidate] = {}
        self._top: dict[str, Any] = {}
        self._audio_bytes = 0
        self.events = 0

    def add(self, event: dict[str, Any]) -> Delta:
        """Merge one event; return its new parts (candidate 0's, the others' in ``.others``) for the live view."""
        check_event(event)
        self.events += 1
        delta = Delta()
        for data in event.get("candidates") or ():
            index = data.get("index") or 0
            candidate = self._candidates.get(index)
            if candidate is None:
                if len(self._candidates) >= MAX_CANDIDATES:
                    raise GeminiStreamError(f"the response holds more than {MAX_CANDIDATES} candidate answers")
                candidate = self._candidates[index] = _Candidate(index)
            self._count_audio(data)
            parts = candidate.add(data)
            if index == 0:
                delta.extend(parts)
            else:
                delta.others[index] = parts
        for key, value in event.items():
            if key == "candidates":
                continue
            if key == "usageMetadata":
                self._top[key] = value  # a running snapshot: the last one is the total
            else:
                _merge_field(self._top, key, value)
        return delta

    def _count_audio(self, data: dict[str, Any]) -> None:
        """Keep the decoded audio of the whole response under ``MAX_AUDIO_BYTES`` (checked before merging)."""
        for part in (data.get("content") or {}).get("parts") or ():
            if audio_mime(part) is not None:
                self._audio_bytes += decoded_size(str(part["inlineData"].get("data", "")))
        if self._audio_bytes > MAX_AUDIO_BYTES:
            raise GeminiStreamError(
                f"the audio in the answer passed the {MAX_AUDIO_BYTES >> 20} MB limit; what came before is kept"
            )

    def result(self) -> GeminiResponse:
        """Everything merged so far as one response of the API's shape; may be called mid-stream."""
        response = GeminiResponse()
        if self._candidates:
            response["candidates"] = [self._candidates[i].result() for i in sorted(self._candidates)]
        response.update(self._top)
        return response
