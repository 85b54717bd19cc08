"""Markdown rendering: chat-style Markdown renders, hostile text is inert, streaming is O(n)."""

from __future__ import annotations

import re

import pytest
from conftest import assert_inert

from gemini_magic._growing_markdown import MarkdownStream
from gemini_magic._layout import AnswerLayout
from gemini_magic._markdown import render_markdown
from gemini_magic._sanitize import sanitize

HOSTILE = [
    "<script>window.pwned=1</script>",
    '<img src="x" onerror="window.pwned=1">',
    "[click](javascript:window.pwned=1)",
    "[click](JaVaScRiPt:window.pwned=1)",
    '<a href="data:text/html,<script>1</script>">d</a>',
    '<iframe src="https://evil.example"></iframe>',
    '<div style="position:fixed;top:0">overlay</div>',
    "<svg onload=window.pwned=1></svg>",
    '<form action="https://evil.example"><input name=x></form>',
    "<style>body{display:none}</style>",
    '<a href="/api/contents">relative</a>',
    "<math><mtext><table><mglyph><style><img src=x onerror=window.pwned=1>",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_markdown_is_inert(text: str) -> None:
    assert_inert(render_markdown(text))


def test_links_keep_safe_schemes_only() -> None:
    html = render_markdown("[a](https://a.example) [m](mailto:x@y.example) [h](http://h.example)")
    assert html.count('target="_blank"') == 3
    assert 'href="https://a.example"' in html and 'href="mailto:x@y.example"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_chat_markdown_renders() -> None:
    text = (
        "Intro line:\n* one\n  * nested with 2 spaces\n    * deeper\n* two\n\n"
        "| Col | Val |\n|:---|---:|\n| a<br>b | `1` |\n\n"
        "```python\nx = {'a': 1} < 2\n```\n\n1. first\n2. second\n\nInline `code`, *em* and **strong**."
    )
    html = render_markdown(text)
    assert re.search(r"<li>one\s*<ul>\s*<li>nested with 2 spaces\s*<ul>\s*<li>deeper</li>", html), html
    assert '<th style="text-align:left">Col</th>' in html and '<td style="text-align:left">a<br>b</td>' in html
    assert '<pre><code class="gm-hl">x <span class="o">=</span>' in html
    assert "x = {'a': 1} &lt; 2" in re.sub(r"<[^>]+>", "", html)
    assert "<span class=\"s1\">'a'</span>" in html  # highlighted: a string literal's class
    assert "<style" not in html  # the stylesheet comes with the whole output (_bundles), once
    assert "<ol><li>first</li>" in html
    assert "<code>code</code>, <em>em</em> and <strong>strong</strong>" in html


def test_math_survives_markdown() -> None:
    html = render_markdown(r"Energy $E = m_1 * c^2$ and $$\sum_{i=1}^n x_i * y_i$$ and \(a_b\), but $5 and $6 stay.")
    assert r"$E = m_1 * c^2$" in html
    assert r"$$\sum_{i=1}^n x_i * y_i$$" in html
    assert r"\(a_b\)" in html
    assert "$5 and $6 stay" in html and "<em>" not in html


def test_math_with_html_is_escaped() -> None:
    html = render_markdown("$a<b$ and $x > <script>y</script>$")
    assert "<script" not in html and "$a&lt;b$" in html


def test_stream_commits_at_safe_boundaries_and_matches_whole_render() -> None:
    text = "".join(
        f"Paragraph {i} with *emphasis*.\n\n* item {i}\n  * sub\n\n```\ncode {i}\n\nstill code\n```\n\n"
        for i in range(30)
    )
    stream = MarkdownStream()
    for i in range(0, len(text), 11):
        stream.append(text[i : i + 11])
        if i % 440 == 0:  # a live update every 40 appends
            stream.commit()
    assert len(stream.blocks) >= 4
    assert "".join(stream.blocks) + stream.tail_html() == stream.html()

    def normalise(s: str) -> str:
        return re.sub(r"\s+", "", s)

    assert normalise(stream.html()) == normalise(render_markdown(text))
    assert all("still code" in b for b in stream.blocks if "code " in b)  # fences never split


def test_layout_orders_text_and_other_parts() -> None:
    layout = AnswerLayout(show_thoughts=True)
    layout.add([{"text": "Thinking about it", "thought": True}])
    layout.add([{"text": "Let me compute.\n\n"}])
    layout.add([{"executableCode": {"language": "PYTHON", "code": "print(1 < 2)"}}])
    layout.add([{"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "True\n"}}])
    layout.add([{"text": "It is <b>True</b>."}])
    layout.add([{"functionCall": {"name": "lookup", "args": {"q": "<x>"}}}])
    html = "".join(s for s in layout.final_segments({}) if isinstance(s, str))
    text = re.sub(r"<[^>]+>", "", html)  # model HTML is text: it shows as &lt;b&gt;
    needles = (
        "Thinking about it",
        "Let me compute.",
        "print(1 &lt; 2)",
        "Output (OK)",
        "&lt;b&gt;True&lt;/b&gt;",
        "lookup",
    )
    order = [text.index(n) for n in needles]
    assert order == sorted(order)
    assert html.startswith("<details><summary>Thoughts</summary>")
    assert "&lt;x&gt;" in html
    assert layout.markdown().startswith("Let me compute.")
    assert "```python\nprint(1 < 2)\n```" in layout.markdown()


def test_sanitize_plain_fragment() -> None:
    assert sanitize('<p onclick="x()">hi</p>') == "<p>hi</p>"


def test_a_committed_tail_is_not_shown_again_when_the_next_one_is_as_long() -> None:
    stream = MarkdownStream()
    stream.append("Para A.\n\n")
    assert stream.tail_html() == "<p>Para A.</p>"  # a live update reads the open tail
    stream.append("Para B.\n\n")  # as long as the text that is committed now
    stream.commit()
    assert stream.html() == "<p>Para A.</p><p>Para B.</p>"
