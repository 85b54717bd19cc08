"""Scripted loopback replies for speech and several-candidate answers (shared/wire-media.md §4, §7).

``speech_reply()`` is a 1-second spoken answer for the browser test: push it to the loopback server
before running ``%%gemini --speech`` and the player must show a duration of about one second.
"""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

from gemini_server import Reply, sse

RATE = 24_000
PCM_MIME = f"audio/L16;codec=pcm;rate={RATE}"


def tone(seconds: float = 1.0, rate: int = RATE, frequency: float = 440.0) -> bytes:
    """A quiet sine tone as signed 16-bit little-endian mono PCM, what Gemini's TTS sends."""
    count = round(seconds * rate)
    return struct.pack(f"<{count}h", *(int(8000 * math.sin(2 * math.pi * frequency * i / rate)) for i in range(count)))


def audio_part(pcm: bytes, mime: str = PCM_MIME) -> dict[str, Any]:
    return {"inlineData": {"mimeType": mime, "data": base64.b64encode(pcm).decode()}}


def speech_events(pcm: bytes, *, pieces: int = 4, mime: str = PCM_MIME) -> list[dict[str, Any]]:
    """*pcm* split over *pieces* events (cut at odd offsets, as a stream may), the last one finished."""
    step = -(-len(pcm) // pieces) | 1
    chunks = [pcm[start : start + step] for start in range(0, len(pcm), step)]
    events = []
    for number, chunk in enumerate(chunks, 1):
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [audio_part(chunk, mime)]}, "index": 0}
        if number == len(chunks):
            candidate["finishReason"] = "STOP"
        events.append({"candidates": [candidate], "modelVersion": "gemini-2.5-flash-preview-tts"})
    events[-1]["usageMetadata"] = {"promptTokenCount": 9, "candidatesTokenCount": 25, "totalTokenCount": 34}
    return events


def speech_reply(seconds: float = 1.0, *, pieces: int = 4) -> Reply:
    """A spoken answer of *seconds* (a 440 Hz tone) streamed as SSE over *pieces* events."""
    return sse(speech_events(tone(seconds), pieces=pieces))


def candidate_events(answers: list[list[str]], *, reasons: list[str] | None = None) -> list[dict[str, Any]]:
    """Several answers streamed together: event k carries piece k of each answer that still has one
    (so later events carry only some candidates), listed in reverse order to show that the ``index``
    counts, not the place in the array. Each answer finishes with its last piece."""
    reasons = reasons or ["STOP"] * len(answers)
    events = []
    for step in range(max(map(len, answers))):
        candidates = []
        for index in reversed(range(len(answers))):
            pieces = answers[index]
            if step < len(pieces):
                candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": pieces[step]}]}}
                candidate["index"] = index
                if step == len(pieces) - 1:
                    candidate["finishReason"] = reasons[index]
                candidates.append(candidate)
        events.append({"candidates": candidates, "modelVersion": "gemini-test-001"})
    events[-1]["usageMetadata"] = {"promptTokenCount": 5, "candidatesTokenCount": 12, "totalTokenCount": 17}
    return events
