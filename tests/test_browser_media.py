"""A spoken answer in a real Chromium: ``%%gemini --speech`` shows an ``<audio controls>`` player
that is on screen, knows its length (about the second the server spoke) and plays, both right
after the cell ran and after save + reload with the kernel stopped (the static output alone).

The page plays muted, as a test must; ``--autoplay-policy=no-user-gesture-required`` lets
``play()`` start without a click even where a muted start would be refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import FAKE_KEY
from gemini_server import GeminiTestServer
from lab import CHROMIUM, CHROMIUM_ARGS, Lab
from media_replies import speech_reply
from test_browser import ARTIFACTS, cell, lab, open_notebook, run_cell, sync_api, write_notebook

__all__ = ["lab"]  # the JupyterLab fixture, shared with test_browser

SECONDS = 1.0

#: Waits for the metadata, reads the duration, plays muted until time moves (or the end), pauses;
#: every wait is bounded so a player that never loads or never plays fails instead of hanging.
PLAY = """async (audio) => {
    const within = (ms, what, promise) => Promise.race([promise, new Promise((_, fail) =>
        setTimeout(() => fail(new Error(`${what} after ${ms} ms: readyState ${audio.readyState}, ` +
                                        `error ${audio.error && audio.error.code}`)), ms))]);
    if (audio.readyState < 1) {
        await within(10000, 'no loadedmetadata', new Promise((ok, fail) => {
            audio.addEventListener('loadedmetadata', ok, {once: true});
            audio.addEventListener('error', () => fail(new Error(`media error ${audio.error.code}`)), {once: true});
        }));
    }
    const duration = audio.duration;
    audio.muted = true;
    await within(10000, 'play() did not start', audio.play());
    await within(10000, 'no progress', new Promise((ok) => {
        const moved = () => (audio.currentTime > 0 || audio.ended) ? ok() : setTimeout(moved, 20);
        moved();
    }));
    const reached = audio.ended ? audio.duration : audio.currentTime;
    audio.pause();
    return {duration, reached, box: [audio.clientWidth, audio.clientHeight]};
}"""


@pytest.fixture(scope="module")
def page(lab: Lab) -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        args = [*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        context = browser.new_context(viewport={"width": 1300, "height": 900})
        yield context.new_page()
        browser.close()


def check_player(page: Any, index: int) -> dict[str, Any]:
    """The one player of cell *index*: visible, about :data:`SECONDS` long, and it plays."""
    player = cell(page, index).locator(".jp-OutputArea-output audio")
    sync_api.expect(player).to_have_count(1, timeout=30_000)
    player.scroll_into_view_if_needed()
    sync_api.expect(player).to_be_visible()
    assert player.get_attribute("controls") is not None
    assert (player.get_attribute("src") or "").startswith("data:audio/wav;base64,UklGR")  # "RIFF": a WAV
    played: dict[str, Any] = player.evaluate(PLAY)
    assert abs(played["duration"] - SECONDS) < 0.05, played
    assert played["reached"] > 0 and min(played["box"]) > 0, played
    return played


def test_a_spoken_answer_is_a_player_that_plays_and_survives_reload(
    page: Any, lab: Lab, gemini: GeminiTestServer
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    gemini.push(speech_reply(seconds=SECONDS))
    cells = ["%load_ext gemini_magic", "%%gemini --speech Kore\nSay hello to the browser test."]
    write_notebook(lab.root / "speech.ipynb", cells)
    open_notebook(page, lab, "speech.ipynb")
    for index in range(len(cells)):
        run_cell(page, index)
    check_player(page, 1)
    sync_api.expect(cell(page, 1).locator(".gemini-magic")).to_contain_text("gemini-2.5-flash-preview-tts")
    (request,) = gemini.requests
    config = request.body["generationConfig"]
    assert config["responseModalities"] == ["AUDIO"] and "Kore" in json.dumps(config["speechConfig"])
    page.screenshot(path=str(ARTIFACTS / "speech.png"))

    # Save, stop the kernel, reload: the saved static output is a player that still plays.
    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !document.querySelector('.jp-mod-dirty')", timeout=20_000)
    saved = (lab.root / "speech.ipynb").read_text()
    assert "<audio controls" in saved and FAKE_KEY not in saved
    assert "application/vnd.jupyter.widget-view+json" not in saved
    lab.stop_sessions()
    page.reload()
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    check_player(page, 1)
    page.screenshot(path=str(ARTIFACTS / "speech-reloaded.png"))
