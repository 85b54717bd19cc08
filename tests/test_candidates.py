"""Several answers (``--candidates N``): merged by index, each under its own heading live and in every
saved form, ``_gemini.candidates`` for code, ``_gemini.text`` still the first answer."""

from __future__ import annotations

import base64

import pytest
from gemini_server import GeminiTestServer, sse, text_events
from media_replies import candidate_events
from shell import TestShell
from test_audio import WIDGET_VIEW, look_before_last
from test_display import PNG

from gemini_magic._candidates import answer_sections
from gemini_magic._errors import GeminiStreamError
from gemini_magic._layout import AnswerLayout
from gemini_magic._response import GeminiCandidate, ResponseAccumulator

ANSWERS = [["One ", "two ", "three."], ["Uno ", "dos."], ["Eins, ", "zwei, ", "drei, ", "vier."]]


def test_candidates_are_merged_by_index_and_read_one_by_one(shell: TestShell, gemini: GeminiTestServer) -> None:
    gemini.push(sse(candidate_events(ANSWERS, reasons=["STOP", "MAX_TOKENS", "STOP"])))
    shell.run("%%gemini --candidates 3\nCount to three")
    (request,) = gemini.requests
    assert request.body["generationConfig"] == {"candidateCount": 3}
    response = shell.user_ns["_gemini"]
    assert response.text == "One two three." and response.finish_reason == "STOP"
    answers = response.candidates
    assert all(isinstance(answer, GeminiCandidate) for answer in answers)
    assert [(a.index, a.text, a.finish_reason) for a in answers] == [
        (0, "One two three.", "STOP"),
        (1, "Uno dos.", "MAX_TOKENS"),
        (2, "Eins, zwei, drei, vier.", "STOP"),
    ]
    assert answers[1].parts == [{"text": "Uno dos."}] and answers[1].images == [] and answers[1].audio == []
    assert repr(answers[1]) == "GeminiCandidate(index=1, finish_reason='MAX_TOKENS', text='Uno dos.')"


def test_each_answer_under_its_heading_in_html_markdown_and_text(notebook: TestShell, gemini: GeminiTestServer) -> None:
    gemini.push(sse(candidate_events(ANSWERS)))
    notebook.run("%%gemini --candidates 3\nCount", cell_id="c")
    final = notebook.shown[-1]
    page = final.data["text/html"]
    order = [page.index(f"<h3>Answer {n}</h3>") for n in (1, 2, 3)]
    texts = [page.index(t) for t in ("One two three.", "Uno dos.", "Eins, zwei, drei, vier.")]
    assert order[0] < texts[0] < order[1] < texts[1] < order[2] < texts[2] < page.index("<hr>")
    assert final.data["text/markdown"].startswith(
        "### Answer 1\n\nOne two three.\n\n### Answer 2\n\nUno dos.\n\n### Answer 3\n\nEins, zwei, drei, vier."
    )
    assert final.data["text/plain"] == (  # short: whole, without the footer (in the other forms)
        "Answer 1\nOne two three.\n\nAnswer 2\nUno dos.\n\nAnswer 3\nEins, zwei, drei, vier."
    )


