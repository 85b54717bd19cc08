"""The exchange log round trip in real kernels: two kernels answer ``%%gemini`` cells at the same
time against the loopback server, both log to one SQLite file, and ``%gemini log --search`` in one
of them finds the other's exchanges; the file passes SQLite's integrity check and holds no key."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import FAKE_KEY, Kernel, displays, kernel_env, output_text
from gemini_server import GeminiTestServer, Recorded, Reply, sse, text_events

CELLS = 12  # per kernel, all sent at once


def echo(request: Recorded) -> Reply:
    """Answer each request with its own prompt, so an answer can be told apart from the other kernel's."""
    prompt = request.body["contents"][-1]["parts"][-1]["text"]
    return sse(text_events([f"Echo of {prompt}: ", "shared lighthouse words."], model="gemini-echo"))


@pytest.fixture
def two_kernels(gemini: GeminiTestServer, tmp_path: Path) -> Any:
    """Two kernels of two notebooks, one data folder (so one log) of this test's own."""
    data = tmp_path / "data"
    with (
        Kernel(kernel_env(gemini, XDG_DATA_HOME=str(data), JPY_SESSION_NAME="/work/first.ipynb")) as first,
        Kernel(kernel_env(gemini, XDG_DATA_HOME=str(data), JPY_SESSION_NAME="/work/second.ipynb")) as second,
    ):
        for kernel in (first, second):
            kernel.run("%load_ext gemini_magic")
        yield first, second, data / "gemini-magic" / "log.db"


def run_at_once(kernels: list[tuple[Kernel, str]]) -> list[str]:
    """Send one cell to each kernel, then wait for all of them: the kernels run side by side."""
    printed = [""] * len(kernels)

    def wait(index: int, kernel: Kernel, msg_id: str) -> None:
        for msg in kernel.messages(msg_id, timeout=120):
            if msg["msg_type"] == "stream":
                printed[index] += msg["content"]["text"]
            elif msg["msg_type"] == "error":
                printed[index] += "\n".join(msg["content"]["traceback"])

    sent = [(kernel, kernel.execute(code)) for kernel, code in kernels]
    waiters = [threading.Thread(target=wait, args=(i, k, m)) for i, (k, m) in enumerate(sent)]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        waiter.join(180)
    return printed


def ask_many(name: str) -> str:
    """A cell that runs CELLS ``%%gemini`` calls, as a notebook's Run All would."""
    return (
        f"for i in range({CELLS}):\n"
        f"    get_ipython().run_cell_magic('gemini', '', f'Lighthouse question {name} number {{i}}')\n"
        "print('done')"
    )


def test_two_kernels_log_at_once_then_search(two_kernels: Any, gemini: GeminiTestServer) -> None:
    first, second, path = two_kernels
    gemini.responder = echo
    printed = run_at_once([(first, ask_many("alpha")), (second, ask_many("beta"))])
    assert printed == ["done\n", "done\n"], printed  # nothing on stderr: every exchange was logged
    assert len(gemini.requests) == 2 * CELLS

    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        logged = db.execute("SELECT notebook, prompt, answer, model, request, time FROM exchanges").fetchall()
    assert len(logged) == 2 * CELLS
    first_times = [t for n, *_, t in logged if n == "/work/first.ipynb"]
    second_times = [t for n, *_, t in logged if n == "/work/second.ipynb"]
    assert min(first_times) < max(second_times) and min(second_times) < max(first_times)  # they overlapped
    by_notebook = {
        nb: sorted(p for n, p, *_ in logged if n == nb) for nb in ("/work/first.ipynb", "/work/second.ipynb")
    }
    assert by_notebook == {
        "/work/first.ipynb": sorted(f"Lighthouse question alpha number {i}" for i in range(CELLS)),
        "/work/second.ipynb": sorted(f"Lighthouse question beta number {i}" for i in range(CELLS)),
    }
    for _, prompt, answer, model, request, _ in logged:
        assert answer == f"Echo of {prompt}: shared lighthouse words."
        assert model == "gemini-3-flash-preview"
        assert json.loads(request) == {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    files = b"".join(p.read_bytes() for p in path.parent.iterdir())
    assert FAKE_KEY.encode() not in files

    # The search, in the first kernel: the second kernel's exchanges are there too.
    outputs = second.run("%gemini log --search LIGHTHOUSE beta -n 50")
    (table,) = displays(outputs)
    text = table["data"]["text/plain"]
    lines = text.splitlines()
    assert len(lines) == 1 + CELLS + 1
    assert all("Lighthouse question beta" in line and "second.ipynb" in line for line in lines[1:-1])
    assert lines[-1] == f"{CELLS} newest of {CELLS} exchanges matching 'lighthouse beta' (of {2 * CELLS} in {path})."
    outputs = first.run("%gemini log --search 'question beta number 7'")
    assert "Lighthouse question beta number 7" in displays(outputs)[0]["data"]["text/html"]
    assert FAKE_KEY not in output_text(outputs)


def test_a_failed_call_is_logged_with_its_error(kernel: Kernel, gemini: GeminiTestServer, tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    kernel.run(f"%config GeminiMagic.log_path = {str(path)!r}")
    gemini.push(sse([*text_events(["Half an ans"], finish="")[:1], {"error": {"code": 503, "message": "overloaded"}}]))
    kernel.run("%%gemini\nA question that fails")
    with sqlite3.connect(path) as db:
        ((prompt, answer, error),) = db.execute("SELECT prompt, answer, error FROM exchanges").fetchall()
    assert (prompt, answer) == ("A question that fails", "Half an ans")
    assert error and "overloaded" in error
    kernel.run("%config GeminiMagic.log = False")
    gemini.push(sse(text_events(["Not logged."])))
    kernel.run("%%gemini\nA question not kept")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM exchanges").fetchone() == (1,)
