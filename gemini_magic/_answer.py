"""What one answer holds, read the same way for the whole response and for each of its candidates.

``_gemini.text`` reads the first candidate; ``_gemini.candidates[1].text`` the second (``--candidates
N``). Both come from :class:`AnswerParts`, so the helpers exist once.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ._audio import GeminiAudio, audio_of
from ._images import GeminiImage, image_of

__all__ = ["AnswerParts", "GeminiCandidate"]

_FENCED_CODE = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n`]*\n(.*?)^ {0,3}\1[`~]*[ \t]*$", re.MULTILINE | re.DOTALL)


class AnswerParts:
    """The helpers over one candidate's parts; subclasses say which candidate (:attr:`candidate`)."""

    @property
    def candidate(self) -> dict[str, Any]:
        """The candidate answer as the API shaped it (content, finishReason, grounding, …)."""
        raise NotImplementedError

    @property
    def parts(self) -> list[dict[str, Any]]:
        """Every piece of the answer in order: text, images, code and its result, function calls, …"""
        return (self.candidate.get("content") or {}).get("parts") or []

    @property
    def text(self) -> str:
        """The answer as one string of Markdown, without the thought summaries: what you usually want."""
        return "".join(p["text"] for p in self.parts if "text" in p and not p.get("thought"))

    @property
    def code(self) -> str:
        """The answer's fenced code blocks, joined: what ``--code`` and ``%gemini fix`` put in the next cell."""
        return "\n\n".join(m.group(2).strip("\n") for m in _FENCED_CODE.finditer(self.text)).strip()

    @property
    def thoughts(self) -> str:
        """The model's summary of its thinking, when ``--show-thoughts`` asked for it; else ``""``."""
        return "".join(p["text"] for p in self.parts if "text" in p and p.get("thought"))

    @property
    def parsed(self) -> Any:
        """The answer as Python data (lists, dicts…) after ``--json`` or ``--schema``; ValueError if not JSON."""
        try:
            return json.loads(self.text)
        except ValueError as exc:
            raise ValueError(f"the answer is not valid JSON ({exc}); see .text") from None

    @property
    def images(self) -> list[GeminiImage]:
        """The pictures the model made (``--image``), as :class:`GeminiImage`: ``.save(path)``, ``.data``."""
        return [image for image in map(image_of, self.parts) if image is not None]

    @property
    def audio(self) -> list[GeminiAudio]:
        """The speech the model made (``--speech``), as :class:`GeminiAudio`: ``.save("x.wav")``, ``.data``."""
        return [audio for audio in map(audio_of, self.parts) if audio is not None]

    @property
    def finish_reason(self) -> str | None:
        """Why the answer ended: ``"STOP"`` (done), ``"MAX_TOKENS"`` (cut short), ``"SAFETY"``…; None if unsaid."""
        return self.candidate.get("finishReason")


class GeminiCandidate(AnswerParts, dict[str, Any]):
    """One of several answers (``--candidates N``), from ``_gemini.candidates``: the API's candidate
    dict, with ``.text``, ``.parts``, ``.images``, ``.audio``, ``.finish_reason``… as on the response."""

    @property
    def candidate(self) -> dict[str, Any]:
        """This answer's dict (itself)."""
        return self

    @property
    def index(self) -> int:
        """Its place among the answers, as the API numbers them (from 0)."""
        return int(self.get("index") or 0)

    def __repr__(self) -> str:
        text = self.text
        preview = text if len(text) <= 60 else text[:57] + "..."
        return f"GeminiCandidate(index={self.index}, finish_reason={self.finish_reason!r}, text={preview!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))
