"""Issue 8, items 4 and 5, in process: the client against real loopback servers.

Item 4: the key goes only to the configured host (redirects), no frame that a failure leaves
behind holds it, and bad base URLs and timeouts are one-line user errors.
Item 5: bodies are read within caps (one event, the whole response, compressed bodies), a cap
is one clear error with the events before it already delivered, and nothing big stays pinned.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from conftest import FAKE_KEY
from gemini_server import DROP, GeminiTestServer, Reply, gzipped, json_reply, sse, text_events
from IPython.core.error import UsageError

from gemini_magic._client import GeminiClient
from gemini_magic._errors import GeminiAPIError, GeminiConnectionError, GeminiStreamError
from gemini_magic._model_list import list_models, models_bundle
from gemini_magic._options import Options, gemini_arguments, parse_options
from gemini_magic._settings import Settings, resolve_settings
from gemini_magic._sse import SSEDecoder

MB = 1 << 20
CONFIG = {"model": "m", "base_url": "", "api_key_env": "", "auth": "key", "timeout": 10.0, "max_retries": 0}
OURS = (str(Path(__file__).resolve().parents[1] / "gemini_magic"), __file__)


@pytest.fixture(scope="module")
def other() -> Iterator[GeminiTestServer]:
    """A second server: another origin (same address, another port) that must never see the key."""
    srv = GeminiTestServer().start()
    yield srv
    srv.stop()


def settings_for(server: GeminiTestServer, auth: str = "key", **config: Any) -> Settings:
    return resolve_settings(
        Options(auth=auth),
        {**CONFIG, **config},
        set(config),
        {"GEMINI_API_KEY": FAKE_KEY, "GEMINI_BASE_URL": server.url},
    )


def url(server: GeminiTestServer, stream: bool = True) -> str:
    return f"{server.url}/v1beta/models/m:" + ("streamGenerateContent?alt=sse" if stream else "generateContent")


def frames(exc: BaseException) -> list[Any]:
    """Every frame a failure keeps reachable: its traceback's and those of chained exceptions."""
    found = []
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        tb: TracebackType | None = current.__traceback__
        while tb is not None:
            found.append(tb.tb_frame)
            tb = tb.tb_next
        pending += [current.__context__, current.__cause__]
    return found


def assert_clean(exc: BaseException) -> None:
    """No chained exception, only our own frames, no local that shows the key or holds > 1 MB."""
    assert exc.__context__ is None and exc.__cause__ is None, repr(exc.__context__ or exc.__cause__)
    for frame in frames(exc):
        assert frame.f_code.co_filename.startswith(OURS), frame.f_code.co_filename
        for name, value in frame.f_locals.items():
            assert FAKE_KEY not in repr(value), (frame.f_code.co_name, name)
            if isinstance(value, bytes | bytearray | str | memoryview):
                assert len(value) < MB, (frame.f_code.co_name, name, len(value))


def events_then_failure(stream: Iterator[dict[str, Any]]) -> tuple[list[dict[str, Any]], BaseException]:
    events: list[dict[str, Any]] = []
    with pytest.raises(BaseException) as info:
        events.extend(stream)  # what arrived before the failure stays in the list
    return events, info.value


# -- item 4: the key stays on its host -------------------------------------------------------


@pytest.mark.parametrize("auth", ["key", "bearer"])
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_to_another_host_is_an_error_and_the_key_stays(
    gemini: GeminiTestServer, other: GeminiTestServer, auth: str, status: int
) -> None:
    other.reset()
    target = f"{other.url}/v1beta/models/m:generateContent"
    for _ in range(2):
        gemini.push(Reply([], status=status, headers={"Location": target}))
    settings = settings_for(gemini, auth)
    with pytest.raises(GeminiConnectionError) as info:
        list(GeminiClient().stream(url(gemini), {"contents": []}, settings))
    assert repr(target) in str(info.value) and "another host" in str(info.value)
    assert_clean(info.value)
    with pytest.raises(GeminiConnectionError, match="another host"):
        GeminiClient().generate(url(gemini, False), {"contents": []}, settings)
    assert other.requests == []  # the second host never heard of us, let alone the key
    assert len(gemini.requests) == 2


