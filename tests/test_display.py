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


def live_box(shown: list[Shown]) -> Any:
    """The live VBox the cell displayed first (while it is open)."""
    return _instances[shown[0].data[WIDGET_VIEW]["model_id"]]


def test_widgets_stream_then_give_way_to_a_static_output(notebook: TestShell, gemini: GeminiTestServer) -> None:
    seen: list[tuple[str, str]] = []

    def look() -> None:
        status, _, page = live_box(notebook.shown).children
        seen.append((status.value, page.value))

    reply = sse(text_events(["First **words**", " and the rest."]))
    reply.steps[1:1] = [0.3, look]
    reply.steps.insert(0, 0.35)  # "thinking…" ticks before the first token
    reply.steps.insert(1, look)
    gemini.push(reply)
    notebook.run("%%gemini\nHi", cell_id="c")
    (thinking, _), (status, page) = seen
    assert thinking.startswith("<i>gemini-3-flash-preview · thinking… 0.") and thinking.endswith(" s</i>")
    assert float(thinking.split("thinking… ")[1].split(" s")[0]) >= 0.2
    assert status == "" and "<strong>words</strong>" in page and "the rest" not in page
    live, final = notebook.shown
    assert WIDGET_VIEW in live.data and live.display_id and not live.update
    assert final.update and final.display_id == live.display_id and WIDGET_VIEW not in final.data
    assert "<p>First <strong>words</strong> and the rest.</p>" in final.data["text/html"]
    assert final.data["text/markdown"].startswith("First **words** and the rest.")
    assert live.data[WIDGET_VIEW]["model_id"] not in _instances  # the widgets are closed


def test_long_answer_in_pages_and_images_between(notebook: TestShell, gemini: GeminiTestServer) -> None:
    counts: list[int] = []
    paragraph = "A sentence that is long enough to fill pages quickly. " * 40 + "\n\n"
    image = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}
    events = text_events([paragraph] * 20)
    events.insert(10, {"candidates": [{"content": {"role": "model", "parts": [image]}}]})
    reply = sse(events, pause=0.12)
    reply.steps.append(lambda: counts.append(len(live_box(notebook.shown).children)))
    gemini.push(reply)
    notebook.run("%%gemini\nWrite at length", cell_id="long")
    assert counts[0] > 5  # status, thoughts, pages with an image among them
    live, before, png, after = notebook.shown
    assert before.update and before.display_id == live.display_id and not after.update
    assert (before.data["text/html"] + after.data["text/html"]).count("A sentence") == 800
    assert png.data["image/png"] == base64.b64encode(PNG).decode()
    assert notebook.user_ns["_gemini"].images[0].data == PNG
    assert live.data[WIDGET_VIEW]["model_id"] not in _instances


def test_retry_note_and_thoughts_in_the_widgets(notebook: TestShell, gemini: GeminiTestServer) -> None:
    seen: list[tuple[str, str]] = []

    def look() -> None:
        status, thoughts, _ = live_box(notebook.shown).children[:3]
        seen.append((status.value, thoughts.value))

    thought = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Let me think.", "thought": True}]}}]}
    retry = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.3s"}]
    answer = sse([thought, *text_events(["Done."])], pause=0.3)
    answer.steps.insert(0, look)
    answer.steps.insert(3, look)
    gemini.push(error_reply(503, "UNAVAILABLE", "Busy.", retry), answer)
    notebook.run("%%gemini --show-thoughts\nHi", cell_id="t")
    (retrying, _), (_, thoughts) = seen
    assert "503 UNAVAILABLE: Busy. — retrying in 0.3 s (retry 1 of 3)" in retrying
    assert "Let me think." in thoughts
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
