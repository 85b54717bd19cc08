"""The line magic takes the cell magic's options; subcommands only in their exact grammar; presets;
``--code`` into the next cell; ``GeminiMagic.max_history_turns`` (issue 10 items 2, 5, 6, 8)."""

from __future__ import annotations

import pytest
from conftest import Kernel
from gemini_server import GeminiTestServer, sse, text_events
from IPython.core.error import UsageError
from shell import TestShell

from gemini_magic._api import CODE_INSTRUCTION


def prompt_sent(server: GeminiTestServer, index: int = -1) -> str:
    return server.requests[index].body["contents"][-1]["parts"][-1]["text"]


def test_line_magic_reads_leading_options_like_the_cell_magic(shell: TestShell, gemini: GeminiTestServer) -> None:
    gemini.push(sse(text_events(["Spain."])), sse(text_events(["Terse."])))
    shell.run("%gemini -m gemini-2.5-flash --search -t 0.5 Who won the match?")
    request = gemini.requests[0]
    assert request.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert request.body["tools"] == [{"googleSearch": {}}]
    assert request.body["generationConfig"] == {"temperature": 0.5}
    assert prompt_sent(gemini) == "Who won the match?"
    shell.run("%gemini --system 'Be terse.' --chat=quiz -- --search is a flag, isn't it?")
    assert gemini.requests[1].body["systemInstruction"] == {"parts": [{"text": "Be terse."}]}
    assert prompt_sent(gemini) == "--search is a flag, isn't it?"
    assert "quiz" in shell.user_ns["get_ipython"]().magics_manager.registry["GeminiMagic"].chats
    with pytest.raises(UsageError, match="unknown option --serch"):
        shell.run("%gemini --serch Who won?")
    with pytest.raises(UsageError, match="-t/--temperature"):
        shell.run("%gemini -t 9 Too hot?")
    assert len(gemini.requests) == 2


def test_subcommands_only_in_their_exact_grammar(shell: TestShell, gemini: GeminiTestServer) -> None:
    prompts = (
        "chat about cats",
        "models of cars",
        "fix my code please",
        "cache everything",
        "help me",
        "log it",
        "files of the case",
        "files delete the old ones",
        "context of the war",
        "context create a story",
        "contexts matter",
    )
    for line in prompts:
        gemini.push(sse(text_events(["Sure."])))
        shell.run(f"%gemini {line}")
        assert prompt_sent(gemini) == line
    with pytest.raises(UsageError, match="no conversation named 'cats'"):
        shell.run("%gemini chat cats")
    before = len(shell.shown)
    shell.run("%gemini help")
    listed = shell.texts()[before]
    commands = ("models", "config", "chats", "chat NAME [--reset]", "fix [N]", "preset NAME", "presets", "log", "files")
    for command in (*commands, "files delete NAME|--all", "context create NAME", "contexts", "context delete NAME"):
        assert command in listed
    with pytest.raises(UsageError, match="needs a prompt"):
        shell.run("%gemini -t 0")


def test_question_mark_prompts_reach_the_server(shell: TestShell, gemini: GeminiTestServer) -> None:
    gemini.push(sse(text_events(["A two-state system."])), sse(text_events(["Yes."])))
    shell.run("%gemini What is a qubit?")
    assert prompt_sent(gemini) == "What is a qubit?"
    shell.run("%gemini -t 0 Is it?")
    assert prompt_sent(gemini) == "Is it?" and gemini.requests[-1].body["generationConfig"] == {"temperature": 0}


