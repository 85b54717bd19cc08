"""Exports (issue 13, item 6): ``nbconvert --to markdown`` of an executed notebook.

nbconvert prefers ``text/html`` by default, so the default export carries our HTML; with Markdown
preferred the ``text/markdown`` outputs must be a faithful answer on their own: ``[n]`` markers
where the HTML has them, the numbered sources, the Search Suggestions as links, images referenced
by a note (the picture itself exported as a file), thoughts as a quoted section, and no raw HTML.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import nbformat
import pytest
from conftest import kernel_env
from gemini_server import GeminiTestServer, fixture_sse, sse, text_events
from nbclient import NotebookClient
from nbconvert import MarkdownExporter
from shell import TestShell

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
MARKDOWN_FIRST = ["text/markdown", "image/png", "image/jpeg", "text/html", "text/plain"]


def executed(gemini: GeminiTestServer) -> Any:
    """A notebook as ``nbconvert --execute`` leaves it: a grounded answer, an image answer, thoughts."""
    image = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}
    thought = {"text": "Secret plan:\n\n* step one", "thought": True}
    picture = {"candidates": [{"content": {"parts": [image]}}]}
    gemini.push(
        fixture_sse("pydantic-ai__google-search-grounding_gemini-2.5-pro.sse"),
        sse([*text_events(["Here is a dot."], finish=""), picture, *text_events(["It is <b>tiny</b>."])]),
        sse([{"candidates": [{"content": {"role": "model", "parts": [thought]}}]}, *text_events(["Done."])]),
    )
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = ["%load_ext gemini_magic", "%%gemini -m gemini-2.5-pro --search\nWeather?", "%%gemini --image\nDraw"]
    cells.append("%%gemini --show-thoughts\nPlan")
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute(env=kernel_env(gemini))
    return nb


@pytest.mark.needs_fixtures
def test_markdown_export_is_a_faithful_answer(gemini: GeminiTestServer) -> None:
    nb = executed(gemini)
    preferred = MarkdownExporter(config={"NbConvertBase": {"display_data_priority": MARKDOWN_FIRST}})
    text, resources = preferred.from_notebook_node(nb)
    search, picture, plan = re.split(r"```python\n%%gemini", text)[1:]
    # the grounded answer: markers after the segments they support, as text; each source's address
    # once, in the numbered list (a marker repeating a 200-character redirect made the copy 4 × its text)
    markers = re.findall(r"\\\[(\d)\\\]", search)
    assert len(markers) >= 8 and set(markers) <= {"1", "2", "3", "4", "5"}
    assert "(21°C), with\\[" not in search and re.search(r"\(21°C\)[^\n]*\\\[\d\\\]", search)
    assert "**Sources**\n\n1. [" in search and "\n5. [" in search
    sources = re.findall(r"\n\d\. \[[^\]]+\]\((https://[^)\s]+)\)", search)
    assert len(sources) == 5 and all(search.count(f"({uri})") == 1 for uri in sources)
    assert re.search(r"\nGoogle Search: \[weather in San Francisco today\]\(https://[^)\s]+\)\n", search)
    # the image answer: the text around it, a note where it is, the picture exported as a file
    note = "*(image 1: image/png, 1×1 — the next output; `_gemini.images[0]`)*"
    assert picture.index("Here is a dot.") < picture.index(note) < picture.index("![png](") < picture.index("tiny")
    assert "It is &lt;b>tiny&lt;/b>." in picture  # the model's raw HTML stays text
    assert "GeminiImage(" not in text and len(resources["outputs"]) == 1
    # thoughts, quoted, before the answer
    assert "> **Thoughts**\n>\n> Secret plan:\n>\n> * step one" in plan and plan.index("Thoughts") < plan.index("Done.")
    for raw in ("<div", "<iframe", "<sup", "<sub>", "<hr", "<details"):
        assert raw not in text, raw
    # the metadata: on the first output, token counts without the per-modality lists (in _gemini.usage)
    usage = nb.cells[1].outputs[0].metadata["gemini_magic"]["usage"]
    assert usage == {
        "promptTokenCount": 17,
        "candidatesTokenCount": 241,
        "thoughtsTokenCount": 412,
        "toolUsePromptTokenCount": 102,
        "totalTokenCount": 772,
    }


@pytest.mark.needs_fixtures
def test_default_markdown_export_keeps_the_html(gemini: GeminiTestServer) -> None:
    nb = executed(gemini)
    text, resources = MarkdownExporter().from_notebook_node(nb)
    assert text.count('<div class="gemini-magic">') >= 4 and '<sup class="gm-cite">' in text
    assert "![png](" in text and len(resources["outputs"]) == 1
    assert "Gemini answer," not in text  # the short text/plain is never what an export shows


def test_text_plain_is_short_and_metadata_is_on_the_first_output_only(
    notebook: TestShell, gemini: GeminiTestServer
) -> None:
    """A long answer's text/plain is its start and where the rest is; an image repeats no metadata."""
    long = "A sentence of a long answer. " * 100
    image = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}
    gemini.push(
        sse(
            [
                *text_events([long], finish=""),
                {"candidates": [{"content": {"parts": [image]}}]},
                *text_events(["After."]),
            ]
        )
    )
    notebook.run("%%gemini --image\nWrite", cell_id="p")
    first, png, after = [s for s in notebook.shown if WIDGET_VIEW not in s.data][-3:]
    plain = first.data["text/plain"]
    pointer = f"[{len(long) + 6:,} characters in all: the response's .text]"
    assert plain == f"{long[:60].rsplit(' ', 1)[0]}… {pointer}"  # one line: the footer is in the other forms
    assert first.data["text/markdown"].count("A sentence") == 100 and first.data["text/html"].count("A sentence") == 100
    assert first.metadata == {
        "gemini_magic": {
            "modelVersion": "gemini-test-001",
            "finishReason": "STOP",
            "usage": {"promptTokenCount": 7, "candidatesTokenCount": 3, "totalTokenCount": 10},
        }
    }  # no footer: it is in the HTML and the Markdown, and model version and counts are here
    assert png.metadata == {} and after.metadata == {}
    assert set(after.data) == {"text/html", "text/markdown"} and "After." in after.data["text/markdown"]
    assert "\n\n*gemini\\-test\\-001 · " in after.data["text/markdown"]  # the footer ends the last output


def test_search_queries_become_google_search_links_when_the_chip_has_none(
    notebook: TestShell, gemini: GeminiTestServer
) -> None:
    grounding = {
        "groundingChunks": [{"web": {"uri": "https://a.example/p", "title": "a.example"}}],
        "groundingSupports": [{"segment": {"endIndex": 14, "text": "Paris is big!"}, "groundingChunkIndices": [0]}],
        "webSearchQueries": ["paris size", "](javascript:x)"],
        "searchEntryPoint": {"renderedContent": "<div class='chip'>paris size</div>"},
    }
    events = text_events([" Paris is big! Yes."])
    events[-1]["candidates"][0]["groundingMetadata"] = grounding
    gemini.push(sse(events))
    notebook.run("%%gemini --search\nTell me", cell_id="s")
    markdown = notebook.shown[-1].data["text/markdown"]
    assert markdown.startswith("Paris is big!\\[1\\] Yes.")  # escaped: after "!" neither an image nor a link
    assert "Google Search: [paris size](https://www.google.com/search?q=paris%20size) · " in markdown
    assert "[\\]\\(javascript:x\\)](https://www.google.com/search?q=%5D%28javascript%3Ax%29)" in markdown
