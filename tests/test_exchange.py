"""The call path in process (``_exchange``, ``_call``, ``_summary``): %%gemini in terminal IPython
against the loopback server — streaming and not, tool rounds, the cache, chats, and failures that
keep the partial answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import FAKE_KEY
from gemini_server import GeminiTestServer, error_reply, json_reply, sse, text_events
from IPython.core.error import UsageError
from shell import TestShell

from gemini_magic._errors import GeminiAnswerError, GeminiAPIError, GeminiStreamError


def test_stream_prints_as_it_comes_and_stores_the_response(
    shell: TestShell, gemini: GeminiTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    gemini.push(sse(text_events(["Hello ", "world."])))
    shell.run("%%gemini -o kept -t 0.5\nSay hello")
    out = capsys.readouterr().out
    assert out.startswith("Hello world.\ngemini-test-001 · 7 in → 6 out · 13 total tokens · first token ")
    assert shell.user_ns["_gemini"].text == "Hello world." and shell.user_ns["kept"] is shell.user_ns["_gemini"]
    request = gemini.requests[0]
    assert request.path == "/v1beta/models/gemini-3-flash-preview:streamGenerateContent?alt=sse"
    assert request.headers["x-goog-api-key"] == FAKE_KEY
    assert request.body["contents"] == [{"role": "user", "parts": [{"text": "Say hello"}]}]
    assert request.body["generationConfig"]["temperature"] == 0.5
    assert shell.user_ns["_gemini"].request["model"] == "gemini-3-flash-preview"


def test_no_stream_and_config_model(shell: TestShell, gemini: GeminiTestServer) -> None:
    shell.run("%config GeminiMagic.model = 'gemini-test-config'")
    gemini.push(json_reply(text_events(["Whole."])[0]))
    shell.run("%%gemini --no-stream\nAll at once")
    assert gemini.requests[0].path == "/v1beta/models/gemini-test-config:generateContent"
    assert shell.user_ns["_gemini"].text == "Whole."


def test_prompt_fills_in_notebook_names(shell: TestShell, gemini: GeminiTestServer) -> None:
    shell.run("topic = 'qubits'")
    gemini.push(sse(text_events(["ok"])), sse(text_events(["ok"])))
    shell.run("%%gemini\nExplain {topic} with {braces}")
    shell.run("%%gemini --no-interpolate\nExplain {topic}")
    texts = [r.body["contents"][0]["parts"][0]["text"] for r in gemini.requests]
    assert texts == ["Explain qubits with {braces}", "Explain {topic}"]


def test_api_error_is_one_line_and_nothing_is_kept_from_the_network(shell: TestShell, gemini: GeminiTestServer) -> None:
    gemini.push(error_reply(400, "INVALID_ARGUMENT", "API key not valid."))
    with pytest.raises(GeminiAPIError, match=r"400 INVALID_ARGUMENT: API key not valid\.") as caught:
        shell.run("%%gemini\nHi")
    error = caught.value
    modules, tb = [], error.__traceback__
    while tb is not None:
        modules.append(tb.tb_frame.f_globals.get("__name__", "?"))
        tb = tb.tb_next
    assert not [m for m in modules if m.startswith(("requests", "urllib3", "http.", "socket"))], modules
    assert error.__context__ is None and error.__cause__ is None
    assert error._render_traceback_()[0].count("\n") == 0


def test_retry_is_announced_then_the_answer_comes(
    shell: TestShell, gemini: GeminiTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    retry = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.1s"}]
    gemini.push(error_reply(503, "UNAVAILABLE", "The model is overloaded.", retry), sse(text_events(["Back."])))
    shell.run("%%gemini\nHi")
    captured = capsys.readouterr()
    assert "[503 UNAVAILABLE: The model is overloaded. — retrying in 0.1 s (retry 1 of 3)]" in captured.err
    assert captured.out.startswith("Back.\n") and len(gemini.requests) == 2


def test_stream_without_finish_reason_is_an_error_that_keeps_the_text(
    shell: TestShell, gemini: GeminiTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    gemini.push(sse(text_events(["Half an ans", "wer"], finish="")))
    with pytest.raises(GeminiStreamError, match="the stream ended before the model finished") as caught:
        shell.run("%%gemini\nHi")
    assert caught.value.response.text == "Half an answer" == shell.user_ns["_gemini"].text
    assert "Half an answer" in capsys.readouterr().out


def test_blocked_prompt_and_max_tokens(
    shell: TestShell, gemini: GeminiTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    gemini.push(sse([{"promptFeedback": {"blockReason": "SAFETY"}}]))
    with pytest.raises(GeminiAnswerError, match="SAFETY"):
        shell.run("%%gemini\nSomething bad")
    gemini.push(sse(text_events(["Cut sh"], finish="MAX_TOKENS")))
    shell.run("%%gemini --max-tokens 3\nLong story")
    assert "Cut sh" in capsys.readouterr().out
    assert gemini.requests[1].body["generationConfig"]["maxOutputTokens"] == 3
    gemini.push(sse([{"candidates": [{"finishReason": "MAX_TOKENS"}]}]))
    with pytest.raises(GeminiAnswerError, match="no answer"):
        shell.run("%%gemini --max-tokens 3\nLong story")


def call_event(name: str, args: dict[str, Any]) -> dict[str, Any]:
    parts = [{"functionCall": {"name": name, "args": args}, "thoughtSignature": "c2ln"}]
    return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}]}


TOOLS = '''
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b
'''


def test_tool_rounds_run_and_answer_and_stop_at_the_limit(
    shell: TestShell, gemini: GeminiTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run(TOOLS)
    gemini.push(sse([call_event("add", {"a": 1, "b": 2})]), sse(text_events(["It is 3."])))
    shell.run("%%gemini --tools add --run-tools\nWhat is 1 + 2?")
    assert gemini.requests[1].body["contents"][-1] == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "add", "response": {"result": 3}}}],
    }
    assert any('ran add({"a": 1, "b": 2})' in text for text in shell.texts())
    assert shell.user_ns["_gemini"].text == "It is 3."
    capsys.readouterr()
    shell.run("%config GeminiMagic.max_tool_rounds = 1")
    gemini.reset()
    gemini.push(sse([call_event("add", {"a": 1, "b": 1})]), sse([call_event("add", {"a": 2, "b": 2})]))
    shell.run("%%gemini --tools add --run-tools\nKeep adding")
    assert len(gemini.requests) == 2
    assert "stopped after 1 tool rounds; the model still wanted to call tools" in shell.texts()[-1]


def test_tool_calls_without_run_tools_are_only_shown(notebook: TestShell, gemini: GeminiTestServer) -> None:
    notebook.run(TOOLS)
    gemini.push(sse([call_event("add", {"a": 4, "b": 5})]))
    notebook.run("%%gemini --tools add --tool-mode any\nAdd 4 and 5")
    assert len(gemini.requests) == 1
    assert gemini.requests[0].body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert 'add({"a": 4, "b": 5})' in notebook.texts("text/html")[-1]


def test_cache_hit_needs_no_key_and_errors_are_not_cached(
    shell: TestShell, gemini: GeminiTestServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gemini.push(sse(text_events(["Cached."])))
    shell.run("%%gemini --cache\nSame")
    monkeypatch.delenv("GEMINI_API_KEY")
    shell.run("%%gemini --cache\nSame")
    assert len(gemini.requests) == 1 and shell.user_ns["_gemini"].text == "Cached."
    with pytest.raises(UsageError, match="No API key"):
        shell.run("%%gemini --cache\nA miss")
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)
    gemini.push(error_reply(500, "INTERNAL", "oops"), sse(text_events(["Good."])))
    shell.run("%config GeminiMagic.max_retries = 0")
    with pytest.raises(GeminiAPIError):
        shell.run("%%gemini --cache\nFlaky")
    shell.run("%%gemini --cache\nFlaky")
    assert len(gemini.requests) == 3
    assert len(list((tmp_path / ".gemini-cache").glob("*.json"))) == 2


def test_chat_history_per_cell_and_failed_turn_not_recorded(notebook: TestShell, gemini: GeminiTestServer) -> None:
    gemini.push(sse(text_events(["One."])), error_reply(400, "INVALID_ARGUMENT", "bad"), sse(text_events(["Two."])))
    notebook.run("%%gemini --chat\nFirst", cell_id="a")
    with pytest.raises(GeminiAPIError):
        notebook.run("%%gemini --chat\nBroken", cell_id="b")
    notebook.run("%%gemini --chat\nSecond", cell_id="b")
    assert [t["parts"][0]["text"] for t in gemini.requests[2].body["contents"]] == ["First", "One.", "Second"]
    gemini.push(sse(text_events(["Again."])))
    notebook.run("%%gemini --chat\nFirst again", cell_id="a")  # a re-run replaces its own exchange
    assert [t["parts"][0]["text"] for t in gemini.requests[3].body["contents"]] == ["First again"]


def test_empty_cell_and_key_in_the_request_send_nothing(shell: TestShell, gemini: GeminiTestServer) -> None:
    with pytest.raises(UsageError, match="the cell is empty"):
        shell.run("%%gemini\n\n")
    shell.run(f"secret = {FAKE_KEY!r}")
    with pytest.raises(UsageError, match="the request holds your API key"):
        shell.run("%%gemini\nWhat is {secret}?")
    assert gemini.requests == []


def test_footer_counts_every_kind_of_token_and_names_an_early_stop(
    shell: TestShell, gemini: GeminiTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    usage = {
        "promptTokenCount": 1200,
        "candidatesTokenCount": 30,
        "thoughtsTokenCount": 50,
        "toolUsePromptTokenCount": 7,
        "cachedContentTokenCount": 1000,
        "totalTokenCount": 1287,
    }
    candidate = {
        "content": {"role": "model", "parts": [{"text": "Partly"}]},
        "finishReason": "SAFETY",
        "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "blocked": True}],
        "finishMessage": "Stopped.",
    }
    gemini.push(sse([{"candidates": [candidate], "usageMetadata": usage, "modelVersion": "gemini-x"}]))
    shell.run("%%gemini\nHi")
    footer = capsys.readouterr().out.splitlines()[-1]
    assert footer.startswith("gemini-x · 1,200 in → 30 out + 50 thinking + 7 tool (1,000 cached) · 1,287 total tokens")
    gemini.push(sse([{"candidates": [{**candidate, "finishReason": "MAX_TOKENS"}], "usageMetadata": usage}]))
    shell.run("%%gemini\nHi")
    assert shell.user_ns["_gemini"].finish_reason == "MAX_TOKENS"


def test_a_daily_quota_is_not_retried_and_odd_error_bodies_still_read(
    shell: TestShell, gemini: GeminiTestServer
) -> None:
    quota = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [{"quotaId": "RequestsPerDayPerProject"}],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "soon"},
    ]
    gemini.push(error_reply(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", quota))
    with pytest.raises(GeminiAPIError, match="429 RESOURCE_EXHAUSTED: Quota exceeded") as caught:
        shell.run("%%gemini\nHi")
    assert len(gemini.requests) == 1 and caught.value.is_daily_quota() and caught.value.retry_delay() is None
    gemini.push(json_reply({"error": "gateway says no"}, status=400), json_reply(["odd"], status=400))
    with pytest.raises(GeminiAPIError, match=r"^400: gateway says no$"):
        shell.run("%%gemini\nHi")
    with pytest.raises(GeminiAPIError, match=r"^400: unexpected error body: .*odd"):
        shell.run("%%gemini\nHi")
