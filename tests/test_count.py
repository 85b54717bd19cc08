"""``--count-tokens`` / ``generate(count_tokens=True)`` against the loopback server
(tests/caches_service.py): the counted request is the cell's own, nothing is generated."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from caches_service import CachesService
from gemini_server import GeminiTestServer, error_reply, json_reply, sse, text_events
from IPython.core.error import UsageError
from shell import TestShell

from gemini_magic import generate
from gemini_magic._count import TokenCount
from gemini_magic._errors import GeminiAPIError, GeminiStreamError

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 600
CELL = '--system "Be terse." --search -t 0.2 --attach pic.png -m gemini-2.5-flash'


def generating(server: GeminiTestServer) -> list[str]:
    return [r.path for r in server.requests if "generateContent" in r.path.lower()]


def test_the_counted_request_is_exactly_the_one_the_cell_would_send(
    shell: TestShell, gemini: GeminiTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("pic.png").write_bytes(PNG)
    gemini.responder = CachesService()
    shell.run(f"%%gemini {CELL}\nDescribe the picture.")
    sent = gemini.requests[-1].body
    gemini.requests.clear()

    shell.run(f"%%gemini {CELL} --count-tokens -o n\nDescribe the picture.")
    assert [r.path for r in gemini.requests] == ["/v1beta/models/gemini-2.5-flash:countTokens"]
    assert gemini.requests[0].body == {"generateContentRequest": {"model": "models/gemini-2.5-flash", **sent}}
    assert set(sent) == {"contents", "systemInstruction", "tools", "generationConfig"}
    assert generating(gemini) == []

    count = shell.user_ns["_gemini"]
    assert isinstance(count, TokenCount) and shell.user_ns["n"] is count
    text_tokens = len("Describe the picture.") // 4 + len("Be terse.") // 4
    image_tokens = len(base64.b64encode(PNG)) // 100
    assert count.details == {"IMAGE": image_tokens, "TEXT": text_tokens}
    assert count.total == text_tokens + image_tokens and count.cached == 0
    assert count.request["url"].endswith(":countTokens")
    assert repr(count) == f"TokenCount(total={count.total}, cached=0, details={count.details})"
    # terminal IPython prints the one-line summary
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"{count.total} tokens · image {image_tokens}, text {text_tokens} · gemini-2.5-flash · "
        "countTokens: nothing was generated"
    )


def test_a_notebook_shows_a_table_and_the_chat_is_counted_but_not_extended(
    notebook: TestShell, gemini: GeminiTestServer
) -> None:
    gemini.push(sse(text_events(["Entropy is disorder."])))
    notebook.run("%%gemini --chat physics\nWhat is entropy?", cell_id="c1")
    gemini.responder = CachesService()
    notebook.run("%%gemini --chat physics --count-tokens\nAn example?", cell_id="c2")
    body = gemini.requests[-1].body["generateContentRequest"]
    assert [t["role"] for t in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][1]["parts"] == [{"text": "Entropy is disorder."}]
    html = notebook.texts("text/html")[-1]
    assert "<th>input</th>" in html and "<td>total</td>" in html
    assert "countTokens: nothing was generated" in html
    chat = notebook.user_ns["_gemini"]
    assert isinstance(chat, TokenCount)
    magic = notebook.magics_manager.registry["GeminiMagic"]
    assert len(magic.chats["physics"].turns()) == 2  # counting added no turn


def test_dry_run_shows_the_count_request_and_sends_nothing(shell: TestShell, gemini: GeminiTestServer) -> None:
    shell.run("%%gemini --count-tokens --dry-run -m gemini-2.5-flash\nHello")
    assert gemini.requests == []
    shown = shell.texts()[-1]
    assert "/v1beta/models/gemini-2.5-flash:countTokens" in shown and '"generateContentRequest"' in shown


def test_generate_counts_without_generating(shell: TestShell, gemini: GeminiTestServer) -> None:
    gemini.responder = CachesService()
    count = generate("Count me, please", count_tokens=True, model="gemini-2.5-flash")
    assert isinstance(count, TokenCount) and count.total == len("Count me, please") // 4
    assert generating(gemini) == [] and len(gemini.requests) == 1
    assert shell.texts() == []  # display=False shows nothing


def test_cached_tokens_are_shown(
    shell: TestShell, gemini: GeminiTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    gemini.push(
        json_reply(
            {
                "totalTokens": 2100,
                "cachedContentTokenCount": 2048,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 52}],
                "cacheTokensDetails": [{"modality": "DOCUMENT", "tokenCount": 2048}],
            }
        )
    )
    shell.run("%%gemini --count-tokens --cached-content cachedContents/abc\nQ")
    assert gemini.requests[0].body["generateContentRequest"]["cachedContent"] == "cachedContents/abc"
    assert capsys.readouterr().out.startswith("2,100 tokens (2,048 cached) · text 52 · ")
    assert shell.user_ns["_gemini"].cached == 2048


def test_failures_are_one_line(shell: TestShell, gemini: GeminiTestServer) -> None:
    gemini.push(error_reply(400, "INVALID_ARGUMENT", "Unable to count tokens for this model."))
    with pytest.raises(GeminiAPIError, match="400 INVALID_ARGUMENT: Unable to count tokens") as caught:
        shell.run("%%gemini --count-tokens\nQ")
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    gemini.push(json_reply({"totalTokens": "many"}))
    with pytest.raises(GeminiStreamError, match="totalTokens is a string, expected an integer"):
        shell.run("%%gemini --count-tokens\nQ")
    shell.run("rows = ['a']")
    with pytest.raises(UsageError, match="cannot be combined with --each"):
        shell.run("%%gemini --count-tokens --each rows\n{index}")
    assert len(gemini.requests) == 2 and generating(gemini) == []


def test_a_busy_server_is_retried_and_a_missing_key_is_one_line(
    shell: TestShell, gemini: GeminiTestServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.01s"}
    gemini.push(error_reply(503, "UNAVAILABLE", "The model is overloaded.", [retry]))
    gemini.responder = CachesService()
    shell.run("%%gemini --count-tokens\nHello there")
    assert len(gemini.requests) == 2 and shell.user_ns["_gemini"].total == 2
    assert "The model is overloaded. — retrying in 0.0 s (retry 1 of 3)" in capsys.readouterr().err
    monkeypatch.delenv("GEMINI_API_KEY")
    with pytest.raises(UsageError, match="No API key"):
        shell.run("%%gemini --count-tokens --cache\nHello there")
    assert len(gemini.requests) == 2
