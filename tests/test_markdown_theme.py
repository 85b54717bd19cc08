"""Highlighting coloured by the front end's theme (``_theme``), and what the sanitizer lets through.

The contrast check here covers every class the stylesheet colours, with the values the installed
JupyterLab Light and Dark themes give its variables; the browser test measures the same on screen
for the classes a real answer uses.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_inert
from gemini_server import GeminiTestServer, sse, text_events
from shell import TestShell

from gemini_magic._markdown import highlight, render_markdown
from gemini_magic._sanitize import sanitize
from gemini_magic._theme import PLAIN_CLASSES, TOKEN_CLASSES, TOKEN_COLOURS, is_ours, stylesheet

THEMES = Path(sys.prefix) / "share" / "jupyter" / "lab" / "themes" / "@jupyterlab"
CODE = "```python\n@cache\ndef f(x: int = 0x1F) -> str:\n    # note\n    return f'{x!r}\\n' if x else None\n```"


def test_every_pygments_class_is_known_to_the_sanitizer() -> None:
    from pygments.token import STANDARD_TYPES

    assert set(STANDARD_TYPES.values()) - {""} == TOKEN_CLASSES
    coloured = [name for _, _, names in TOKEN_COLOURS for name in names]
    assert len(coloured) == len(set(coloured)) and set(coloured) <= TOKEN_CLASSES
    assert {"n", "p", "w"} <= PLAIN_CLASSES and not PLAIN_CLASSES & set(coloured)


def _theme_values(theme: str) -> dict[str, str]:
    css = (THEMES / f"theme-{theme}-extension" / "index.css").read_text()
    return dict(re.findall(r"(--jp-[\w-]+)\s*:\s*([^;}]+)", css))


def _colour(value: str, values: dict[str, str]) -> tuple[float, ...]:
    """An rgb(a) tuple from a theme value: hex, a name, rgba(), or var(--name, fallback)."""
    value = value.strip()
    var = re.fullmatch(r"var\((--[\w-]+)(?:\s*,\s*(.+))?\)", value)
    if var:
        return _colour(values[var.group(1)] if var.group(1) in values else str(var.group(2)), values)
    value = {"green": "#008000", "blue": "#00f", "red": "#f00", "white": "#fff"}.get(value, value)
    if value.startswith("rgba"):
        r, g, b, a = (float(v) for v in re.findall(r"[\d.]+", value))
        return r, g, b, a
    digits = value.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return (*(float(int(digits[i : i + 2], 16)) for i in (0, 2, 4)), 1.0)


def _ratio(fg: tuple[float, ...], bg: tuple[float, ...]) -> float:
    alpha = fg[3]
    mixed = [f * alpha + b * (1 - alpha) for f, b in zip(fg[:3], bg[:3], strict=True)]

    def luminance(rgb: list[float] | tuple[float, ...]) -> float:
        def channel(v: float) -> float:
            v /= 255
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

        r, g, b = (channel(v) for v in rgb[:3])
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(mixed), luminance(bg)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.skipif(not THEMES.is_dir(), reason="JupyterLab's themes are not installed")
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_coloured_class_reaches_4_5_to_1_on_the_themes_and_without_them(theme: str) -> None:
    values = _theme_values(theme)
    box = _colour("var(--jp-layout-color0)", values)
    text = _colour("var(--jp-content-font-color1)", values)
    ratios = {"(text)": _ratio(text, box)}
    for var, fallback, names in TOKEN_COLOURS:
        themed = _ratio(_colour(f"var({var})", values), box)
        plain = _ratio(_colour(fallback, {}), (255.0, 255.0, 255.0, 1.0))  # an export without the variables
        for name in names:
            ratios[name] = min(themed, plain)
    low = {name: round(ratio, 2) for name, ratio in ratios.items() if ratio < 4.5}
    assert not low, low
    assert min(ratios.values()) > 4.5


def test_highlighting_uses_classes_and_the_stylesheet_comes_once_with_the_output(
    notebook: TestShell, gemini: GeminiTestServer
) -> None:
    html = render_markdown(CODE)
    assert '<pre><code class="gm-hl"><span class="nd">@cache</span>' in html
    assert '<span class="mh">0x1F</span>' in html and '<span class="c1"># note</span>' in html
    assert 'class="n"' not in html and 'class="p"' not in html and "style=" not in html  # no uncoloured spans
    gemini.push(sse(text_events(["Code:\n\n", CODE + "\n\n| a |\n|---|\n| 1 |\n\n> quoted\n"])))
    notebook.run("%%gemini\nCode please", cell_id="c")
    page = notebook.shown[-1].data["text/html"]
    assert_inert(page)
    assert page.count("<style>") == 1 and page.startswith("<style>")
    sheet = page[len("<style>") : page.index("</style>")]
    assert is_ours(sheet) and sheet == stylesheet(page)[len("<style>") : -len("</style>")]
    for rule in (".gm-hl :is(.k,", "pre:not(#_){", "table:not(#_){", "blockquote:not(#_){"):
        assert rule in sheet, rule
    assert "gm-search-suggestions" not in sheet  # only the sections the output uses
    gemini.push(sse(text_events(["Just words."])))
    notebook.run("%%gemini\nWords please", cell_id="w")
    assert "<style" not in notebook.shown[-1].data["text/html"]


def test_stylesheet_sizes() -> None:
    """The stylesheet travels with every output that needs it: keep it small."""
    sizes = {
        marker: len(stylesheet(marker))
        for marker in ("<pre", '<code class="gm-hl">', "<table", "gm-search-suggestions")
    }
    assert sizes["<pre"] < 400 and sizes['<code class="gm-hl">'] < 1700 and sizes["gm-search-suggestions"] < 250, sizes
    assert stylesheet("<p>plain</p>") == ""


def test_sanitizer_keeps_only_our_stylesheet_and_our_classes() -> None:
    ours = stylesheet('<pre><code class="gm-hl"></code></pre>')
    assert sanitize(ours + "<p>x</p>") == ours + "<p>x</p>"
    assert sanitize(ours + ours) == ours  # nested fragments: one copy
    forged = [
        "<style>p{color:red}</style>",  # model CSS
        ours.replace("</style>", "p{background:url(https://x.example/leak)}</style>"),  # ours plus more
        ours.replace("<style>", "<style>@import url(https://x.example/a.css);"),
        "<style></style>",
        "<STYLE>" + ours[len("<style>") :],
    ]
    for sheet in forged:
        cleaned = sanitize(sheet + "<p>x</p>")
        assert cleaned == "<p>x</p>", (sheet, cleaned)
    cleaned = sanitize(
        '<span class="k evil">a</span><div class="gm-sources gemini-magic jp-Dialog">b</div>'
        '<code class="gm-hl language-js">c</code><p class="gm-search-links hidden">d</p><pre class="gm-hl">e</pre>'
    )
    assert cleaned == (
        '<span class="k">a</span><div class="gm-sources gemini-magic">b</div>'
        '<code class="gm-hl">c</code><p class="gm-search-links">d</p><pre>e</pre>'
    )


def test_a_flood_of_unclosed_style_tags_is_sanitized_in_linear_time() -> None:
    start = time.perf_counter()
    assert sanitize("<p>x</p>" + "<style>" * 20_000) == "<p>x</p>"  # was about 12 s: each tag scanned to the end
    assert time.perf_counter() - start < 2


def test_model_written_style_and_classes_stay_text() -> None:
    html = render_markdown(
        '<style>body{display:none}</style> <span class="k">x</span>\n\n```html\n<style>p{}</style>\n```'
    )
    assert "<style>" not in html and "&lt;style&gt;body{display:none}&lt;/style&gt;" in html
    assert '<span class="k">x</span>' not in html
    assert highlight("x = 1", "nonexistent-language") == "<pre><code>x = 1</code></pre>"
