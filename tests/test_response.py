"""Merging streamed deltas: the recorded SSE fixtures rebuilt exactly."""

from __future__ import annotations

import base64
import itertools
import json

import pytest
from gemini_server import FIXTURES

from gemini_magic._response import GeminiResponse, ResponseAccumulator
from gemini_magic._sse import SSEDecoder


def events_of(name: str) -> list[dict]:
    decoder = SSEDecoder()
    return [*decoder.feed((FIXTURES / name).read_bytes()), *decoder.close()]


def merge(events: list[dict]) -> GeminiResponse:
    accumulator = ResponseAccumulator()
    for event in events:
        accumulator.add(event)
    return accumulator.result()


def all_parts(events: list[dict]) -> list[dict]:
    return [p for e in events for c in e.get("candidates", []) for p in (c.get("content") or {}).get("parts", [])]


SSE_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.sse"))


@pytest.mark.needs_fixtures
@pytest.mark.parametrize("name", SSE_FIXTURES)
def test_recorded_stream_rebuilt_exactly(name: str) -> None:
    events = events_of(name)
    response = merge(events)
    parts = all_parts(events)
    # Text: every answer character and every thought character, in order.
    assert response.text == "".join(p["text"] for p in parts if "text" in p and not p.get("thought"))
    assert response.thoughts == "".join(p["text"] for p in parts if "text" in p and p.get("thought"))
    # Every signature kept, in order, on a part of the same kind.
    signed = [(sorted(p), p["thoughtSignature"]) for p in parts if "thoughtSignature" in p]
    assert [(sorted(p), p["thoughtSignature"]) for p in response.parts if "thoughtSignature" in p] == signed
    # Every non-text part kept whole and in order.
    assert [p for p in response.parts if "text" not in p] == [p for p in parts if "text" not in p]
    # Last usage snapshot, never summed; top-level fields.
    usages = [e["usageMetadata"] for e in events if "usageMetadata" in e]
    assert response.get("usageMetadata") == (usages[-1] if usages else None)
    for key in ("modelVersion", "responseId"):
        values = [e[key] for e in events if e.get(key)]
        assert response.get(key) == (values[-1] if values else None)
    # Final metadata: the last non-empty value of each candidate field.
    candidates = [c for e in events for c in e.get("candidates", [])]
    for key in ("groundingMetadata", "urlContextMetadata", "finishReason"):
        values = [c[key] for c in candidates if c.get(key)]
        if values:
            assert response.candidate[key] == values[-1], key


@pytest.mark.needs_fixtures
def test_grounding_stream_details() -> None:
    response = merge(events_of("pydantic-ai__google-search-grounding_gemini-2.5-pro.sse"))
    grounding = response.candidate["groundingMetadata"]
    assert len(grounding["groundingSupports"]) == 8
    assert grounding["webSearchQueries"]
    assert "searchEntryPoint" in grounding
    assert len(response.parts) == 1  # 2.5 text deltas without signatures join into one part


@pytest.mark.needs_fixtures
def test_thought_summaries_split_from_answer_and_signature_kept_in_place() -> None:
    events = events_of("pydantic-ai__thought-summaries-stream_gemini-2.5-pro.sse")
    response = merge(events)
    kinds = [("thought" if p.get("thought") else "text", "thoughtSignature" in p) for p in response.parts]
    assert kinds == [("thought", False), ("text", True), ("text", False)]
    first_signed = next(p for p in all_parts(events) if "thoughtSignature" in p)
    assert response.parts[1]["text"] == first_signed["text"]


@pytest.mark.needs_fixtures
def test_gemini3_trailing_empty_signed_part_is_kept() -> None:
    response = merge(events_of("pydantic-ai__code-execution-stream_gemini-3-flash.sse"))
    assert response.parts[-1]["text"] == "" and response.parts[-1]["thoughtSignature"]
    assert response.parts[0]["executableCode"]["id"] == "8xju7mua"
    assert [next(iter(p)) for p in response.parts[:3]] == ["executableCode", "text", "codeExecutionResult"]


