"""Saved size (issue 13, item 7): a notebook of answers executed by nbclient and written by nbformat.

The answer is stored twice in full (text/html for Jupyter, text/markdown for exports), so the floor
is about 2 × its text plus what nbformat adds per line and per cell; everything else is kept
small: text/plain one line, the metadata once with the counts alone, the stylesheet only with the
rules the output uses. Measured with the benchmark's own code (``benchmarks/saved_size.py``), as
JupyterLab saves by default (no widget state, no execution times) and as ``nbconvert --execute``
saves (both). "Per answer" leaves out the notebook's own metadata and the ``%load_ext`` cell.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from gemini_server import GeminiTestServer

from gemini_magic._markdown import render_markdown
from gemini_magic._sanitize import sanitize
from gemini_magic._theme import is_ours, stylesheet

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from saved_size import cited_answer, measure, prose_answer, text_answer

ANSWERS = 3


def per_answer(m: dict[str, Any]) -> float:
    """The saved bytes of the answer cells over their answers' text."""
    return float((m["lab"] - m["parts"]["notebook, first cell"][1]) / m["chars"])


def test_prose_answers_are_saved_at_most_2_5_times_their_text_from_2_7_kb(gemini: GeminiTestServer) -> None:
    """The per-answer overhead (cell, one-line text/plain, metadata: ~0.7 kB) weighs less as answers grow."""
    short, longer, long = (
        measure(gemini, partial(prose_answer, repeat=repeat), ANSWERS, "%%gemini") for repeat in (1, 2, 3)
    )  # 1.4, 2.7 and 4.1 kB
    assert per_answer(long) <= 2.4, long  # 2.37
    assert per_answer(longer) <= 2.5, longer  # 2.49
    assert per_answer(short) <= 2.87, short  # 2.85: html + markdown alone are 2.35 × a 1.4 kB answer
    for m in (short, longer, long):
        parts = {name: stored / ANSWERS for name, (_, stored) in m["parts"].items()}
        chars = m["chars"] / ANSWERS
        assert parts["text/plain"] <= 200, parts  # one line
        assert parts["output metadata"] <= 250, parts  # 235: version, finish reason, counts; no footer line
        assert parts["text/html"] <= 1.2 * chars and parts["text/markdown"] <= 1.2 * chars, (parts, chars)
        assert set(m["parts"]) == {"text/html", "text/markdown", "text/plain", "output metadata"} | {
            "cells, outputs (JSON)",
            "notebook, first cell",
        }
        assert m["css"] == 0  # prose needs no stylesheet
        assert (m["saved"] - m["lab"]) / ANSWERS <= 3_000  # widget state and execution times, per answer


def test_code_and_tables_bring_only_the_rules_they_use(gemini: GeminiTestServer) -> None:
    m = measure(gemini, text_answer, ANSWERS, "%%gemini")  # a heading, a list, a table, a Python snippet
    assert m["css"] / ANSWERS <= 730, m  # 720: code box, 4 of the 14 token colours, table borders
    assert per_answer(m) <= 4.22, m  # 4.17


@pytest.mark.needs_fixtures
def test_cited_answers_carry_google_s_chip_and_compact_markers(gemini: GeminiTestServer) -> None:
    """The recorded grounded answer: 11 ``[n]`` markers, 5 sources, Google's chip (~6.9 kB as saved,
    fixed by Google). Each marker is its source's address and no title (the sources list has it)."""
    m = measure(gemini, cited_answer, ANSWERS, "%%gemini --search")
    parts = {name: stored / ANSWERS for name, (_, stored) in m["parts"].items()}
    assert 6_500 <= m["chip"] / ANSWERS <= 7_500, m  # the chip is there, as Google sent it
    assert parts["text/html"] - m["chip"] / ANSWERS <= 6_250, parts  # 6,168: with titles on the markers 6.5 kB
    assert m["css"] / ANSWERS <= 190 and parts["output metadata"] <= 320, (m, parts)  # 184; 312


def test_token_rules_name_only_the_classes_used_and_nothing_else_passes_as_ours() -> None:
    body = render_markdown("```python\ndef f(x: float) -> float:\n    return x * 2  # twice\n```")
    sheet = stylesheet(body)[len("<style>") : -len("</style>")]
    assert ".gm-hl .k{color:var(--jp-mirror-editor-keyword-color,#008000)}" in sheet  # one class: no :is()
    assert ".gm-hl .c1{color:" in sheet and ".gm-hl .c1{font-style:italic}" in sheet
    assert ".kc" not in sheet and is_ours(sheet) and sanitize(f"<style>{sheet}</style>") == f"<style>{sheet}</style>"
    assert is_ours(".gm-hl :is(.k,.kc){color:var(--jp-mirror-editor-keyword-color,#008000)}")
    keyword = ".gm-hl .k{color:var(--jp-mirror-editor-keyword-color,#008000)}"
    forged = [
        ".gm-hl :is(.k,.nb){color:var(--jp-mirror-editor-keyword-color,#008000)}",  # a class of another rule
        ".gm-hl :is(.kc,.k){color:var(--jp-mirror-editor-keyword-color,#008000)}",  # out of order
        ".gm-hl :is(.k,.k){color:var(--jp-mirror-editor-keyword-color,#008000)}",
        ".gm-hl .k{color:red}",
        ".gm-hl :is(.k){color:var(--jp-mirror-editor-keyword-color,#008000)}",  # not as stylesheet() writes it
        ".gm-hl .k,.kc{color:var(--jp-mirror-editor-keyword-color,#008000)}",  # .kc anywhere on the page
        keyword + keyword,
        keyword.replace("}", ";background:url(https://x.example/a)}"),
        ".gm-hl .nb{color:var(--jp-mirror-editor-builtin-color,#008000)}" + keyword,  # rules out of order
    ]
    for css in forged:
        assert not is_ours(css), css
