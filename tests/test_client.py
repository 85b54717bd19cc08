"""The transport against the loopback server, in-process: headers, retries, failures."""

from __future__ import annotations

import time

import pytest
from conftest import FAKE_KEY
from gemini_server import GeminiTestServer, Reply, error_reply, json_reply, sse, text_events

from gemini_magic._client import GeminiClient
from gemini_magic._errors import GeminiAPIError, GeminiConnectionError
from gemini_magic._options import Options
from gemini_magic._settings import resolve_settings

CONFIG = {"model": "m", "base_url": "", "api_key_env": "", "auth": "key", "timeout": 10.0, "max_retries": 3}


def settings_for(server: GeminiTestServer, **options: object):
    return resolve_settings(
        Options(**options), CONFIG, set(), {"GEMINI_API_KEY": FAKE_KEY, "GEMINI_BASE_URL": server.url}
    )


def url(server: GeminiTestServer, stream: bool = True) -> str:
    return f"{server.url}/v1beta/models/m:" + ("streamGenerateContent?alt=sse" if stream else "generateContent")


def test_stream_sends_key_in_header_only(gemini: GeminiTestServer) -> None:
    gemini.push(sse(text_events(["a", "b"])))
    events = list(GeminiClient().stream(url(gemini), {"contents": []}, settings_for(gemini)))
    assert [e["candidates"][0]["content"]["parts"][0]["text"] for e in events] == ["a", "b"]
    request = gemini.requests[0]
    assert FAKE_KEY not in request.path
    assert request.headers["x-goog-api-key"] == FAKE_KEY
    assert request.headers["Accept"] == "text/event-stream"
    assert request.headers["User-Agent"].startswith("gemini-magic/")


def test_events_arrive_before_the_body_ends(gemini: GeminiTestServer) -> None:
    reply = sse(text_events(["first", "second"]))
    reply.steps.insert(1, 1.0)
    gemini.push(reply)
    started = time.monotonic()
    stream = GeminiClient().stream(url(gemini), {}, settings_for(gemini))
    next(stream)
    assert time.monotonic() - started < 0.8
    assert len(list(stream)) == 1


def test_gateway_ignoring_alt_sse_json_array(gemini: GeminiTestServer) -> None:
    gemini.push(json_reply(text_events(["x", "y"])))
    events = list(GeminiClient().stream(url(gemini), {}, settings_for(gemini)))
    assert len(events) == 2


def test_retry_after_header_and_hook(gemini: GeminiTestServer) -> None:
    failing = error_reply(503, "UNAVAILABLE", "busy")
    failing.headers["Retry-After"] = "0.1"
    gemini.push(failing, sse(text_events(["ok"])))
    seen: list[tuple[int, float, str]] = []
    events = list(
        GeminiClient().stream(url(gemini), {}, settings_for(gemini), lambda a, d, e: seen.append((a, d, str(e))))
    )
    assert len(events) == 1
    assert seen == [(1, 0.1, "503 UNAVAILABLE: busy")]


def test_non_json_error_body_is_summarised(gemini: GeminiTestServer) -> None:
    gemini.push(Reply([b"<html><body>Bad   gateway\n page</body></html>"], status=502, content_type="text/html"))
    for _ in range(3):
        gemini.push(
            Reply([b"<html>still bad</html>"], status=502, content_type="text/html", headers={"Retry-After": "0"})
        )
    client = GeminiClient()
    with pytest.raises(GeminiAPIError) as info:
        client.generate(url(gemini, False), {}, settings_for(gemini))
    assert str(info.value) == "502 Bad Gateway: <html>still bad</html>"
    assert len(gemini.requests) == 4


def test_backoff_without_hints() -> None:
    from gemini_magic._client import _retry_delay

    busy = GeminiAPIError(503, "UNAVAILABLE", "busy")
    delays = [_retry_delay(busy, attempt, 5) for attempt in range(5)]
    assert all(0.8 * 2**i <= d <= 1.2 * 2**i for i, d in enumerate(delays)), delays
    assert _retry_delay(busy, 5, 5) is None
    assert _retry_delay(GeminiAPIError(400, "INVALID_ARGUMENT", "bad"), 0, 5) is None
    assert _retry_delay(GeminiConnectionError("refused"), 0, 5) is None


def test_long_retry_delay_is_reported_not_waited(gemini: GeminiTestServer) -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "75s"}]
    gemini.push(error_reply(429, "RESOURCE_EXHAUSTED", "Please retry in 75s.", details))
    started = time.monotonic()
    with pytest.raises(GeminiAPIError, match="Please retry in 75s"):
        list(GeminiClient().stream(url(gemini), {}, settings_for(gemini)))
    assert time.monotonic() - started < 5
    assert len(gemini.requests) == 1


def test_unresolvable_host() -> None:
    settings = resolve_settings(
        Options(), CONFIG, set(), {"GEMINI_API_KEY": "k", "GEMINI_BASE_URL": "http://nohost.invalid"}
    )
    with pytest.raises(GeminiConnectionError, match=r"could not connect to nohost.invalid:80 \("):
        GeminiClient().generate("http://nohost.invalid/v1beta/models/m:generateContent", {}, settings)