@pytest.mark.needs_fixtures
def test_missing_index_and_parts_and_usage_only_events() -> None:
    response = merge(events_of("pydantic-ai__text-stream-no-index-nonascii_gemini-2.0-flash.sse"))
    assert "°" in response.text and response.finish_reason == "STOP"
    assert "index" not in response.candidate
    response = merge([json.loads((FIXTURES / "pydantic-ai__max-tokens-no-parts_gemini-2.5-pro.json").read_text())])
    assert response.parts == [] and response.finish_reason == "MAX_TOKENS"
    assert response.candidate["content"] == {"role": "model"}
    usage_only = merge(events_of("vercel-ai__usage-only-chunk-cached-tooluse.sse"))
    assert "candidates" not in usage_only and usage_only.usage["cachedContentTokenCount"]


def test_empty_metadata_never_overwrites_and_usage_is_not_summed() -> None:
    full = {"groundingChunks": [{"web": {"uri": "https://a.example", "title": "a"}}]}
    events = [
        {
            "candidates": [{"content": {"parts": [{"text": "a"}]}, "groundingMetadata": full}],
            "usageMetadata": {"totalTokenCount": 5},
        },
        {
            "candidates": [{"content": {"parts": [{"text": "b"}]}, "groundingMetadata": {}}],
            "usageMetadata": {"totalTokenCount": 9},
        },
    ]
    response = merge(events)
    assert response.candidate["groundingMetadata"] == full
    assert response.usage == {"totalTokenCount": 9}
    assert response.text == "ab"


def test_multiple_candidates_and_repr() -> None:
    events = [
        {
            "candidates": [
                {"index": 1, "content": {"parts": [{"text": "second"}]}},
                {"content": {"parts": [{"text": "first"}]}},
            ]
        },
        {"candidates": [{"index": 0, "content": {"parts": [{"text": "!"}]}, "finishReason": "STOP"}]},
    ]
    response = merge(events)
    assert [c["content"]["parts"][0]["text"] for c in response["candidates"]] == ["first!", "second"]
    assert repr(response) == (
        "GeminiResponse(model_version=None, finish_reason='STOP', text='first!' (6 chars), parts=['text'], tokens=None)"
    )


@pytest.mark.needs_fixtures
def test_image_fixture_repr_stays_short() -> None:
    response = merge(
        [json.loads((FIXTURES / "pydantic-ai__image-output-inlineData_gemini-2.5-flash-image.json").read_text())]
    )
    assert len(repr(response)) < 300
    assert "inlineData" in repr(response)


def test_split_speech_is_rejoined_byte_exact_and_stays_wire_shaped() -> None:
    pcm = bytes(range(256)) * 40
    cuts = [0, 1, 7, 500, 501, 4000, len(pcm)]  # odd offsets: pieces that are not whole samples or base64 quanta
    mime = "audio/L16;codec=pcm;rate=24000"
    other = "audio/L16;codec=pcm;rate=16000"

    def event(data: bytes, kind: str = mime) -> dict:
        part = {"inlineData": {"mimeType": kind, "data": base64.b64encode(data).decode()}}
        return {"candidates": [{"content": {"role": "model", "parts": [part]}, "index": 0}]}

    events = [event(pcm[a:b]) for a, b in itertools.pairwise(cuts)] + [event(b"\x00\x01", other)]
    response = merge(events)
    first, second = response.parts
    assert first == {"inlineData": {"mimeType": mime, "data": base64.b64encode(pcm).decode()}}
    assert second["inlineData"]["mimeType"] == other  # another rate is another recording
    assert [a.rate for a in response.audio] == [24000, 16000] and response.audio[0].pcm == pcm
    assert len(repr(response)) < 200 and "inlineData" in repr(response)
