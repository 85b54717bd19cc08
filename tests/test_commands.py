"""The ``%gemini`` line magic in process (``_commands``, ``_model_list``): models, config, chats, the
cache, one-line prompts, and the usage errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import FAKE_KEY
from gemini_server import GeminiTestServer, json_reply, sse, text_events
from IPython.core.error import UsageError
from shell import TestShell


def test_models_across_two_pages_in_a_table(shell: TestShell, gemini: GeminiTestServer) -> None:
    first = {
        "models": [
            {"name": "models/gemini-a", "displayName": "A <b>", "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
             "supportedGenerationMethods": ["generateContent"], "thinking": True},
            {"name": "models/embedder", "supportedGenerationMethods": ["embedContent"]},
        ],
        "nextPageToken": "page-2",
    }  # fmt: skip
    second = {"models": [{"name": "models/gemini-b", "supportedGenerationMethods": ["generateContent"]}]}
    gemini.push(json_reply(first), json_reply(second))
    shell.run("%gemini models")
    assert [r.path for r in gemini.requests] == [
        "/v1beta/models?pageSize=1000",
        "/v1beta/models?pageSize=1000&pageToken=page-2",
    ]
    assert [m["name"] for m in shell.user_ns["_gemini_models"]] == ["models/gemini-a", "models/gemini-b"]
    (table,) = shell.shown
    assert table.data["text/plain"].endswith("2 models") and "embedder" not in table.data["text/plain"]
    assert (
        "<td>gemini-a</td><td>A &lt;b&gt;</td><td>1,048,576</td><td>65,536</td><td>yes</td>" in table.data["text/html"]
    )


def test_config_shows_where_each_setting_comes_from(shell: TestShell, gemini: GeminiTestServer) -> None:
    shell.run("%config GeminiMagic.timeout = 30")
    shell.run("%gemini config")
    text = shell.texts()[-1]
    rows = {row[0]: row[1:] for row in (re.split(r"\s{2,}", line.strip()) for line in text.splitlines())}
    assert rows["model"] == ["gemini-3-flash-preview", "default"]
    assert rows["base_url"] == [gemini.url, "GEMINI_BASE_URL"]
    assert rows["api_key"] == ["<set: 41 characters from GEMINI_API_KEY>", "GEMINI_API_KEY"]
    assert rows["timeout"][0] == "30 s" and "%config" in rows["timeout"][1]
    assert FAKE_KEY not in text
    assert FAKE_KEY not in shell.texts("text/html")[-1]


def test_chats_list_show_and_reset(notebook: TestShell, gemini: GeminiTestServer) -> None:
    notebook.run("%gemini chats")
    assert "No conversations yet" in notebook.texts()[-1]
    gemini.push(sse(text_events(["Paris."])), sse(text_events(["About 2.1 million."])))
    notebook.run("%%gemini --chat geo\nCapital of France?", cell_id="1")
    notebook.run("%%gemini --chat geo\nIts population?", cell_id="2")
    notebook.run("%gemini chats")
    assert notebook.texts()[-1] == "geo: 2 exchanges, 4 turns"
    notebook.run("%gemini chat geo")
    transcript = notebook.texts()[-1]
    assert transcript.index("Capital of France?") < transcript.index("Paris.") < transcript.index("About 2.1")
    with pytest.raises(UsageError, match="no conversation named 'nope'"):
        notebook.run("%gemini chat nope")
    gemini.push(sse(text_events(["A prompt."])))
    notebook.run("%gemini chat geo --force")  # not the command's grammar: a prompt
    assert gemini.requests[-1].body["contents"][-1]["parts"] == [{"text": "chat geo --force"}]
    notebook.run("%gemini chat geo --reset")
    assert notebook.texts()[-1] == "Conversation 'geo' cleared."
    notebook.run("%gemini chats")
    assert "No conversations yet" in notebook.texts()[-1]


def test_cache_clear(shell: TestShell, gemini: GeminiTestServer, tmp_path: Path) -> None:
    gemini.push(sse(text_events(["Kept."])))
    shell.run("%%gemini --cache\nKeep this")
    assert len(list((tmp_path / ".gemini-cache").glob("*.json"))) == 1
    shell.run("%gemini cache clear")
    assert shell.texts()[-1] == "Removed 1 cached responses from .gemini-cache."
    assert not list((tmp_path / ".gemini-cache").glob("*.json"))
    gemini.push(sse(text_events(["A prompt."])))
    shell.run("%gemini cache flush")  # not the command's grammar: a prompt, and the cache stays
    assert gemini.requests[-1].body["contents"][-1]["parts"] == [{"text": "cache flush"}]


def test_one_line_prompt_question_mark_and_empty_line(
    shell: TestShell, gemini: GeminiTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    gemini.push(sse(text_events(["Four."])), sse(text_events(["A bit."])))
    shell.run("%gemini What is 2 + 2?")  # IPython's help syntax would take the trailing "?"
    shell.run("x = 1\n%gemini  What is a qubit ?  ")
    assert [r.body["contents"][0]["parts"] for r in gemini.requests] == [
        [{"text": "What is 2 + 2?"}],
        [{"text": "What is a qubit ?"}],
    ]
    assert capsys.readouterr().out.startswith("Four.\n")
    with pytest.raises(UsageError, match="%gemini needs a prompt"):
        shell.run("%gemini")