def test_the_same_server_under_another_name_is_another_host(gemini: GeminiTestServer) -> None:
    port = gemini.url.rsplit(":", 1)[1]
    gemini.push(Reply([], status=307, headers={"Location": f"http://localhost:{port}/elsewhere"}))
    with pytest.raises(GeminiConnectionError, match="'http://localhost:"):
        GeminiClient().generate(url(gemini, False), {}, settings_for(gemini))
    assert len(gemini.requests) == 1


@pytest.mark.parametrize("status", [307, 308])
def test_a_same_origin_redirect_is_followed_with_method_body_and_key(gemini: GeminiTestServer, status: int) -> None:
    gemini.push(Reply([], status=status, headers={"Location": "/moved?alt=sse"}), sse(text_events(["ok"])))
    events = list(GeminiClient().stream(url(gemini), {"contents": [1]}, settings_for(gemini)))
    assert len(events) == 1
    moved = gemini.requests[1]
    assert (moved.method, moved.path, moved.body) == ("POST", "/moved?alt=sse", {"contents": [1]})
    assert moved.headers["x-goog-api-key"] == FAKE_KEY


def test_redirects_are_bounded(gemini: GeminiTestServer) -> None:
    for _ in range(8):
        gemini.push(Reply([], status=307, headers={"Location": "/again"}))
    with pytest.raises(GeminiConnectionError, match="redirected more than 5 times"):
        GeminiClient().generate(url(gemini, False), {}, settings_for(gemini))
    assert len(gemini.requests) == 6


def _closed_port() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("bad port", "could not connect to"),
        ("huge timeout", "could not connect to"),
        ("refused", "connection refused"),
        ("read timeout", "read timeout"),
        ("dropped", "dropped mid-stream after 1 events"),
    ],
)
def test_transport_failures_keep_no_foreign_frame_and_no_key(gemini: GeminiTestServer, case: str, message: str) -> None:
    """ValueError and OverflowError from inside requests were raised as they were, with the
    headers (key included) in the locals of the frames that ``%xmode Verbose`` prints."""
    settings = settings_for(gemini)
    target = url(gemini)
    if case == "bad port":
        target = "http://127.0.0.1:99999/v1beta/models/m:streamGenerateContent?alt=sse"
    elif case == "huge timeout":
        settings = dataclasses.replace(settings, timeout=1e10)  # resolve_settings refuses it; the client too
    elif case == "refused":
        target = _closed_port() + "/v1beta/models/m:streamGenerateContent?alt=sse"
    elif case == "read timeout":
        settings = dataclasses.replace(settings, timeout=0.3)
        gemini.push(Reply([1.0, b"data: {}\n\n"]))
    else:
        gemini.push(Reply([b'data: {"a": 1}\r\n\r\n', DROP]))
    _, failure = events_then_failure(GeminiClient().stream(target, {}, settings))
    assert isinstance(failure, GeminiConnectionError), repr(failure)
    assert message in str(failure)
    assert_clean(failure)
    if case == "huge timeout":  # the request went out before the socket refused the timeout
        deadline = time.monotonic() + 5
        while not gemini.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(gemini.requests) == 1


def test_ctrl_c_while_the_headers_are_awaited_leaves_only_our_frames(gemini: GeminiTestServer) -> None:
    gate = threading.Event()
    gemini.push(Reply([b'data: {"a": 1}\n\n'], before=[gate]))
    timer = threading.Timer(0.5, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))
    timer.start()
    try:
        events, failure = events_then_failure(GeminiClient().stream(url(gemini), {}, settings_for(gemini)))
    finally:
        gate.set()
        timer.cancel()
    assert type(failure) is KeyboardInterrupt and events == []
    assert_clean(failure)


