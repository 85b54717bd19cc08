"""The job progress view (``_progress``), in process: widgets under the ``notebook`` shell (values read as
traits, like tests/test_display.py), the stderr line under the terminal ``shell``, nothing when silent;
and the static summary + table that replaces it."""

from __future__ import annotations

import threading
import time
from typing import Any

import pandas as pd
import pytest
from conftest import assert_inert
from ipywidgets.widgets.widget import _instances
from shell import TestShell

from gemini_magic import _progress
from gemini_magic._bundles import note_bundle
from gemini_magic._display import SilentView
from gemini_magic._progress import JobProgress, Snapshot, duration, progress_factory, table_summary_bundles

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
HOSTILE = "*bold* <img src=x onerror=alert(1)> a | b \x1b]0;pwned\x07\x1b[2J [x](javascript:alert(1))\nnext line"


def progress_widget(notebook: TestShell) -> Any:
    """The HTML widget the job displayed first (while it is open)."""
    return _instances[notebook.shown[0].data[WIDGET_VIEW]["model_id"]]


def models(widget: Any) -> list[str]:
    """Every widget model the view created: the widget, its layout and its style."""
    return [widget.model_id, widget.layout.model_id, widget.style.model_id]


def test_widgets_show_counts_and_last_answers_then_a_static_table(notebook: TestShell) -> None:
    with progress_factory(notebook)(5, "gemini-test · 5 rows") as progress:
        info = progress_widget(notebook)
        assert "0/5 rows (0 %)" in info.value and ">" + "█" * 40 + "<" in info.value and "ETA ?" in info.value
        for n, answer in enumerate(["first answer", "second", HOSTILE]):
            progress.advance(tokens_in=10, tokens_out=4, answer=answer, error=n == 1)
        progress.advance(answer="fourth")
        progress.retry()
        progress.status("429: every worker waits 2 s")
        time.sleep(0.45)
        live = info.value
        opened = models(info)
        assert ">" + "█" * 32 + "<" in live and ">" + "█" * 8 + "<" in live  # the bar: 4/5 of 40
        assert "4/5 rows (80 %)" in live and "rows/s" in live and "ETA " in live and "ETA ?" not in live
        assert "tokens 30 in / 12 out · 1 retry · 1 error" in live
        assert "429: every worker waits 2 s" in live and "gemini-test · 5 rows" in live
        assert "first answer" not in live and "second" in live and "fourth" in live  # the last three
        assert "&lt;img src=x" in live and "\x1b" not in live and "next line" in live
        assert_inert(live)
        frame = pd.DataFrame({"answer": ["yes", "no"]}, index=pd.Index([7, 9], name="ticket"))
        progress.finish([*table_summary_bundles(frame, progress.summary()), note_bundle("1 row failed")])
    first, final, note = notebook.shown
    assert WIDGET_VIEW in first.data and final.update and final.display_id == first.display_id
    assert not note.update and note.data["text/plain"] == "⚠ 1 row failed"
    assert final.data["text/plain"].startswith("4/5 rows in ") and "1 retry · 1 error" in final.data["text/plain"]
    assert "<td>9</td><td>no</td>" in final.data["text/html"]
    # nothing left open in the kernel, and no answer text in any widget's last state
    assert [m for m in opened if m in _instances] == []
    assert info.value == "" and len(opened) == 3


