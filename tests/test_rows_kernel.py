"""``--each`` in a real IPython kernel: a rate-limited server, per-row failures, one output, Ctrl-C.

The kernel talks to the session's loopback server; its cache goes to the test's own folder.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FAKE_KEY, Kernel, displays, output_text
from gemini_server import GeminiTestServer, RateLimited, Recorded, Reply, error_reply, prompt_of


def each_cell(options: str, template: str) -> str:
    """A ``%%gemini --each`` cell: the table *df* defined in the kernel, *template* as the cell."""
    return f"%%gemini --each df {options}\n{template}"


@pytest.fixture
def cached_in(kernel: Kernel, tmp_path: Path) -> Iterator[Path]:
    """The kernel's response cache in this test's folder (--each caches by default)."""
    kernel.run(f"%config GeminiMagic.cache_dir = {str(tmp_path)!r}")
    yield tmp_path
    kernel.run("%config GeminiMagic.cache_dir = '.gemini-cache'")


def test_each_against_a_rate_limited_server_is_one_table(
    kernel: Kernel, gemini: GeminiTestServer, cached_in: Path
) -> None:
    limit = RateLimited(rate=40, latency=0.05)

    def answer(record: Recorded) -> Reply:
        if prompt_of(record) == "Say row 7":
            return error_reply(400, "INVALID_ARGUMENT", "row 7 is not allowed")
        return limit(record)

    gemini.responder = answer
    kernel.run(
        "import pandas as pd\ndf = pd.DataFrame({'text': [f'row {i}' for i in range(40)]}, index=range(100, 140))"
    )
    outputs = kernel.run(each_cell("--concurrency 8", "Say {text}"))
    assert kernel.reply["status"] == "ok", outputs
    shown = displays(outputs)
    assert len(shown) == 1, outputs  # one static output, not one per row
    html = shown[0]["data"]["text/html"]
    assert "40 rows in" in html and "1 error" in html and "answer to: Say row 0" in html
    assert limit.refused > 0  # the server did push back, with RetryInfo, and every row still got through
    check = kernel.run(
        "t = _gemini_table\nprint(len(t), t.index[0], t.error.notna().sum(), t.loc[107, 'error'], t.loc[139, 'answer'])"
    )
    assert check[0]["text"].strip() == "40 100 1 400 INVALID_ARGUMENT: row 7 is not allowed answer to: Say row 39"
    assert FAKE_KEY not in output_text(outputs) and FAKE_KEY not in kernel.saved()


def test_ctrl_c_returns_at_once_keeps_the_rows_and_a_rerun_sends_only_the_rest(
    kernel: Kernel, gemini: GeminiTestServer, cached_in: Path
) -> None:
    limit = RateLimited(rate=1000, latency=0.2, burst=20)
    gemini.responder = limit
    kernel.run("import pandas as pd\ndf = pd.DataFrame({'text': [f'row {i}' for i in range(300)]})")
    pressed: list[float] = []

    def ctrl_c() -> None:
        time.sleep(1.5)
        pressed.append(time.monotonic())
        kernel.interrupt()

    threading.Thread(target=ctrl_c, daemon=True).start()
    messages = []
    for msg in kernel.messages(kernel.execute(each_cell("--concurrency 4", "Say {text}"))):
        messages.append(msg)
    idle = time.monotonic()
    assert pressed and idle - pressed[0] < 1.0, idle - pressed[0]
    errors = [m["content"] for m in messages if m["msg_type"] == "error"]
    assert len(errors) == 1 and errors[0]["ename"] == "GeminiInterrupted", errors
    assert len(errors[0]["traceback"]) == 1 and "kept in _gemini_table" in errors[0]["traceback"][0]
    done = int(kernel.run("print(_gemini_table.answer.notna().sum())")[0]["text"])
    assert 10 <= done < 200
    time.sleep(0.5)  # the answers in flight at Ctrl-C reach the cache
    assert limit.accepted <= done + 4
    outputs = kernel.run(each_cell("--concurrency 8", "Say {text}"))
    assert kernel.reply["status"] == "ok", outputs
    assert limit.accepted <= 300 + 4  # the finished rows came from the cache
    assert len({prompt_of(r) for r in gemini.requests}) == 300 == len(gemini.requests)  # none sent twice
    final = kernel.run("print(_gemini_table.answer.notna().sum(), _gemini_table.error.isna().all())")
    assert final[0]["text"].split() == ["300", "True"]


def test_bad_input_is_one_line(kernel: Kernel, gemini: GeminiTestServer, cached_in: Path) -> None:
    kernel.run("import pandas as pd\ndf = pd.DataFrame({'text': ['a'], 'lang': ['en']})")
    line = kernel.usage_error(each_cell("", "Say {txt}"))
    assert "columns: text, lang" in line and "nothing was sent" in line
    kernel.run("df = df.iloc[:0]")
    assert "the table is empty" in kernel.usage_error(each_cell("", "Say {text}"))
    assert "--concurrency" in kernel.usage_error(each_cell("--concurrency 0", "Say {text}"))
    assert gemini.requests == []
