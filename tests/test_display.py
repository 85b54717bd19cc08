"""The live views in process (``_display``): widgets under a kernel, replaced by a static output when
the answer ends; plain text in terminal IPython. Widgets need no front end here: their values are
plain traits, read by the loopback server's steps while the answer is still streaming."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from gemini_server import GeminiTestServer, error_reply, sse, text_events
from ipywidgets.widgets.widget import _instances
from shell import Shown, TestShell

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def live_widget(shown: list[Shown]) -> Any:
    """The live widget the cell shows now (while it is open): the first page, or the VBox of pages
    a long answer or one with images turns it into."""
    return _instances[[s for s in shown if WIDGET_VIEW in s.data][-1].data[WIDGET_VIEW]["model_id"]]


def test_widgets_stream_then_give_way_to_a_static_output(notebook: TestShell, gemini: GeminiTestServer) -> None:
    seen: list[tuple[str, str]] = []

    def look() -> None:
        page = live_widget(notebook.shown)
        seen.append((page.value, page.layout.model_id))

    reply = sse(text_events(["First **words**", " and the rest."]))
    reply.steps[1:1] = [0.3, look]
    reply.steps.insert(0, 0.35)  # "thinking…" ticks before the first token
    reply.steps.insert(1, look)
    gemini.push(reply)
    notebook.run("%%gemini\nHi", cell_id="c")
    (thinking, layout), (page, _) = seen
    assert thinking.startswith("<i>gemini-3-flash-preview · thinking… 0.") and thinking.endswith(" s</i>")
    assert float(thinking.split("thinking… ")[1].split(" s")[0]) >= 0.2
    assert "<i>" not in page and "<strong>words</strong>" in page and "the rest" not in page  # status gone
    live, final = notebook.shown
    assert WIDGET_VIEW in live.data and live.display_id and not live.update
    assert final.update and final.display_id == live.display_id and WIDGET_VIEW not in final.data
    assert "<p>First <strong>words</strong> and the rest.</p>" in final.data["text/html"]
    assert final.data["text/markdown"].startswith("First **words** and the rest.")
    assert live.data[WIDGET_VIEW]["model_id"] not in _instances and layout not in _instances  # all closed


def test_long_answer_in_pages_and_images_between(notebook: TestShell, gemini: GeminiTestServer) -> None:
    counts: list[str] = []
    paragraph = "A sentence that is long enough to fill pages quickly. " * 40 + "\n\n"
    image = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}
    events = text_events([paragraph] * 20)
    events.insert(10, {"candidates": [{"content": {"role": "model", "parts": [image]}}]})
    reply = sse(events, pause=0.12)
    reply.steps.append(lambda: counts.extend(type(w).__name__ for w in live_widget(notebook.shown).children))
    gemini.push(reply)
    notebook.run("%%gemini\nWrite at length", cell_id="long")
    assert counts.count("HTML") >= 3 and counts.count("Image") == 1  # pages of 16,000 characters, the image between
    live, box, before, png, after = notebook.shown
    assert box.update and box.display_id == before.display_id == live.display_id and WIDGET_VIEW in box.data
    assert before.update and not after.update and set(before.data) == {"text/html", "text/markdown", "text/plain"}
    assert (before.data["text/html"] + after.data["text/html"]).count("A sentence") == 800
    assert png.data["image/png"] == base64.b64encode(PNG).decode()
    assert notebook.user_ns["_gemini"].images[0].data == PNG
    assert png.data["text/plain"] == "image 1: image/png, 1×1, 70 bytes — _gemini.images[0]"
    assert live.data[WIDGET_VIEW]["model_id"] not in _instances and box.data[WIDGET_VIEW]["model_id"] not in _instances


def test_retry_note_and_thoughts_in_the_widgets(notebook: TestShell, gemini: GeminiTestServer) -> None:
    seen: list[tuple[str, str]] = []

    def look() -> None:
        seen.append(live_widget(notebook.shown).value)

    thought = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Let me think.", "thought": True}]}}]}
    retry = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.3s"}]
    answer = sse([thought, *text_events(["Done."])], pause=0.3)
    answer.steps.insert(0, look)
    answer.steps.insert(3, look)
    gemini.push(error_reply(503, "UNAVAILABLE", "Busy.", retry), answer)
    notebook.run("%%gemini --show-thoughts\nHi", cell_id="t")
    retrying, thoughts = seen
    assert "503 UNAVAILABLE: Busy. — retrying in 0.3 s (retry 1 of 3)" in retrying
    assert "thinking…" in thoughts and thoughts.index("thinking…") < thoughts.index("Let me think.")
    final = notebook.shown[-1]
    assert "Let me think." in final.data["text/html"] and "Done." in final.data["text/html"]


def test_failure_mid_stream_still_replaces_the_widgets(notebook: TestShell, gemini: GeminiTestServer) -> None:
    from gemini_magic._errors import GeminiStreamError

    gemini.push(sse([*text_events(["Partial"], finish=""), {"candidates": [{"content": {"parts": [{"text": 5}]}}]}]))
    with pytest.raises(GeminiStreamError):
        notebook.run("%%gemini\nHi", cell_id="f")
    live, final = notebook.shown
    assert final.update and final.display_id == live.display_id
    assert "Partial" in final.data["text/html"] and live.data[WIDGET_VIEW]["model_id"] not in _instances


def test_terminal_text_has_no_control_characters_and_no_thoughts(
    shell: TestShell, gemini: GeminiTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    thought = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Secret plan.", "thought": True}]}}]}
    gemini.push(sse([thought, *text_events(["Title\x1b]0;pwned\x07 and\x1b[2J text."])]))
    shell.run("%%gemini --show-thoughts\nHi")
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert out.startswith("Title") and "text." in out and "Secret plan." not in out
    assert shell.shown == []


def test_terminal_prints_a_long_answer_whole(
    shell: TestShell, gemini: GeminiTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """The short text/plain of the static output is for notebooks; a terminal gets every word."""
    long = "Every word of a long answer reaches the terminal. " * 40
    gemini.push(sse(text_events([long[:900], long[900:]])))
    shell.run("%%gemini\nHi")
    out = capsys.readouterr().out
    assert out.startswith(long) and "_gemini.text]" not in out and "\ngemini-test-001 · " in out


def test_the_short_text_plain_points_to_the_response_from_the_magic_and_from_generate(
    notebook: TestShell, gemini: GeminiTestServer
) -> None:
    """text/plain sums up a long answer in a line and says where the whole text is; ``generate()``
    sets no ``_gemini``, so the pointer names the response (its return value) first."""
    long = "Every word of a long answer is in the richer outputs and in the response. " * 20
    gemini.push(sse(text_events([long])), sse(text_events([long])))
    notebook.run("from gemini_magic import generate\nanswer = generate('Hi', display=True)", cell_id="g")
    shown = notebook.shown[-1].data
    assert "_gemini" not in notebook.user_ns and notebook.user_ns["answer"].text == long
    pointer = f"[{len(long):,} characters in all: the response's .text]"
    assert shown["text/plain"] == f"{long[:60].rsplit(' ', 1)[0]}… {pointer}"
    assert shown["text/markdown"].count("Every word") == 20 and "\n" not in shown["text/plain"]
    notebook.run("%%gemini\nHi", cell_id="m")
    assert notebook.shown[-1].data["text/plain"] == shown["text/plain"]
    assert notebook.user_ns["_gemini"].text == long  # where the pointer sends a magic's user
