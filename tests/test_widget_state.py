"""No widget state left behind (issue 13, item 4): after an answer ends — finished, failed or
interrupted — no widget model the live view made stays open in the kernel, and what ``nbconvert
--execute`` (nbclient, which keeps the last state of every model, closed or not) saves of them
holds no answer text and at most 3 kB per answer.

In process: ipywidgets' own registry of open models, before and after. In a kernel: the same
registry read in the kernel, and the ``metadata.widgets`` nbclient writes into the notebook.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import kernel_env
from gemini_server import GeminiTestServer, Recorded, Reply, prompt_of, row_answer, sse, text_events
from ipywidgets.widgets.widget import _instances
from nbclient import NotebookClient
from shell import TestShell

from gemini_magic._display import WidgetView
from gemini_magic._layout import AnswerLayout

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
WIDGETS = "application/vnd.jupyter.widget-state+json"
OPEN_MODELS = "from ipywidgets.widgets.widget import _instances; print(len(_instances))"


def answer(record: Recorded) -> Reply:
    """A streamed answer naming its prompt ("Zanzibar-3 …"); "long" gets 40 kB (three pages), "image"
    a picture between two paragraphs, "thoughts" a thought summary first."""
    prompt = prompt_of(record)
    if "--each" in prompt or record.path.endswith(":generateContent"):
        return row_answer(record)
    words = f"Zanzibar-{prompt.split()[-1]} answer text.\n\n" * (1000 if "long" in prompt else 3)
    step = len(words) // (10 if "long" in prompt else 2) + 1
    events = text_events([words[i : i + step] for i in range(0, len(words), step)])
    if "image" in prompt:
        image = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}
        events.insert(1, {"candidates": [{"content": {"role": "model", "parts": [image]}}]})
    if "thoughts" in prompt:
        thought = {"text": f"Secret-thought-{prompt.split()[-1]}", "thought": True}
        events.insert(0, {"candidates": [{"content": {"role": "model", "parts": [thought]}}]})
    return sse(events, pause=0.12)


PROMPTS = [f"{kind} {n}" for n, kind in enumerate(["short", "long", "image", "thoughts", "short"] * 2)]


def test_ten_answers_leave_no_model_open_in_process(notebook: TestShell, gemini: GeminiTestServer) -> None:
    gemini.responder = answer
    before = set(_instances)
    for n, prompt in enumerate(PROMPTS):
        notebook.run(f"%%gemini --show-thoughts\n{prompt}", cell_id=f"c{n}")
        assert set(_instances) == before, f"models left open after {prompt!r}"
    live = [s for s in notebook.shown if "application/vnd.jupyter.widget-view+json" in s.data]
    assert len(live) == 10 + 2 + 2  # one per answer, and a VBox for each long and each image answer
    assert "Zanzibar-1" in notebook.shown[-1].data["text/html"] or "Zanzibar-9" in notebook.shown[-1].data["text/html"]


def test_a_failure_or_ctrl_c_mid_stream_leaves_no_model_open(notebook: TestShell, gemini: GeminiTestServer) -> None:
    from gemini_magic._errors import GeminiStreamError

    before = set(_instances)
    gemini.push(sse([*text_events(["Partial"], finish=""), {"candidates": [{"content": {"parts": [{"text": 5}]}}]}]))
    with pytest.raises(GeminiStreamError):
        notebook.run("%%gemini\nHi", cell_id="f")
    assert set(_instances) == before
    view = WidgetView(AnswerLayout(show_thoughts=True), "gemini-test · thinking…")
    with pytest.raises(KeyboardInterrupt), view:
        view.update([{"text": "thinking hard", "thought": True}, *[{"text": "word " * 4000 + "\n\n"}] * 5])
        view.flush()
        assert len(set(_instances) - before) > 3  # a VBox of pages was made
        raise KeyboardInterrupt
    assert set(_instances) == before


def widget_state(nb: Any) -> dict[str, Any]:
    return nb.metadata.get("widgets", {}).get(WIDGETS, {}).get("state", {})  # type: ignore[no-any-return]


def test_executed_notebook_keeps_no_answer_text_in_widget_state(gemini: GeminiTestServer, tmp_path: Path) -> None:
    """As ``nbconvert --execute`` runs a notebook: 10 answers and a ``--each`` table; then the kernel
    holds no model, and the saved widget state is small and holds neither answer nor picture."""
    gemini.responder = answer
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = ["%load_ext gemini_magic", OPEN_MODELS]
    cells += [f"%%gemini --show-thoughts\n{prompt}" for prompt in PROMPTS]
    cells += ["%%gemini --each rows\n--each {value}", OPEN_MODELS]
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nb.cells.insert(1, nbformat.v4.new_code_cell("rows = ['a', 'b', 'c']"))
    where = {"metadata": {"path": str(tmp_path)}}  # the --each cache goes in the test's folder
    client = NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True, resources=where)
    client.execute(env=kernel_env(gemini))
    before, after = (int(nb.cells[i].outputs[0]["text"]) for i in (2, -1))
    assert after == before, "widget models left open in the kernel"
    state = widget_state(nb)
    assert len(state) > 10  # nbclient did keep the closed models' last state
    saved = json.dumps(nb.metadata["widgets"], indent=1)
    assert "Zanzibar" not in saved and "Secret-thought" not in saved and "answer to:" not in saved
    buffers = [b["data"] for model in state.values() for b in model.get("buffers", [])]
    assert buffers and all(b == "" for b in buffers)  # the picture's bytes are emptied too
    assert len(saved) <= 3000 * 11, f"{len(saved) / 11:,.0f} bytes of widget state per answer"
    shown = json.dumps([c.outputs for c in nb.cells[3:-2]])
    assert shown.count("Zanzibar") >= 10 and "widget-view+json" not in shown