BAD_URLS = [
    ("http://127.0.0.1:99999", "port that is not a number from 1 to 65535"),
    ("http://127.0.0.1:0", "port that is not a number"),
    ("http://host:abc", "port that is not a number"),
    ("http://", "has no host name"),
    ("ftp://host", "is not an http(s) URL"),
    ("http://user:secret@host", "user name or password"),
    ("http://host/?key=AIza-pasted", "query or fragment"),
    ("http://[::1", "is not a URL"),
]


@pytest.mark.parametrize(("bad", "message"), BAD_URLS)
def test_bad_base_urls_are_one_line_user_errors_from_every_source(bad: str, message: str) -> None:
    spec = gemini_arguments(lambda line: None)
    raised = []
    with pytest.raises(UsageError) as info:
        parse_options(spec, f"--base-url '{bad}'")
    raised.append(str(info.value))
    for config, env in (({"base_url": bad}, {}), ({}, {"GEMINI_BASE_URL": bad})):
        with pytest.raises(UsageError) as info:
            resolve_settings(Options(), {**CONFIG, **config}, set(config), {"GEMINI_API_KEY": "k", **env})
        raised.append(str(info.value))
    for text in raised:
        assert message in text and "\n" not in text, text
        assert "secret" not in text and "AIza-pasted" not in text  # where a pasted key would sit
    assert "GEMINI_BASE_URL" in raised[2] and "%config GeminiMagic.base_url" in raised[1]


@pytest.mark.parametrize("value", [1e10, float("nan"), 3600.5, 0.0])
def test_timeouts_have_an_upper_bound_in_every_source(value: float) -> None:
    spec = gemini_arguments(lambda line: None)
    with pytest.raises(UsageError, match="--timeout: expected a positive number of seconds up to 3600"):
        parse_options(spec, f"--timeout {value}")
    for options, config in ((Options(timeout=value), {}), (Options(), {"timeout": value})):
        with pytest.raises(UsageError, match="at most 3600 seconds"):
            resolve_settings(options, {**CONFIG, **config}, set(config), {"GEMINI_API_KEY": "k"})
    assert resolve_settings(Options(timeout=3600), CONFIG, set(), {"GEMINI_API_KEY": "k"}).timeout == 3600


# -- item 5: bounded memory -------------------------------------------------------------------


