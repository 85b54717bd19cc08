"""Markdown rendering: chat-style Markdown renders, hostile text is inert, streaming is O(n)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from gemini_magic._layout import AnswerLayout
from gemini_magic._render import MarkdownStream, render_markdown, sanitize

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


class _Elements(HTMLParser):
    """Every element and attribute a browser would build from the HTML."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_markdown_is_inert(text: str) -> None:
    html = render_markdown(text)
    for tag, attrs in _Elements(html).found:
        assert tag not in {"script", "iframe", "style", "form", "input", "svg", "object", "embed", "math"}, html
        for name, value in attrs.items():
            assert not name.startswith("on"), html
            assert name != "style" or value == "text-align:left", html
            if name in ("href", "src"):
                assert (value or "").startswith(("https://", "http://", "mailto:")), html


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
    assert "<pre><code>x = {'a': 1} &lt; 2\n</code></pre>" in html
    assert "<ol>\n<li>first</li>" in html
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


def test_stream_renders_each_finished_block_once_and_matches_whole_render() -> None:
    text = "".join(
        f"Paragraph {i} with *emphasis*.\n\n* item {i}\n  * sub\n\n```\ncode {i}\n\nstill code\n```\n\n"
        for i in range(30)
    )
    stream = MarkdownStream()
    for i in range(0, len(text), 11):
        stream.append(text[i : i + 11])
    assert len(stream.blocks) > 50
    assert "".join(stream.blocks) + stream.tail_html() == stream.html()
    normalise = lambda s: re.sub(r"\s+", "", s)
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
    html = layout.html()
    order = [
        html.index(s)
        for s in ("Thinking about it", "Let me compute.", "print(1 &lt; 2)", "Output (OK)", "<b>True</b>", "lookup")
    ]
    assert order == sorted(order)
    assert html.startswith("<details><summary>Thoughts</summary>")
    assert "&lt;x&gt;" in html
    assert layout.markdown().startswith("Let me compute.")
    assert "```python\nprint(1 < 2)\n```" in layout.markdown()


def test_sanitize_plain_fragment() -> None:
    assert sanitize('<p onclick="x()">hi</p>') == "<p>hi</p>"
