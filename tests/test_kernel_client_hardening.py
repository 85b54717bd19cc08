"""Issue 8, items 4 and 5, in a real kernel: what the notebook shows and keeps.

Under ``%xmode Verbose`` IPython prints every frame's locals, so a failure that passes through
``requests`` prints the request headers, key included, into the saved notebook. Bad URLs and
timeouts must be one-line user errors; a cross-host redirect a short error; and a capped
response must keep its partial answer without pinning the oversized buffers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from conftest import FAKE_KEY, Kernel, error_of, output_text, printed
from gemini_server import GeminiTestServer, Reply, json_reply, sse, text_events

MB = 1 << 20

# Current resident memory of the kernel after a collection, and the big buffers reachable from the
# last failure's traceback and chained exceptions (what ``sys.last_traceback`` keeps alive).
MEMORY_PROBE = """
import gc, sys
def _pinned(exc, seen=None):
    seen = set() if seen is None else seen
    if exc is None or id(exc) in seen:
        return 0
    seen.add(id(exc))
    size, tb = 0, exc.__traceback__
    while tb is not None:
        size += sum(len(v) for v in tb.tb_frame.f_locals.values() if isinstance(v, (bytes, bytearray, str)))
        tb = tb.tb_next
    return size + _pinned(exc.__context__, seen) + _pinned(exc.__cause__, seen)
gc.collect()
print(int(open('/proc/self/statm').read().split()[1]) * 4096 // 2**20, _pinned(getattr(sys, 'last_value', None)))
"""


def memory(kernel: Kernel) -> tuple[int, int]:
    """(resident MB, bytes pinned by the last failure) in the kernel."""
    rss, pinned = printed(kernel.run(MEMORY_PROBE)).split()
    return int(rss), int(pinned)


@pytest.fixture
def verbose(kernel: Kernel) -> Iterator[Kernel]:
    kernel.run("%xmode Verbose")
    yield kernel
    kernel.run("%xmode Context")


def test_bad_base_urls_and_timeouts_are_one_line_errors_under_verbose(
    verbose: Kernel, gemini: GeminiTestServer
) -> None:
    kernel = verbose
    assert "port that is not a number from 1 to 65535" in kernel.usage_error(
        "%%gemini --base-url http://127.0.0.1:99999\nHi"
    )
    assert "up to 3600" in kernel.usage_error("%%gemini --timeout 1e10\nHi")
    kernel.run("%config GeminiMagic.timeout = 1e10")
    try:
        assert "(%config GeminiMagic.timeout) must be more than 0 and at most 3600" in kernel.usage_error(
            "%%gemini\nHi"
        )
    finally:
        kernel.run("%config GeminiMagic.timeout = 120.0")
    kernel.run("%env GEMINI_BASE_URL=http://127.0.0.1:99999")
    try:
        assert "base URL from GEMINI_BASE_URL: 'http://127.0.0.1:99999'" in kernel.usage_error("%%gemini\nHi")
    finally:
        kernel.run(f"%env GEMINI_BASE_URL={gemini.url}")
    assert gemini.requests == []
    assert FAKE_KEY not in kernel.saved()


@pytest.mark.parametrize("auth", ["key", "bearer"])
def test_a_cross_host_redirect_is_a_short_error_and_the_key_stays(
    verbose: Kernel, gemini: GeminiTestServer, auth: str
) -> None:
    other = GeminiTestServer().start()
    try:
        target = f"{other.url}/v1beta/models/gemini-3-flash-preview:streamGenerateContent?alt=sse"
        gemini.push(Reply([], status=307, headers={"Location": target}))
        outputs = verbose.run(f"%%gemini --auth {auth}\nHi")
        error = error_of(outputs)
        assert error["ename"] == "GeminiConnectionError"
        assert repr(target) in error["evalue"] and "another host" in error["evalue"]
        assert len(error["traceback"]) == 1  # the short trace: no frame, no locals
        assert other.requests == []
        assert FAKE_KEY not in output_text(outputs) and FAKE_KEY not in verbose.saved()
    finally:
        other.stop()


def test_an_oversized_event_keeps_the_partial_answer_and_frees_the_buffers(
    kernel: Kernel, gemini: GeminiTestServer
) -> None:
    before, _ = memory(kernel)
    first = f"data: {json.dumps(text_events(['Partial answer. '], finish='')[0])}\r\n\r\n".encode()
    huge = (b"a" * MB for _ in range(150))  # 150 MB without a newline
    gemini.push(Reply([first, b"data: ", huge]))
    error = error_of(kernel.run("%%gemini\nHi"))
    assert error["ename"] == "GeminiStreamError"
    assert error["evalue"] == "an event in the stream is over the 64 MB limit for one event"
    assert printed(kernel.run("print(repr(_gemini.text))")) == "'Partial answer. '\n"
    after, pinned = memory(kernel)
    assert pinned < MB, pinned
    assert after - before < 40, (before, after)  # nothing of the 64 MB kept alive


def test_the_response_cap_is_configurable_and_keeps_the_partial_answer(
    kernel: Kernel, gemini: GeminiTestServer
) -> None:
    kernel.run("%config GeminiMagic.max_response_mb = 1")
    try:
        gemini.push(sse(text_events(["y" * 100_000] * 30, finish="")))
        error = error_of(kernel.run("%%gemini\nHi"))
    finally:
        kernel.run("%config GeminiMagic.max_response_mb = 256")
    assert error["ename"] == "GeminiStreamError"
    assert "passed the 1 MB limit" in error["evalue"] and "GeminiMagic.max_response_mb" in error["evalue"]
    kept = int(printed(kernel.run("print(len(_gemini.text))")))
    assert 800_000 <= kept < MB


def test_a_models_page_of_the_wrong_shape_is_one_error(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(json_reply({"models": [{"name": "models/x", "inputTokenLimit": "lots"}]}))
    error = error_of(kernel.run("%gemini models"))
    assert error["ename"] == "GeminiStreamError"
    assert error["evalue"] == "the model list has models[0].inputTokenLimit as a string; expected a whole number"