def test_presets_save_use_override_and_list(shell: TestShell, gemini: GeminiTestServer) -> None:
    shell.run("%gemini preset brief -t 0 --max-tokens 20 --system 'One line.'")
    gemini.push(sse(text_events(["Short."])), sse(text_events(["Warmer."])), sse(text_events(["Cfg."])))
    shell.run("%%gemini --preset brief\nSummarise entropy")
    body = gemini.requests[0].body
    assert body["generationConfig"] == {"temperature": 0, "maxOutputTokens": 20}
    assert body["systemInstruction"] == {"parts": [{"text": "One line."}]}
    shell.run("%gemini --preset brief -t 0.7 Again")  # options on the cell override the preset
    assert gemini.requests[1].body["generationConfig"] == {"temperature": 0.7, "maxOutputTokens": 20}
    shell.run("%config GeminiMagic.presets = {'vision': '-m gemini-2.5-flash --max-tokens 5'}")
    shell.run("%%gemini --preset vision\nLook")
    assert gemini.requests[2].path.startswith("/v1beta/models/gemini-2.5-flash:")
    before = len(shell.shown)
    shell.run("%gemini presets")
    assert "vision" in shell.texts()[before] and "--max-tokens 5" in shell.texts()[before]
    with pytest.raises(UsageError, match="no preset named 'brief'"):
        shell.run("%%gemini --preset brief\nGone after %config replaced them")
    with pytest.raises(UsageError, match="-t/--temperature"):
        shell.run("%gemini preset hot -t 7")
    with pytest.raises(UsageError, match="cannot name another preset"):
        shell.run("%gemini preset loop --preset vision")
    assert len(gemini.requests) == 3


def test_code_asks_for_code_and_fills_the_next_cell(shell: TestShell, gemini: GeminiTestServer) -> None:
    shell.run("%%gemini --code --dry-run\nPlot a sine wave")
    assert CODE_INSTRUCTION in shell.texts()[-1]
    assert gemini.requests == []
    answer = "Here:\n\n```python\nimport numpy as np\n```\n\nand\n\n```python\nprint(np.pi)\n```\n"
    gemini.push(sse(text_events([answer[:20], answer[20:]])))
    shell.run("%%gemini --code\nPlot a sine wave")
    assert prompt_sent(gemini) == f"Plot a sine wave\n\n{CODE_INSTRUCTION}"
    assert shell.rl_next_input == "import numpy as np\n\nprint(np.pi)"
    assert shell.user_ns["_gemini"].code == "import numpy as np\n\nprint(np.pi)"


def test_max_history_turns_caps_what_a_chat_sends(shell: TestShell, gemini: GeminiTestServer) -> None:
    for number in range(3):
        gemini.push(sse(text_events([f"Answer {number}."])))
        shell.run(f"%%gemini --chat c\nQuestion {number}")
    shell.run("%config GeminiMagic.max_history_turns = 2")
    shell.run("%%gemini --chat c --dry-run\nQuestion 3")
    dry = shell.texts()[-1]
    assert "the last 2 of 6 earlier turns (GeminiMagic.max_history_turns)" in dry
    assert "Question 1" not in dry and "Question 2" in dry and "Answer 2." in dry
    gemini.push(sse(text_events(["Answer 3."])))
    shell.run("%%gemini --chat c\nQuestion 3")
    contents = gemini.requests[-1].body["contents"]
    assert [c["parts"][0]["text"] for c in contents] == ["Question 2", "Answer 2.", "Question 3"]
    magic = shell.magics_manager.registry["GeminiMagic"]
    assert len(magic.chats["c"].turns()) == 8  # the whole history is kept


def test_code_placement_reaches_the_front_end(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(sse(text_events(["```python\nx = 1\n```"])))
    kernel.run("%%gemini --code\nSet x to one")
    payloads = kernel.reply["payload"]
    assert payloads == [{"source": "set_next_input", "text": "x = 1", "replace": False}]


def test_presets_in_a_kernel(kernel: Kernel, gemini: GeminiTestServer) -> None:
    kernel.run("%gemini preset terse -t 0 --max-tokens 30")
    gemini.push(sse(text_events(["Ok."])))
    kernel.run("%%gemini --preset terse --max-tokens 10\nBe brief")
    assert gemini.requests[-1].body["generationConfig"] == {"temperature": 0, "maxOutputTokens": 10}
    listed = kernel.run("%gemini presets")
    assert "-t 0 --max-tokens 30" in listed[0]["data"]["text/plain"]
