"""Tool rounds: shown cut but sent whole, at most ``max_tool_rounds`` runs with every result sent back,
and a call the magic cannot answer is a clear error (issue 8, item 10)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Kernel, assert_inert, displays, error_of, printed
from gemini_server import GeminiTestServer, sse, text_events

from gemini_magic._errors import GeminiStreamError
from gemini_magic._tools import run_calls

TOOLS = '''
runs = []

def count() -> int:
    """Count a call."""
    runs.append(1)
    return len(runs)

def measure(text: str) -> str:
    """Echo a text back, twice over."""
    return text * 2
'''


def calls(*pairs: tuple[Any, Any]) -> dict[str, Any]:
    parts = [{"functionCall": {"name": name, "args": args}} for name, args in pairs]
    return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}]}


def test_five_rounds_run_five_times_and_every_result_is_sent(kernel: Kernel, gemini: GeminiTestServer) -> None:
    kernel.run(TOOLS)
    gemini.push(*[sse([calls(("count", {}))]) for _ in range(8)])
    outputs = kernel.run("%%gemini --tools count --run-tools\nCount forever")
    assert printed(kernel.run("print(len(runs))")) == "5\n"
    assert len(gemini.requests) == 6  # the first ask, then one per round carrying its result
    last = gemini.requests[-1].body["contents"]
    assert last[-1] == {"role": "user", "parts": [{"functionResponse": {"name": "count", "response": {"result": 5}}}]}
    notes = [d["data"]["text/plain"] for d in displays(outputs) if d["data"]["text/plain"].startswith("⚠")]
    assert notes == ["⚠ stopped after 5 tool rounds; the model still wanted to call tools"]
    kernel.run("%config GeminiMagic.max_tool_rounds = 0")
    try:
        gemini.reset()
        gemini.push(sse([calls(("count", {}))]))
        kernel.run("%%gemini --tools count --run-tools\nCount")
        assert printed(kernel.run("print(len(runs))")) == "5\n" and len(gemini.requests) == 1
    finally:
        kernel.run("%config GeminiMagic.max_tool_rounds = 5")


def test_big_arguments_and_results_are_shown_cut_and_sent_whole(kernel: Kernel, gemini: GeminiTestServer) -> None:
    kernel.run(TOOLS)
    big = "<b>" + "x" * 5_000_000
    gemini.push(sse([calls(("measure", {"text": big}))]), sse(text_events(["Measured."])))
    outputs = kernel.run("%%gemini --tools measure --run-tools\nMeasure it")
    assert kernel.reply["status"] == "ok", outputs
    assert len(json.dumps([dict(o) for o in outputs])) < 20_000  # was 20 MB of saved output
    (ran,) = [d["data"] for d in displays(outputs) if d["data"]["text/plain"].startswith("ran ")]
    assert ran["text/plain"].startswith('ran measure({"text": "<b>xxx') and len(ran["text/plain"]) < 700
    assert "&lt;b&gt;xxx" in ran["text/html"] and "…</code>" in ran["text/html"]
    assert_inert(ran["text/html"])
    sent = gemini.requests[1].body["contents"][-1]["parts"][0]["functionResponse"]["response"]["result"]
    assert sent == big * 2  # the model gets the whole result
    whole = "_gemini.request['body']['contents'][1]['parts'][0]['functionCall']['args']['text']"
    assert printed(kernel.run(f"print(len({whole}))")) == f"{len(big)}\n"


def test_a_name_that_is_not_a_string_is_a_clear_error(kernel: Kernel, gemini: GeminiTestServer) -> None:
    kernel.run(TOOLS + "\nruns.clear()")
    gemini.push(sse([calls(("count", {}), ({"not": "a name"}, {}))]))
    outputs = kernel.run("%%gemini --tools count --run-tools\nCount")
    error = error_of(outputs)  # said by the response checks, or by run_calls, in one sentence
    assert error["ename"] == "GeminiStreamError" and error["evalue"].startswith("malformed response: ")
    assert "functionCall" in error["evalue"] and error["evalue"].endswith("expected a string")
    assert printed(kernel.run("print(len(runs))")) == "0\n" and len(gemini.requests) == 1


def test_run_calls_checks_names_and_arguments() -> None:
    ran: list[object] = []
    tools = {"f": lambda **kw: ran.append(kw)}
    with pytest.raises(GeminiStreamError, match="functionCall name is a int, expected a string"):
        run_calls([{"name": "f", "args": {}}, {"name": 5, "args": {}}], tools)
    assert ran == []  # nothing runs when one call cannot be answered
    replies = run_calls([{"name": "f", "args": [1, 2]}, {"name": "f", "args": "x"}], tools)
    assert [r["functionResponse"]["response"] for r in replies] == [
        {"error": "the arguments must be a JSON object, not a list"},
        {"error": "the arguments must be a JSON object, not a str"},
    ]
    assert ran == []
