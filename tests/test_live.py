"""Live behaviour seen on the kernel's iopub channel: real streaming, and Ctrl-C."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Kernel, kernel_env
from gemini_server import GeminiTestServer, sse, text_events


@pytest.fixture(scope="module")
def live(server: GeminiTestServer) -> Iterator[Kernel]:
    with Kernel(kernel_env(server)) as kernel:
        kernel.run("%load_ext gemini_magic")
        yield kernel


def _shows(msg: dict[str, Any], text: str) -> bool:
    """Does this message carry *text* to the front end (widget state or display data)?"""
    content = msg["content"]
    if msg["msg_type"] == "comm_msg":
        return text in str(content.get("data", {}).get("state", {}).get("value", ""))
    if msg["msg_type"] in ("display_data", "update_display_data"):
        return text in content["data"].get("text/html", "")
    return False


def test_first_words_reach_the_front_end_before_the_stream_ends(live: Kernel, gemini: GeminiTestServer) -> None:
    gate = threading.Event()
    reply = sse(text_events(["First words arrive", " and then the rest"]))
    reply.steps.insert(1, gate)  # the server holds the rest back until the test has seen the start
    gemini.push(reply)
    msg_id = live.execute("%%gemini\nHi")
    seen_first = seen_rest = False
    for msg in live.messages(msg_id, 30):
        if not seen_first and _shows(msg, "First words arrive"):
            seen_first = True
            assert gemini.requests[0].outcome == "open", "the server had already finished: nothing was streamed"
            assert not _shows(msg, "then the rest")
            gate.set()
        if msg["msg_type"] == "update_display_data" and _shows(msg, "First words arrive and then the rest"):
            seen_rest = True
            assert "application/vnd.jupyter.widget-view+json" not in msg["content"]["data"]
    assert seen_first and seen_rest
    assert gemini.requests[0].outcome == "completed"


def test_ctrl_c_stops_the_stream_and_keeps_the_partial_answer(live: Kernel, gemini: GeminiTestServer) -> None:
    gate = threading.Event()
    reply = sse(text_events(["Interrupted answer", " that never arrives"]))
    reply.steps.insert(1, gate)
    reply.steps.insert(2, 0.2)
    gemini.push(reply)
    msg_id = live.execute("%%gemini\nHi")
    final = None
    errors = []
    for msg in live.messages(msg_id, 30):
        if _shows(msg, "Interrupted answer") and msg["msg_type"] == "comm_msg":
            live.interrupt()
        if msg["msg_type"] == "update_display_data":
            final = msg["content"]["data"]
        if msg["msg_type"] == "error":
            errors.append(msg["content"])
    # One line, not the trace through requests and urllib3; still a KeyboardInterrupt.
    assert [e["ename"] for e in errors] == ["GeminiInterrupted"]
    one_line = (
        "\x1b[31mGeminiInterrupted\x1b[0m: stopped by the user (interrupt); the connection was closed; "
        "the 18 characters received are kept in _gemini"
    )
    assert errors[0]["traceback"] == [one_line]
    assert final is not None and "Interrupted answer" in final["text/html"]
    assert "stopped by the user" in final["text/html"]
    gate.set()  # let the server try to send the rest: the closed connection must refuse it
    deadline = time.monotonic() + 10
    while gemini.requests[0].outcome == "open" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [r.outcome for r in gemini.requests] == ["disconnected"]
    printed: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            printed.append(msg["content"]["text"])

    live.printed("print(repr(_gemini.text))", on_message=hook, timeout=30)
    assert printed == ["'Interrupted answer'\n"]
    printed.clear()
    live.printed(REACHABLE, on_message=hook, timeout=30)
    reachable = printed[0].split()
    assert reachable[0] == "True" and "gemini_magic._call" in reachable, reachable  # a KeyboardInterrupt
    assert not [name for name in reachable if name.startswith(("requests", "urllib3", "http.", "socket"))], reachable


# What the last error keeps alive: the modules of every frame in its traceback and in the
# tracebacks of the exceptions chained to it (their locals would hold the request and its buffers).
REACHABLE = """
import sys
_seen, _error = set(), sys.last_value
_modules = []
while _error is not None and id(_error) not in _seen:
    _seen.add(id(_error))
    _tb = _error.__traceback__
    while _tb is not None:
        _modules.append(_tb.tb_frame.f_globals.get("__name__", "?"))
        _tb = _tb.tb_next
    _error = _error.__cause__ or _error.__context__
print(isinstance(sys.last_value, KeyboardInterrupt), *sorted(set(_modules)))
"""


def test_no_widget_traffic_after_failed_cells(live: Kernel, gemini: GeminiTestServer) -> None:
    """A cell that fails while "thinking…" ticks must not leave the ticker sending widget updates."""
    errors = []
    for bad_event in ({"candidates": [{"content": {"parts": [{"text": 5}]}}]}, {"usageMetadata": [1]}):
        gemini.push(sse([bad_event]))
        msg_id = live.execute("%%gemini\nHi")
        errors += [m["content"]["ename"] for m in live.messages(msg_id, 30) if m["msg_type"] == "error"]
    late = live.late_messages(1.0)
    assert late.count("comm_msg") == 0, late
    assert errors == ["GeminiStreamError", "GeminiStreamError"]


def test_retry_is_announced_while_waiting(live: Kernel, gemini: GeminiTestServer) -> None:
    from gemini_server import error_reply

    retry = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.3s"}]
    gemini.push(error_reply(503, "UNAVAILABLE", "The model is overloaded.", retry), sse(text_events(["Recovered"])))
    msg_id = live.execute("%%gemini\nHi")
    announced = [
        msg
        for msg in live.messages(msg_id, 30)
        if _shows(msg, "503 UNAVAILABLE: The model is overloaded. — retrying in 0.3 s (retry 1 of 3)")
    ]
    assert announced
    assert len(gemini.requests) == 2


def test_thinking_indicator_ticks_before_the_first_token(live: Kernel, gemini: GeminiTestServer) -> None:
    reply = sse(text_events(["Finally ", "an answer"]))
    reply.steps.insert(0, 0.6)  # the model "thinks" before its first event
    gemini.push(reply)
    msg_id = live.execute("%%gemini\nHi")
    ticks = []
    for msg in live.messages(msg_id, 30):
        if msg["msg_type"] == "comm_msg":
            value = str(msg["content"].get("data", {}).get("state", {}).get("value", ""))
            if "gemini-3-flash-preview · thinking… " in value:
                ticks.append(float(value.split("thinking… ")[1].split(" s")[0]))
    assert len(ticks) >= 4, ticks  # it counts up while nothing has arrived
    assert ticks == sorted(ticks) and ticks[-1] >= 0.4