def test_at_most_five_updates_a_second_and_the_final_numbers_shown(
    notebook: TestShell, capsys: pytest.CaptureFixture[str]
) -> None:
    changes: list[float] = []

    def work(progress: JobProgress) -> None:
        for _ in range(400):
            progress.advance(tokens_in=2, answer="ok")
            time.sleep(0.003)

    for widgets, factory in ((True, progress_factory(notebook)), (False, progress_factory(None))):
        started = time.monotonic()
        with factory(2000, "job") as progress:
            if widgets:
                progress_widget(notebook).observe(lambda _: changes.append(time.monotonic()), "value")
            workers = [threading.Thread(target=work, args=(progress,)) for _ in range(5)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            elapsed = time.monotonic() - started
            progress.finish([])
        assert progress.snapshot().done == 2000
    assert elapsed > 1.0
    assert 3 <= len(changes) <= 5 * elapsed + 2, (len(changes), elapsed)
    assert notebook.shown[-1].data["text/plain"].startswith("2,000 rows in ")
    err = capsys.readouterr().err
    assert 3 <= err.count("\r") <= 5 * elapsed + 3, (err.count("\r"), elapsed)
    last = err.rstrip("\n").rsplit("\r", 1)[-1]
    assert "2,000/2,000 rows (100 %)" in last and "tokens 4,000 in / 0 out" in last and "ETA 0.0 s" in last


def test_terminal_line_on_stderr_then_the_table_on_stdout(
    shell: TestShell, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    with progress_factory(shell)(3, "gemini-test\x1b[31m") as progress:
        progress.status(HOSTILE)
        progress.advance(tokens_out=5, answer=HOSTILE)
        time.sleep(0.3)
        progress.advance(2, error=True)
        rows = [{"text": HOSTILE, "answer": "x" * 200}, {"answer": "short", "error": "boom"}]
        progress.finish(table_summary_bundles(rows, progress.summary()))
    out, err = capsys.readouterr()
    assert err.startswith("\r") and err.endswith("\n") and err.count("\n") == 1  # one line, rewritten
    assert "\x1b" not in err and "\x07" not in err and "pwned" not in err  # no escape survives, whole
    assert "1/3 rows (33 %)" in err and err.rsplit("\r", 1)[-1].startswith("gemini-test ███")
    assert "3/3 rows (100 %)" in err.rsplit("\r", 1)[-1] and "2 errors" in err and "<img src=x" in err
    assert out.startswith("3 rows in 0.") and "\x1b" not in out
    header = out.splitlines()[1].split()
    assert header == ["text", "answer", "error"] and "x" * 79 + "…" in out and "x" * 81 not in out
    assert shell.shown == []


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_an_error_ends_the_view_with_a_stopped_line(
    notebook: TestShell, capsys: pytest.CaptureFixture[str], error: BaseException
) -> None:
    opened: list[str] = []
    for widgets, factory in ((True, progress_factory(notebook)), (False, progress_factory(None))):
        with pytest.raises(type(error)) as raised, factory(2000, "job") as progress:
            progress.advance(120, answer="secret answer")
            opened += models(progress_widget(notebook)) if widgets else []
            raise error
        assert raised.value is error
    live, stopped = notebook.shown
    assert stopped.update and stopped.display_id == live.display_id
    assert stopped.data["text/plain"].startswith("⚠ stopped at 120/2,000 rows in ")
    assert "secret answer" not in stopped.data["text/html"]
    assert len(opened) == 3 and [m for m in opened if m in _instances] == []
    err = capsys.readouterr().err
    assert err.endswith("\n") and err.splitlines()[-1].startswith("stopped at 120/2,000 rows in ")
    assert "120/2,000 rows (6 %)" in err.splitlines()[-2]


def test_a_clean_exit_without_finish_leaves_the_summary(notebook: TestShell) -> None:
    with JobProgress(2, "job", progress_factory(notebook).keywords["new_view"]) as progress:
        progress.advance(2, tokens_in=3, tokens_out=4)
    assert progress.finished
    final = notebook.shown[-1]
    assert final.update and final.data["text/plain"].startswith("2 rows in ")
    assert "tokens 3 in / 4 out" in final.data["text/markdown"]


def test_silent_shows_nothing_and_starts_no_thread(shell: TestShell, capsys: pytest.CaptureFixture[str]) -> None:
    with JobProgress(3, "job", SilentView) as progress:
        progress.advance(3, answer="hi")
        progress.status("RUNNING")
        assert "gemini-magic-progress" not in [t.name for t in threading.enumerate()]
        progress.finish(table_summary_bundles([{"a": 1}], progress.summary()))
    assert progress.summary().startswith("3 rows in ")
    assert shell.shown == [] and capsys.readouterr() == ("", "")


def test_the_static_table_is_safe_and_cut() -> None:
    frame = pd.DataFrame(
        {"text": [HOSTILE] + [f"row {i}" for i in range(24)], "answer": ["a" * 200] + ["ok"] * 24},
        index=pd.RangeIndex(100, 125, name="id"),
    )
    (data, metadata), *rest = table_summary_bundles(frame, "25 rows in 1.0 s <b>")
    assert rest == [] and metadata == {}
    page, markdown, text = data["text/html"], data["text/markdown"], data["text/plain"]
    assert_inert(page)
    assert page.count("<tr>") == 11 and "first 10 of 25 rows" in page and "row 8" in page and "row 9" not in page
    assert "&lt;b&gt;" in page and "&lt;img" in page and "a" * 79 + "…" in page
    assert "<" not in markdown.replace("\\<", "") and "a \\| b" in markdown and "\\*bold\\*" in markdown
    lines = markdown.splitlines()
    assert lines[2] == "| id | text | answer |" and lines[3] == "|---|---|---|" and len(lines) == 4 + 10 + 2
    assert "\x1b" not in text and "\x07" not in text and text.splitlines()[0] == "25 rows in 1.0 s <b>"
    assert text.splitlines()[2].startswith("100  *bold* <img src=x") and "next line" in text.splitlines()[2]

    (empty,) = table_summary_bundles([], "0 rows in 0.0 s")
    assert empty[0]["text/plain"] == "0 rows in 0.0 s (no rows)"
    (few,) = table_summary_bundles([{"b": 1}, {"a": 2, "b": None}], "2 rows")
    assert few[0]["text/plain"].splitlines()[1:] == ["b  a", "1", "   2"] and "first" not in few[0]["text/html"]
    missing = pd.DataFrame({"n": pd.array([1, None], dtype="Int64"), "x": [float("nan"), 0.5], "s": ["", None]})
    (gaps,) = table_summary_bundles(missing, "2 rows")
    assert gaps[0]["text/plain"].splitlines()[2:] == ["0  1", "1     0.5"]


def test_durations_rates_and_eta() -> None:
    assert [duration(s) for s in (0.42, 12.4, 238, 7500)] == ["0.4 s", "12 s", "3 min 58 s", "2 h 05 min"]
    snap = Snapshot(total=100, done=20, rate=4.0, retries=2, errors=1)
    assert snap.eta == 20.0
    assert snap.counts() == "20/100 rows (20 %) · 4.0 rows/s · ETA 20 s · tokens 0 in / 0 out · 2 retries · 1 error"
    assert Snapshot(total=10, done=3).eta is None and "ETA ?" in Snapshot(total=10, done=3).counts()
    assert Snapshot(total=0).counts().startswith("0/0 rows (100 %)") and Snapshot(total=0).eta == 0.0


def test_rows_per_second_follows_the_recent_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_progress, "RATE_WINDOW", 0.5)
    with JobProgress(1000, "job", SilentView) as progress:
        progress.advance(500)  # rows answered from the cache, all at once
        for _ in range(8):
            time.sleep(0.1)
            progress.snapshot()  # what the ticker samples
        for _ in range(5):
            progress.advance()
            time.sleep(0.1)
            progress.snapshot()
        snap = progress.snapshot()
    assert 4 <= snap.rate <= 15, snap.rate  # not 505 rows / 1.3 s
    assert snap.eta is not None and snap.eta > 30
