"""How an answer looks in a real Chromium: JupyterLab Light and Dark, Notebook 7, untrusted.

One answer with highlighted code (Python, JSON, shell, HTML), a table, a quote and Google's Search
Suggestions is run in JupyterLab and saved; then it is measured as the page shows it: the computed
colour of every highlighted token against the code box's background (≥ 4.5:1), the code box's
padding and the gap to the next paragraph, the chip's frame without an opaque band (its corner shows
the page's own background), and the link-only suggestions when the notebook is untrusted (the frame
is gone). Screenshots of the answer in both themes go to ``tests/screenshots`` for the README.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import kernel_env
from gemini_server import GeminiTestServer, fixture_bytes, sse, text_events
from lab import Lab
from test_browser import CELLS, open_notebook, run_all, sync_api, wait_all_done, write_notebook

SCREENSHOTS = Path(__file__).parent / "screenshots"
LIGHT, DARK = "JupyterLab Light", "JupyterLab Dark"
ANSWERS = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output .gemini-magic"  # of the notebook on show
GROUNDING = "pydantic-ai__google-search-grounding_gemini-2.5-pro.nonstream.json"
ANSWER = '''Here is a small, typed example.

```python
import json
from dataclasses import dataclass


@dataclass
class Point:
    """A point on a line."""

    x: int = 0

    def scaled(self, factor: float = 1.5) -> float:
        # not for negative factors
        if self.x is None or not factor > 0:
            raise ValueError(f"bad factor {factor!r}\\n")
        return abs(self.x) * factor + 0x1F + 2e3 - len(json.dumps([True, None]))
```

The block above is followed by this paragraph. The same data as JSON:

```json
{"name": "p", "size": 3, "ok": true, "tags": null}
```

```bash
export NAME="$HOME/x"  # where it goes
echo "$NAME" | grep -c x
```

```html
<a href="https://example.com" class="link">Example &amp; more</a>
```

| Planet | Moons |
|---|---:|
| Mars | 2 |
| Earth | 1 |

> A quote, set apart from the text.

Done.
'''
CONTRAST = """(answer) => {
    const parse = (c) => {
        const v = c.match(/[\\d.]+/g).map(Number);
        return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1];
    };
    const channel = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    const lum = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    const background = (el) => {
        for (; el; el = el.parentElement) {
            const c = parse(getComputedStyle(el).backgroundColor);
            if (c[3] > 0) return c;
        }
        return [255, 255, 255, 1];
    };
    const ratio = (el) => {  // the text colour composited over the box's background
        const bg = background(el);
        const [r, g, b, a] = parse(getComputedStyle(el).color);
        const fg = [r * a + bg[0] * (1 - a), g * a + bg[1] * (1 - a), b * a + bg[2] * (1 - a)];
        const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
        return (hi + 0.05) / (lo + 0.05);
    };
    const worst = {};
    const note = (name, value) => { worst[name] = Math.min(worst[name] ?? 99, value); };
    for (const code of answer.querySelectorAll('pre code.gm-hl')) {
        note('(text)', ratio(code));
        for (const span of code.querySelectorAll('span[class]')) {
            note(span.className, ratio(span));
            if (span.style.color) note('inline style', 0);
        }
    }
    return worst;
}"""
BOX = """(answer) => {
    const pre = answer.querySelector('pre');
    const s = getComputedStyle(pre);
    const cell = getComputedStyle(answer.querySelector('td'));
    const gap = pre.nextElementSibling.getBoundingClientRect().top - pre.getBoundingClientRect().bottom;
    return {
        padding: parseFloat(s.paddingLeft), paddingTop: parseFloat(s.paddingTop),
        margin: parseFloat(s.marginBottom), gap: gap,
        radius: parseFloat(s.borderTopLeftRadius), border: parseFloat(s.borderTopWidth),
        cellPadding: parseFloat(cell.paddingLeft), cellBorder: parseFloat(cell.borderTopWidth),
        quoteBorder: parseFloat(getComputedStyle(answer.querySelector('blockquote')).borderLeftWidth),
    };
}"""
PAGE_BACKGROUND = """(el) => {
    for (el = el.parentElement; el; el = el.parentElement) {
        const c = getComputedStyle(el).backgroundColor;
        if (!/^rgba\\(.*, 0\\)$/.test(c) && c !== 'transparent') return c;
    }
    return getComputedStyle(document.documentElement).backgroundColor;
}"""


def answer_events() -> list[dict[str, Any]]:
    """The answer in three events; the last carries the recorded Search Suggestions and sources."""
    recorded = json.loads(fixture_bytes(GROUNDING))["candidates"][0]["groundingMetadata"]
    events = text_events([ANSWER[:200], ANSWER[200:600], ANSWER[600:]])
    events[-1]["candidates"][0]["groundingMetadata"] = {
        key: recorded[key] for key in ("webSearchQueries", "groundingChunks", "searchEntryPoint")
    }
    return events


@pytest.fixture(scope="module")
def lab(server: GeminiTestServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("looks")
    running = Lab(root, kernel_env(server), theme=LIGHT).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from lab import CHROMIUM, CHROMIUM_ARGS

    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def page(browser: Any) -> Any:
    return browser.new_context(viewport={"width": 1200, "height": 1400}).new_page()


@pytest.fixture(scope="module")
def answered(page: Any, lab: Lab, server: GeminiTestServer) -> Path:
    """The answer, run in JupyterLab (light) and saved there (so the notebook is trusted)."""
    server.reset()
    server.push(sse(answer_events()))
    path = lab.root / "looks.ipynb"
    write_notebook(path, ["%load_ext gemini_magic", "%%gemini --search\nShow me typed Python"])
    open_notebook(page, lab, path.name)
    run_all(page)
    wait_all_done(page, 2)
    sync_api.expect(page.locator(CELLS).nth(1).locator(".gemini-magic")).to_contain_text("Done.", timeout=30_000)
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !document.querySelector('.jp-mod-dirty')", timeout=20_000)
    return path


def answer_of(page: Any) -> Any:
    answer = page.locator(ANSWERS).first
    answer.locator("iframe.gm-search-suggestions").wait_for(timeout=30_000)
    answer.scroll_into_view_if_needed()
    return answer


def assert_looks_right(page: Any, answer: Any, theme: str) -> None:
    """Every token readable, code box/table/quote spaced, the chip's frame transparent."""
    worst = answer.evaluate(CONTRAST)
    assert {"k", "nf", "nc", "nd", "s2", "sd", "se", "si", "mi", "mf", "mh", "c1", "nb", "kc", "o", "nt", "na"} <= set(
        worst
    ), worst
    low = {name: round(ratio, 2) for name, ratio in worst.items() if ratio < 4.5}
    assert not low, f"{theme}: token classes under 4.5:1: {low}"
    print(f"{theme}: lowest token contrast {min(worst.values()):.2f}:1 over {len(worst)} classes")
    box = answer.evaluate(BOX)
    assert box["padding"] >= 8 and box["paddingTop"] >= 4 and box["margin"] >= 8 and box["gap"] >= 8, box
    assert box["radius"] > 0 and box["border"] > 0 and box["cellPadding"] > 0 and box["cellBorder"] > 0, box
    assert box["quoteBorder"] > 0, box

    # The chip's frame: no opaque canvas (its corner, outside Google's rounded box, shows the
    # page's own background) and Google's chip in the theme's colours.
    frame = answer.locator("iframe.gm-search-suggestions")
    assert "allow-scripts" not in frame.get_attribute("sandbox")
    assert answer.locator("p.gm-search-links").is_hidden()  # the link-only copy waits for untrusted views
    page_bg = _rgb(frame.evaluate(PAGE_BACKGROUND))
    shot = _image(frame.screenshot())
    corner, middle = shot.getpixel((0, 0))[:3], shot.getpixel((shot.width - 40, shot.height // 2))[:3]
    assert _close(corner, page_bg), (theme, corner, page_bg)
    chip_bg = _rgb(
        page.frame_locator("iframe.gm-search-suggestions")
        .first.locator(".container")
        .evaluate("e => getComputedStyle(e).backgroundColor")
    )
    assert _close(middle, chip_bg), (middle, chip_bg)
    dark = theme == DARK
    assert (_luminance(middle) < 0.2) if dark else (_luminance(middle) > 0.8), (theme, middle)


@pytest.mark.needs_fixtures
def test_light_theme(page: Any, lab: Lab, answered: Path) -> None:
    answer = answer_of(page)
    assert page.evaluate("document.body.dataset.jpThemeName") == LIGHT
    assert_looks_right(page, answer, LIGHT)
    SCREENSHOTS.mkdir(exist_ok=True)
    answer.screenshot(path=str(SCREENSHOTS / "answer-light.png"))


@pytest.mark.needs_fixtures
def test_dark_theme(page: Any, lab: Lab, answered: Path) -> None:
    lab.set_theme(DARK)
    try:
        page.reload()
        page.wait_for_function(f"() => document.body.dataset.jpThemeName === {DARK!r}", timeout=60_000)
        answer = answer_of(page)
        assert page.evaluate("getComputedStyle(document.body).colorScheme") == "dark"
        assert_looks_right(page, answer, DARK)
        answer.screenshot(path=str(SCREENSHOTS / "answer-dark.png"))
    finally:
        lab.set_theme(LIGHT)


@pytest.mark.needs_fixtures
def test_untrusted_notebook_keeps_the_suggestions_as_links(page: Any, lab: Lab, answered: Path) -> None:
    """A notebook from elsewhere (not signed here): JupyterLab drops the frame and our stylesheet,
    and the suggestions stay as plain links."""
    shared = nbformat.read(answered, as_version=4)
    shared.metadata["shared_by"] = "someone else"  # another notebook: its signature is unknown here
    nbformat.write(shared, lab.root / "shared.ipynb")
    open_notebook(page, lab, "shared.ipynb")
    answer = page.locator(ANSWERS).first
    sync_api.expect(answer).to_contain_text("Done.", timeout=30_000)
    assert answer.locator("iframe").count() == 0
    links = answer.locator("p.gm-search-links a")
    sync_api.expect(links.first).to_be_visible()
    assert links.first.inner_text() == "weather in Mexico City today"
    assert links.first.get_attribute("href").startswith("https://")


@pytest.mark.needs_fixtures
def test_exported_html(browser: Any, answered: Path, tmp_path: Path) -> None:
    """``jupyter nbconvert --to html`` of the saved notebook, opened from disk: same looks."""
    from nbconvert import HTMLExporter

    exported, _ = HTMLExporter(template_name="lab").from_filename(str(answered))
    (tmp_path / "looks.html").write_text(exported)
    page = browser.new_context(viewport={"width": 1200, "height": 1400}).new_page()
    try:
        page.goto((tmp_path / "looks.html").as_uri())
        answer = page.locator(".jp-OutputArea-output .gemini-magic").first
        answer.locator("iframe.gm-search-suggestions").wait_for(timeout=30_000)
        assert_looks_right(page, answer, LIGHT)
    finally:
        page.close()


@pytest.mark.needs_fixtures
def test_notebook_7(browser: Any, lab: Lab, answered: Path) -> None:
    """The same saved answer in Notebook 7, light then dark."""
    notebook = Lab(lab.root, lab.env, app="notebook", theme=LIGHT).start()
    page = browser.new_context(viewport={"width": 1200, "height": 1400}).new_page()
    try:
        for theme in (LIGHT, DARK):
            notebook.set_theme(theme)
            page.goto(notebook.notebook_url(answered.name))
            page.wait_for_function(f"() => document.body.dataset.jpThemeName === {theme!r}", timeout=60_000)
            page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=60_000)
            assert_looks_right(page, answer_of(page), theme)
    finally:
        page.close()
        notebook.stop()
        lab.set_theme(LIGHT)


def _rgb(css: str) -> tuple[int, int, int]:
    r, g, b = (round(float(v)) for v in re.findall(r"[\d.]+", css)[:3])
    return r, g, b


def _image(png: bytes) -> Any:
    from PIL import Image

    return Image.open(io.BytesIO(png)).convert("RGB")


def _close(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return all(abs(x - y) <= 3 for x, y in zip(a, b, strict=False))


def _luminance(rgb: tuple[int, ...]) -> float:
    return sum(w * v / 255 for w, v in zip((0.2126, 0.7152, 0.0722), rgb, strict=False))
