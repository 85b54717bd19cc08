"""The SSE decoder against hand-made byte streams cut at every awkward place."""

from __future__ import annotations

import json

import pytest
from gemini_server import FIXTURES

from gemini_magic._errors import GeminiAPIError, GeminiStreamError
from gemini_magic._sse import SSEDecoder


def decode(chunks: list[bytes]) -> list[dict]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + list(decoder.close())


def every_split(raw: bytes) -> list[list[bytes]]:
    return [[raw[:i], raw[i:]] for i in range(len(raw) + 1)]


EVENTS = [{"n": 1, "t": "héllo °C"}, {"n": 2, "t": "日本語"}]


@pytest.mark.parametrize("newline", [b"\r\n", b"\n", b"\r"])
def test_framing_split_at_every_byte(newline: bytes) -> None:
    raw = b"".join(b"data: " + json.dumps(e, ensure_ascii=False).encode() + newline * 2 for e in EVENTS)
    for chunks in every_split(raw):
        assert decode(chunks) == EVENTS, chunks


def test_one_byte_at_a_time_with_multibyte_characters() -> None:
    raw = b"".join(b"data: " + json.dumps(e, ensure_ascii=False).encode() + b"\r\n\r\n" for e in EVENTS)
    assert decode([raw[i : i + 1] for i in range(len(raw))]) == EVENTS


def test_last_event_without_blank_line_is_flushed_on_close() -> None:
    assert decode([b'data: {"a": 1}']) == [{"a": 1}]
    assert decode([b'data: {"a": 1}\r\n']) == [{"a": 1}]


def test_fields_comments_and_multiline_data() -> None:
    raw = b': keep-alive\r\nevent: message\r\nid: 7\r\nretry: 100\r\ndata: {"a":\r\ndata: 1}\r\n\r\n'
    assert decode([raw]) == [{"a": 1}]


def test_multi_megabyte_event_line_in_small_reads() -> None:
    big = {"candidates": [{"content": {"parts": [{"inlineData": {"data": "A" * 4_000_000}}]}}]}
    raw = b"data: " + json.dumps(big).encode() + b"\r\n\r\n"
    chunks = [raw[i : i + 65536] for i in range(0, len(raw), 65536)]
    assert decode(chunks) == [big]


def test_error_tail_after_events_raises_the_api_message() -> None:
    raw = (
        b'data: {"candidates": [{"content": {"parts": [{"text": "Hi"}]}}]}\r\n\r\n'
        b'{\n  "error": {\n    "code": 503,\n    "message": "The model is overloaded.",\n    "status": "UNAVAILABLE"\n  }\n}\n'  # noqa: E501
    )
    decoder = SSEDecoder()
    events = []
    with pytest.raises(GeminiAPIError) as info:
        for chunk in [raw[:80], raw[80:120], raw[120:]]:
            events.extend(decoder.feed(chunk))
    assert events == [{"candidates": [{"content": {"parts": [{"text": "Hi"}]}}]}]
    assert (info.value.code, info.value.status, info.value.message) == (503, "UNAVAILABLE", "The model is overloaded.")
    assert info.value.mid_stream


def test_error_in_a_data_event_and_in_a_json_array() -> None:
    with pytest.raises(GeminiAPIError, match="429 RESOURCE_EXHAUSTED: slow down"):
        decode([b'data: {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "slow down"}}\n\n'])
    with pytest.raises(GeminiAPIError, match="400 INVALID_ARGUMENT: bad"):
        decode([b'[{"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "bad"}}]\n'])


def test_malformed_events_are_reported() -> None:
    with pytest.raises(GeminiStreamError, match="malformed event"):
        decode([b'data: {"candidates": [\r\n\r\n'])
    with pytest.raises(GeminiStreamError, match="not an event"):
        decode([b"<html>502 Bad Gateway</html>\r\n"])
    with pytest.raises(GeminiStreamError, match="ended with data that is not an event"):
        decode([b'data: {"a": 1}\r\n\r\n{"error": {"code": 5'])


@pytest.mark.needs_fixtures
@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.sse")))
def test_recorded_streams_decode_in_any_chunking(name: str) -> None:
    raw = (FIXTURES / name).read_bytes()
    expected = [
        json.loads(block[len(b"data: ") :]) for block in raw.replace(b"\r\n", b"\n").split(b"\n\n") if block.strip()
    ]
    assert expected
    for size in (1, 7, 4096, len(raw)):
        assert decode([raw[i : i + size] for i in range(0, len(raw), size)]) == expected