def zeros(total: int, piece: int = MB) -> Iterator[bytes]:
    block = b"\0" * piece
    for _ in range(total // piece):
        yield block


def letters(total: int, piece: int = MB) -> Iterator[bytes]:
    block = b"a" * piece
    for _ in range(total // piece):
        yield block


def peak_while(run: Any) -> tuple[Any, int]:
    """Run *run*; return what it returned (or raised) and the peak of Python allocations."""
    tracemalloc.start()
    try:
        try:
            result = run()
        except BaseException as exc:  # noqa: BLE001 - returned to the caller to check
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_asks_for_identity_and_still_reads_a_gzip_body(gemini: GeminiTestServer) -> None:
    raw = b"".join(f"data: {json.dumps(e)}\r\n\r\n".encode() for e in text_events(["zip", "ped"]))
    gemini.push(Reply([gzipped(iter([raw[:50], raw[50:]]))], headers={"Content-Encoding": "gzip"}))
    events = list(GeminiClient().stream(url(gemini), {}, settings_for(gemini)))
    assert [e["candidates"][0]["content"]["parts"][0]["text"] for e in events] == ["zip", "ped"]
    assert gemini.requests[0].headers["Accept-Encoding"] == "identity"


def test_a_gzip_bomb_stops_at_the_event_cap_in_bounded_memory(gemini: GeminiTestServer) -> None:
    """200 MB of zeros in ~200 kB of gzip: inflated in bounded steps, stopped at 64 MB."""
    gemini.push(Reply([gzipped(_prefixed(b"data: ", zeros(200 * MB)))], headers={"Content-Encoding": "gzip"}))
    failure, peak = peak_while(lambda: list(GeminiClient().stream(url(gemini), {}, settings_for(gemini))))
    assert isinstance(failure, GeminiStreamError), repr(failure)
    assert str(failure) == "an event in the stream is over the 64 MB limit for one event"
    assert peak < 2 * 64 * MB, peak / MB
    assert_clean(failure)


def _prefixed(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def test_a_long_line_without_newline_stops_at_the_event_cap(gemini: GeminiTestServer) -> None:
    first = f"data: {json.dumps(text_events(['kept'], finish='')[0])}\n\n".encode()
    gemini.push(Reply([first, b"data: ", letters(100 * MB)]))
    stream = GeminiClient().stream(url(gemini), {}, settings_for(gemini))
    (events, failure), peak = peak_while(lambda: events_then_failure(stream))
    assert len(events) == 1  # the part before the cap reached the caller, which keeps it
    assert isinstance(failure, GeminiStreamError) and "64 MB limit for one event" in str(failure)
    assert peak < 2 * 64 * MB, peak / MB
    assert_clean(failure)


def test_the_whole_response_cap_counts_the_stream(gemini: GeminiTestServer) -> None:
    gemini.push(sse(text_events(["x" * 100_000] * 30, finish="")))
    settings = settings_for(gemini, max_response_mb=1)
    assert settings.max_response_bytes == MB
    events, failure = events_then_failure(GeminiClient().stream(url(gemini), {}, settings))
    assert isinstance(failure, GeminiStreamError)
    assert "1 MB limit" in str(failure) and "GeminiMagic.max_response_mb" in str(failure)
    assert 8 <= len(events) < 11
    assert_clean(failure)


def test_the_response_cap_holds_for_json_bodies_compressed_or_not(gemini: GeminiTestServer) -> None:
    settings = settings_for(gemini, max_response_mb=1)
    gemini.push(json_reply({"candidates": [{"content": {"parts": [{"text": "y" * 3 * MB}]}}]}))
    with pytest.raises(GeminiStreamError, match="1 MB limit") as info:
        GeminiClient().generate(url(gemini, False), {}, settings)
    assert_clean(info.value)
    bomb = Reply([gzipped(_prefixed(b'{"a": "', letters(300 * MB)))], content_type="application/json")
    bomb.headers["Content-Encoding"] = "gzip"
    gemini.push(bomb)
    failure, peak = peak_while(lambda: GeminiClient().generate(url(gemini, False), {}, settings_for(gemini)))
    assert isinstance(failure, GeminiStreamError) and "256 MB limit" in str(failure)
    assert peak < 2 * 256 * MB, peak / MB
    assert_clean(failure)


def test_a_body_without_chunked_framing_is_read(gemini: GeminiTestServer) -> None:
    raw = b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in text_events(["plain", "body"]))
    gemini.push(Reply([raw[:40], raw[40:]], chunked=False))
    assert len(list(GeminiClient().stream(url(gemini), {}, settings_for(gemini)))) == 2


def test_an_unsupported_content_encoding_is_named(gemini: GeminiTestServer) -> None:
    gemini.push(Reply([b"\x1b\x00"], headers={"Content-Encoding": "br"}))
    with pytest.raises(GeminiStreamError, match="compressed the body as 'br'"):
        list(GeminiClient().stream(url(gemini), {}, settings_for(gemini)))


@pytest.mark.parametrize(("body", "kind"), [([1, 2], "a list holding a number"), (None, "null"), ("str", "a string")])
def test_a_json_body_that_is_not_an_object_is_a_stream_error(gemini: GeminiTestServer, body: Any, kind: str) -> None:
    gemini.push(json_reply(json.dumps(body).encode()))
    with pytest.raises(GeminiStreamError, match=f"answered with {kind} where a JSON object belongs"):
        GeminiClient().generate(url(gemini, False), {}, settings_for(gemini))
    gemini.push(json_reply(json.dumps(body).encode()))
    with pytest.raises(GeminiStreamError, match=f"answered with {kind} where JSON objects belong"):
        list(GeminiClient().stream(url(gemini), {}, settings_for(gemini)))


def test_the_decoder_caps_one_event_and_empties_its_buffers() -> None:
    decoder = SSEDecoder(max_event=1000)
    assert list(decoder.feed(b'data: {"a": 1}\n\n')) == [{"a": 1}]
    with pytest.raises(GeminiStreamError, match=r"over the 0\.000953674 MB limit") as info:
        for piece in (b"data: [", b"1," * 300, b"\ndata: ", b"2," * 300):
            list(decoder.feed(piece))
    assert (decoder._buf, decoder._data, decoder._raw) == (bytearray(), [], bytearray())
    for frame in frames(info.value):
        assert all(not isinstance(v, bytes | bytearray) or len(v) < 700 for v in frame.f_locals.values())


def test_hostile_nesting_and_raw_tails_are_stream_errors_quickly() -> None:
    with pytest.raises(GeminiStreamError, match="nested too deeply"):
        list(SSEDecoder().feed(b"data: " + b"[" * 100_000 + b"\n\n"))
    started = time.monotonic()
    with pytest.raises(GeminiStreamError, match="not an event"):
        list(SSEDecoder().feed(b'{"a": [\n' + b",{}\n" * 300_000))
    with pytest.raises(GeminiStreamError, match="not an event"):
        list(SSEDecoder().feed(b"{\n" + b" " * 100_000 + b"\n"))
    assert time.monotonic() - started < 1.0


MODEL = {"name": "models/ok", "supportedGenerationMethods": ["generateContent"], "inputTokenLimit": 5}


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ({"models": "gemini"}, "models as a string; expected a list"),
        ({"models": [MODEL, 7]}, "a number at models[1], where a model object belongs"),
        ({"models": [{**MODEL, "name": 5}]}, "models[0].name as a number; expected a string"),
        ({"models": [{**MODEL, "inputTokenLimit": "big"}]}, "models[0].inputTokenLimit as a string"),
        ({"models": [{**MODEL, "outputTokenLimit": True}]}, "models[0].outputTokenLimit as true/false"),
        ({"models": [{**MODEL, "supportedGenerationMethods": "generateContent"}]}, "supportedGenerationMethods as"),
        ({"models": [{**MODEL, "supportedGenerationMethods": [1]}]}, "not a list of strings"),
        ({"models": [MODEL], "nextPageToken": 7}, "nextPageToken as a number; expected a string"),
        ([MODEL], "answered with a list where a JSON object belongs"),
        (None, "answered with null"),
        ("models", "answered with a string"),
    ],
)
def test_a_models_page_of_the_wrong_shape_names_the_field(gemini: GeminiTestServer, page: Any, message: str) -> None:
    gemini.push(json_reply(json.dumps(page).encode()))
    with pytest.raises(GeminiStreamError) as info:
        list_models(GeminiClient(), settings_for(gemini))
    assert message in str(info.value)


def test_null_model_fields_read_as_absent(gemini: GeminiTestServer) -> None:
    gemini.push(
        json_reply({"models": [{**MODEL, "inputTokenLimit": None, "displayName": None}], "nextPageToken": None})
    )
    found = list_models(GeminiClient(), settings_for(gemini))
    assert found == [{"name": "models/ok", "supportedGenerationMethods": ["generateContent"]}]
    rows = models_bundle(found)[0]["text/plain"].splitlines()
    assert rows[1].split() == ["ok", "0", "0", "—"]  # no name, limits shown as 0


def test_an_error_body_is_read_within_a_limit(gemini: GeminiTestServer) -> None:
    gemini.push(Reply([letters(30 * MB)], status=400, content_type="text/html"))
    failure, peak = peak_while(lambda: GeminiClient().generate(url(gemini, False), {}, settings_for(gemini)))
    assert (
        isinstance(failure, GeminiAPIError) and str(failure) == "400 Bad Request: (an error body over 1 MB, not shown)"
    )
    assert peak < 8 * MB, peak / MB