def test_the_terminal_prints_every_answer_under_its_heading(
    shell: TestShell, gemini: GeminiTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Terminal IPython streams the first answer, then writes the others (they have no live view there)."""
    gemini.push(sse(candidate_events(ANSWERS)))
    shell.run("%%gemini --candidates 3\nCount")
    out = capsys.readouterr().out
    answers = "Answer 1\nOne two three.\n\nAnswer 2\nUno dos.\n\nAnswer 3\nEins, zwei, drei, vier.\n"
    assert out.startswith(answers) and out[len(answers) :].startswith("gemini-test-001 · "), out
    assert out.count("\n") == answers.count("\n") + 1 and shell.shown == []


def test_one_answer_has_no_heading(notebook: TestShell, gemini: GeminiTestServer) -> None:
    gemini.push(sse(text_events(["Just ", "one."])))
    notebook.run("%%gemini\nHi", cell_id="one")
    final = notebook.shown[-1]
    assert "Just one." in final.data["text/html"]
    assert "Answer 1" not in final.data["text/html"] + final.data["text/markdown"] + final.data["text/plain"]
    assert [c.text for c in notebook.user_ns["_gemini"].candidates] == ["Just one."]


def test_the_live_view_grows_every_answer_under_its_heading(notebook: TestShell, gemini: GeminiTestServer) -> None:
    seen: list[str] = []
    reply = sse(candidate_events(ANSWERS))
    look_before_last(reply, notebook, "drei", seen)
    gemini.push(reply)
    notebook.run("%%gemini --candidates 3\nCount", cell_id="many")
    (view,) = seen  # after three of the four events: answers 1 and 2 are done, answer 3 is not
    headings = [view.index(f"<h3>Answer {n}</h3>") for n in (1, 2, 3)]
    assert headings == sorted(headings)
    assert headings[0] < view.index("One two three.") < headings[1] < view.index("Uno dos.") < headings[2]
    assert "Eins, zwei, drei," in view and "vier" not in view


def test_each_answer_keeps_its_own_sources_and_images(notebook: TestShell, gemini: GeminiTestServer) -> None:
    grounding = {
        "groundingChunks": [{"web": {"uri": "https://second.example/page", "title": "second.example"}}],
        "groundingSupports": [{"segment": {"startIndex": 0, "endIndex": 6}, "groundingChunkIndices": [0]}],
    }
    image = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}
    event = {
        "candidates": [
            {"index": 1, "content": {"parts": [{"text": "Second"}, image]}, "groundingMetadata": grounding},
            {"index": 0, "content": {"parts": [{"text": "First"}]}, "finishReason": "STOP"},
        ]
    }
    final_event = {"candidates": [{"index": 1, "finishReason": "STOP"}]}
    gemini.push(sse([event, final_event]))
    notebook.run("%%gemini --candidates 2 --image\nTwo", cell_id="two")
    response = notebook.user_ns["_gemini"]
    assert response.images == [] and len(response.candidates[1].images) == 1
    # answer 2's picture sits between its text (with its citation marker) and its sources
    first, picture, rest = [s.data for s in notebook.shown if WIDGET_VIEW not in s.data]
    page = first["text/html"]
    assert page.index("<h3>Answer 2</h3>") < page.index("gm-cite") and "gm-sources" not in page
    assert picture["image/png"] == base64.b64encode(PNG).decode()
    tail = rest["text/html"]
    assert "gm-sources" in tail and tail.index("second.example") < tail.index("<hr>")
    assert first["text/markdown"].index("### Answer 2") < first["text/markdown"].index("Second\\[1\\]")
    assert "second.example" in rest["text/markdown"]  # its source, after its picture as in the HTML


def test_a_response_with_too_many_candidates_is_an_error() -> None:
    accumulator = ResponseAccumulator()
    event = {"candidates": [{"index": i, "content": {"parts": [{"text": "x"}]}} for i in range(65)]}
    with pytest.raises(GeminiStreamError, match="more than 64 candidate answers"):
        accumulator.add(event)


def test_the_delta_names_each_candidate_by_index() -> None:
    accumulator = ResponseAccumulator()
    delta = accumulator.add(
        {"candidates": [{"index": 2, "content": {"parts": [{"text": "c"}]}}, {"content": {"parts": [{"text": "a"}]}}]}
    )
    assert list(delta) == [{"text": "a"}] and delta.others == {2: [{"text": "c"}]}
    assert [c.get("index", 0) for c in accumulator.result()["candidates"]] == [0, 2]


def test_answers_the_live_view_never_saw_are_laid_out_at_the_end() -> None:
    accumulator = ResponseAccumulator()
    accumulator.add(
        {"candidates": [{"content": {"parts": [{"text": "a"}]}}, {"index": 1, "content": {"parts": [{"text": "b"}]}}]}
    )
    sections = answer_sections(accumulator.result(), AnswerLayout())  # a layout fed nothing
    (page,) = sections.segments
    # the first answer's text never reached this layout; the second is laid out from the response
    assert page == "<h3>Answer 1</h3><h3>Answer 2</h3><p>b</p>"
    assert sections.plain == "Answer 1\na\n\nAnswer 2\nb"


def test_a_long_other_answer_shows_live_as_its_latest_stretch_and_in_full_at_the_end() -> None:
    accumulator, layout = ResponseAccumulator(), AnswerLayout()
    for n in range(2000):  # each live update re-sends the other answers: their size must stay bounded
        event = {"candidates": [{"index": i, "content": {"parts": [{"text": f"Paragraph {n}.\n\n"}]}} for i in (0, 1)]}
        layout.add(accumulator.add(event))
        if n % 10 == 0:  # what the live view does at each update
            layout.commit()
            tail = layout.tail_html()
    other = tail[tail.index("<h3>Answer 2</h3>") :]
    assert len(other) < 10_000 and "Paragraph 1989." in other and "Paragraph 10." not in other
    assert other.startswith("<h3>Answer 2</h3><p><i>…</i></p>")
    (page,) = answer_sections(accumulator.result(), layout).segments
    assert "<p>Paragraph 10.</p>" in page and "<p>Paragraph 1989.</p>" in page
