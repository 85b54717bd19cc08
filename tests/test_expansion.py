"""IPython's own ``{expr}``/``$name`` expansion never touches a ``%gemini`` line, and a value whose
``str()`` fails is one UsageError line (issue 8, item 8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Kernel
from gemini_server import GeminiTestServer, sse, text_events
from IPython.core.error import UsageError

from gemini_magic._prompt import interpolate

CLASSES = """
class Loud:
    def __str__(self):
        raise ValueError("no\\nway " * 100)

class Deep:
    def __str__(self):
        return str(self)

loud, deep = Loud(), Deep()
"""


def _sent_text(gemini: GeminiTestServer) -> str:
    return gemini.requests[-1].body["contents"][-1]["parts"][-1]["text"]


def test_line_and_cell_lines_run_no_code(kernel: Kernel, gemini: GeminiTestServer, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    kernel.run("import os")
    gemini.push(sse(text_events(["Because."])), sse(text_events(["Fine."])))
    line = f"Why does {{os.remove({str(victim)!r})}} fail? Explain."
    kernel.run(f"%gemini {line}")
    assert victim.exists(), "IPython ran the {expression} in the line"
    assert _sent_text(gemini) == line
    kernel.run(f'%%gemini --system "Never {{os.remove({str(victim)!r})}}"\nHello')
    assert victim.exists(), "IPython ran the {expression} in the %%gemini line"
    assert gemini.requests[-1].body["systemInstruction"]["parts"][0]["text"] == f"Never {{os.remove({str(victim)!r})}}"


def test_long_line_is_sent_as_written(kernel: Kernel, gemini: GeminiTestServer) -> None:
    kernel.run("a = 'EXPANDED'")
    line = "Cost $a and {a!r} and {1+1}: " + "word " * 20_000
    gemini.push(sse(text_events(["Ok."])))
    kernel.run(f"%gemini {line}")
    assert kernel.reply["status"] == "ok"
    assert _sent_text(gemini) == line.strip()  # no $a, {a!r} or {1+1} filled in by IPython


def test_failing_str_is_one_usage_error_line(kernel: Kernel, gemini: GeminiTestServer) -> None:
    kernel.run(CLASSES)
    assert kernel.usage_error("%gemini Say {loud}").startswith("UsageError: {loud} in the prompt: ValueError: no way")
    assert kernel.usage_error("%%gemini\nSay {deep}").startswith(
        "UsageError: {deep} in the prompt: RecursionError: maximum recursion depth exceeded"
    )
    assert gemini.requests == []


def test_interpolate_reports_a_failing_str_in_one_short_line() -> None:
    namespace: dict[str, object] = {}
    exec(CLASSES, namespace)
    with pytest.raises(UsageError) as caught:
        interpolate("{loud}", namespace)
    message = str(caught.value)
    assert message.startswith("{loud} in the prompt: ValueError: no way no way")
    assert "\n" not in message and len(message) <= 250
    with pytest.raises(UsageError, match=r"^\{deep\} in the prompt: RecursionError"):
        interpolate("x {deep}", namespace)


def test_a_question_mark_at_the_end_is_part_of_the_prompt(kernel: Kernel, gemini: GeminiTestServer) -> None:
    """IPython took ``%gemini What is a qubit?`` (the README's example) as a help request for ``qubit``."""
    gemini.push(sse(text_events(["A two-state system."])), sse(text_events(["Yes."])))
    outputs = kernel.run("%gemini What is a qubit?")
    assert "Object `qubit` not found" not in json.dumps(outputs) and _sent_text(gemini) == "What is a qubit?"
    kernel.run("for _ in range(1):\n    %gemini Is it? \nx = 1")
    assert _sent_text(gemini) == "Is it?" and len(gemini.requests) == 2
    kernel.run("%gemini?")
    help_text = json.dumps(kernel.reply["payload"])  # the help pager
    assert "%gemini help" in help_text and len(gemini.requests) == 2
