"""The exchange log (``_log``) in process: where it lives, what one entry keeps (never the key, never
megabytes of base64), writers racing on a fresh file, ``%gemini log`` tables, search and export, and
failures that cost one stderr line and nothing else."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import FAKE_KEY
from IPython.core.error import UsageError
from shell import TestShell

from gemini_magic import _log
from gemini_magic._log import LogEntry, default_log_path, log_command, log_path, record
from gemini_magic._options import Options
from gemini_magic._settings import Settings

BIG_IMAGE = "iVBORw0KGgo" * 200_000  # 2.2 MB of base64


def magic_of(shell: TestShell) -> Any:
    return shell.magics_manager.registry["GeminiMagic"]


def settings_of(shell: TestShell) -> Settings:
    return magic_of(shell).settings(Options())  # type: ignore[no-any-return]


def entry(prompt: str, answer: str = "An answer.", **fields: Any) -> LogEntry:
    values: dict[str, Any] = {
        "time": time.time(),
        "model": "gemini-test",
        "url": "http://127.0.0.1:1/v1beta/models/gemini-test:streamGenerateContent?alt=sse",
        "request": {"contents": [{"role": "user", "parts": [{"text": prompt}]}]},
        "response": {
            "candidates": [{"content": {"role": "model", "parts": [{"text": answer}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 9, "thoughtsTokenCount": 2},
        },
        "duration": 1.25,
        **fields,
    }
    return LogEntry(**values)


def rows(path: Path, sql: str = "SELECT prompt, answer FROM exchanges ORDER BY id") -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


def show_log(shell: TestShell, rest: str = "") -> str:
    """``%gemini log REST`` as a cell; its one output as text."""
    before = len(shell.shown)
    shell.run(f"%gemini log {rest}")
    (shown,) = shell.shown[before:]
    return shown.data["text/plain"]  # type: ignore[no-any-return]


@pytest.fixture
def logged(shell: TestShell, tmp_path: Path) -> Path:
    """The shell logging to a file of this test's own."""
    path = tmp_path / "logs" / "log.db"
    shell.run(f"%config GeminiMagic.log_path = {str(path)!r}")
    return path


def test_default_path_is_the_platforms_data_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_log_path() == tmp_path / "xdg" / "gemini-magic" / "log.db"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(sys, "platform", "linux")
    assert default_log_path() == tmp_path / "home" / ".local" / "share" / "gemini-magic" / "log.db"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert default_log_path() == tmp_path / "home" / "Library" / "Application Support" / "gemini-magic" / "log.db"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert default_log_path() == tmp_path / "local" / "gemini-magic" / "log.db"


def test_the_suite_never_logs_to_the_real_data_folder(shell: TestShell, private_data_folder: Path) -> None:
    assert log_path(settings_of(shell)) == private_data_folder / "gemini-magic" / "log.db"


def test_log_path_setting_moves_it(shell: TestShell, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    shell.run("%config GeminiMagic.log_path = '~/notes/gemini.db'")
    settings = settings_of(shell)
    assert log_path(settings) == tmp_path / "notes" / "gemini.db"
    record(settings, entry("Where am I kept?"))
    assert rows(tmp_path / "notes" / "gemini.db") == [("Where am I kept?", "An answer.")]


def test_an_entry_keeps_the_searchable_fields_and_the_full_json(shell: TestShell, logged: Path) -> None:
    request = {
        "systemInstruction": {"parts": [{"text": "Be terse."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Earlier question"}]},
            {"role": "model", "parts": [{"text": "Earlier answer"}]},
            {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {"city": "Paris"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "weather", "response": {"sky": "clear"}}}]},
        ],
    }
    response = {
        "candidates": [{"content": {"parts": [{"text": "thinking…", "thought": True}, {"text": "Clear skies."}]}}],
        "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 4, "thoughtsTokenCount": 12},
    }
    started = time.time()
    record(settings_of(shell), entry("", request=request, response=response, error="stream cut", cached=True))
    (row,) = rows(logged, f"SELECT {_log._COLUMNS}, request, response, usage FROM exchanges")
    when, notebook, model, url, prompt, answer, tokens_in, tokens_out, duration, error, cached, *stored = row
    assert abs(when - started) < 5 and notebook is None and model == "gemini-test" and url.endswith("?alt=sse")
    assert prompt == "Weather in Paris?"  # the turn that asked, not the function response after it
    assert answer == "Clear skies."  # no thoughts
    assert (tokens_in, tokens_out, duration, error, cached) == (30, 16, 1.25, "stream cut", 1)
    assert [json.loads(s) for s in stored] == [request, response, response["usageMetadata"]]


def test_notebook_path_from_the_front_end(shell: TestShell, logged: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/ada/work/analysis.ipynb")  # jupyter_server's
    assert entry("a").notebook == "/home/ada/work/analysis.ipynb"
    shell.user_ns["__vsc_ipynb_file__"] = "/home/ada/vscode.ipynb"  # VS Code's
    record(settings_of(shell), entry("b"))
    assert rows(logged, "SELECT notebook FROM exchanges") == [("/home/ada/vscode.ipynb",)]
    assert "vscode.ipynb" in show_log(shell)


def test_the_key_never_reaches_the_database(shell: TestShell, logged: Path) -> None:
    settings = settings_of(shell)
    assert settings.api_key == FAKE_KEY
    record(settings, entry(f"my key is {FAKE_KEY}, why does it fail?", error=f"bad key {FAKE_KEY}"))
    data = b"".join(p.read_bytes() for p in logged.parent.iterdir())
    assert FAKE_KEY.encode() not in data and b"AIzaSy" not in data
    assert rows(logged, "SELECT prompt, error FROM exchanges") == [
        ("my key is <API key>, why does it fail?", "bad key <API key>")
    ]
    assert not hasattr(entry("x"), "headers")


def test_images_and_huge_text_are_capped(shell: TestShell, logged: Path) -> None:
    image = {"inlineData": {"mimeType": "image/png", "data": BIG_IMAGE}}
    request = {"contents": [{"role": "user", "parts": [image, {"text": "Describe. " + "x" * 3_000_000}]}]}
    response = {"candidates": [{"content": {"parts": [{"text": "A cat.", "thoughtSignature": BIG_IMAGE}, image]}}]}
    record(settings_of(shell), entry("", request=request, response=response))
    assert logged.stat().st_size < 1_000_000
    (stored_request, prompt) = rows(logged, "SELECT request, prompt FROM exchanges")[0]
    assert f"<{len(BIG_IMAGE):,} characters of base64>" in stored_request
    assert prompt.endswith(f"… ({3_000_010 - _log.MAX_TEXT_CHARS:,} more characters)")
    assert len(prompt) < _log.MAX_TEXT_CHARS + 100


def test_logging_off_writes_nothing(shell: TestShell, logged: Path) -> None:
    shell.run("%config GeminiMagic.log = False")
    record(settings_of(shell), entry("Not kept"))
    assert not logged.parent.exists()
    assert show_log(shell) == f"The log at {logged} is empty. Logging is off (GeminiMagic.log = False)."


@pytest.mark.parametrize("fault", ["folder is a file", "path is a folder", "not a database", "locked"])
def test_a_failure_is_one_stderr_line(
    fault: str, shell: TestShell, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log.db"
    if fault == "folder is a file":
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "log.db"
    elif fault == "not a database":
        path.write_bytes(b"this is not SQLite at all" * 100)
    elif fault == "path is a folder":
        path.mkdir()
    shell.run(f"%config GeminiMagic.log_path = {str(path)!r}")
    settings = settings_of(shell)
    blocker = None
    if fault == "locked":
        record(settings, entry("first"))
        monkeypatch.setattr(_log, "BUSY_TIMEOUT", 0.2)
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
    try:
        record(settings, entry("Is this kept?"))
    finally:
        if blocker is not None:
            blocker.close()
    err = capsys.readouterr().err
    assert err.startswith(f"gemini-magic: not logged ({path}: ") and err.endswith(")\n") and err.count("\n") == 1
    if fault == "locked":
        assert "locked" in err and rows(path) == [("first", "An answer.")]


def test_writers_racing_on_a_fresh_file_lose_nothing(tmp_path: Path) -> None:
    """Six processes create the log at the same moment and append 40 entries each."""
    path = tmp_path / "log.db"
    script = (
        "import sys, time\n"
        "from gemini_magic._log import LogEntry, record\n"
        "from gemini_magic._settings import Settings\n"
        "s = Settings(model='m', base_url='u', auth='key', timeout=1, max_retries=0, api_key='k',\n"
        "             log_path=sys.argv[1])\n"
        "for i in range(40):\n"
        "    r = {'contents': [{'role': 'user', 'parts': [{'text': f'writer {sys.argv[2]} entry {i}'}]}]}\n"
        "    record(s, LogEntry(time=time.time(), model='m', url='u', request=r, response={}, duration=0.0))\n"
    )
    writers = [
        subprocess.Popen([sys.executable, "-c", script, str(path), str(n)], stderr=subprocess.PIPE, text=True)
        for n in range(6)
    ]
    errors = [w.communicate(timeout=120)[1] for w in writers]
    assert errors == [""] * 6
    prompts = {p for (p,) in rows(path, "SELECT prompt FROM exchanges")}
    assert prompts == {f"writer {n} entry {i}" for n in range(6) for i in range(40)}
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]
    assert rows(path, "PRAGMA journal_mode") == [("wal",)]
    if os.name == "posix":
        assert path.stat().st_mode & 0o077 == 0  # prompts are private


def test_table_newest_first_with_search_and_count(shell: TestShell, logged: Path) -> None:
    settings = settings_of(shell)
    now = time.time()
    record(settings, entry("Capital of France?", "Paris.", time=now - 30))
    record(settings, entry("Population of Paris?", "About 2.1 million\npeople.", time=now - 20))
    record(settings, entry("Ünïcode QUESTION", "Ça va.", time=now - 10, error="the stream was cut", cached=True))
    text = show_log(shell)
    lines = text.splitlines()
    assert lines[0].split() == ["when", "model", "prompt", "answer", "tokens", "seconds", "notebook", "/", "error"]
    assert [line.split("  ")[2] for line in lines[1:4]] == [
        "Ünïcode QUESTION",
        "Population of Paris?",
        "Capital of France?",
    ]
    assert "About 2.1 million people." in lines[2]  # one line per exchange
    assert "7→11" in lines[3] and "1.2" in lines[3] and "cached" in lines[1] and "⚠ the stream was cut" in lines[1]
    assert lines[-1] == f"3 newest of 3 exchanges in {logged}."
    assert len(show_log(shell, "-n 1").splitlines()) == 3
    searched = show_log(shell, "--search paris POPULATION")
    assert "Population of Paris?" in searched and "Capital" not in searched
    assert searched.endswith(f"1 newest of 1 exchange matching 'paris population' (of 3 in {logged}).")
    assert show_log(shell, "--search paris -n 1").endswith(
        f"1 newest of 2 exchanges matching 'paris' (of 3 in {logged})."
    )
    assert "Ünïcode" in show_log(shell, "--search ünïcode ça")  # case-insensitive beyond ASCII
    assert "Paris" not in show_log(shell, "--search 'ça va' -n 5")
    assert show_log(shell, "--search zebra") == f"No exchange in the log at {logged} matching 'zebra'."
    html = shell.shown[-2].data["text/html"]
    assert "<table>" in html and "<td>Ünïcode QUESTION</td>" in html


def test_long_cells_are_cut_and_markup_is_text(shell: TestShell, logged: Path) -> None:
    record(settings_of(shell), entry("<script>alert(1)</script> " + "word " * 100))
    show_log(shell)
    html = shell.shown[-1].data["text/html"]
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    cell = shell.shown[-1].data["text/plain"].splitlines()[1].split("  ")[2]
    assert len(cell) == _log.SHOWN_CHARS and cell.endswith("…")


def test_empty_log_says_where_it_is(shell: TestShell, logged: Path) -> None:
    assert show_log(shell) == f"The log at {logged} is empty."


def test_export_writes_json_lines(shell: TestShell, logged: Path, tmp_path: Path) -> None:
    settings = settings_of(shell)
    now = time.time()
    for n in range(5):
        record(settings, entry(f"question {n} {FAKE_KEY}", f"answer {n}", time=now + n))
    assert show_log(shell, "--export out.jsonl") == "Wrote 5 exchanges to out.jsonl"
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]
    assert [e["request"]["contents"][0]["parts"][0]["text"] for e in entries] == [
        f"question {n} <API key>" for n in range(5)
    ]  # oldest first, as it happened
    assert set(entries[0]) == {"id", "time", "notebook", "model", "url", "request", "response", "usage"} | {
        "duration",
        "error",
        "cached",
    }
    assert entries[4]["response"]["candidates"][0]["content"]["parts"] == [{"text": "answer 4"}]
    assert entries[4]["usage"]["thoughtsTokenCount"] == 2 and entries[4]["cached"] is False
    assert FAKE_KEY not in (tmp_path / "out.jsonl").read_text(encoding="utf-8")
    assert show_log(shell, "--search 'answer 3' --export one.jsonl") == "Wrote 1 exchange to one.jsonl"
    assert show_log(shell, "-n 2 --export two.jsonl") == "Wrote 2 exchanges to two.jsonl"
    two = [json.loads(line)["time"] for line in (tmp_path / "two.jsonl").read_text().splitlines()]
    assert two == [now + 3, now + 4]
    with pytest.raises(UsageError, match=r"^could not write .*nowhere/x\.jsonl: No such file or directory$"):
        log_command(magic_of(shell), "--export nowhere/x.jsonl")


@pytest.mark.parametrize(
    ("rest", "hint"),
    [
        ("-n", "-n takes a number from 1 to 1000"),
        ("-n zero", "-n takes a number from 1 to 1000"),
        ("-n 0", "-n takes a number from 1 to 1000"),
        ("-n 5000", "-n takes a number from 1 to 1000"),
        ("--search", "--search needs words"),
        ("--export", "unexpected '--export'"),
        ("--last 3", "unexpected '--last'"),
        ("'unclosed", "No closing quotation"),
    ],
)
def test_usage_errors_are_one_line(shell: TestShell, logged: Path, rest: str, hint: str) -> None:
    with pytest.raises(UsageError) as caught:
        log_command(magic_of(shell), rest)
    assert str(caught.value) == f"{_log.USAGE} ({hint})"


def test_an_unreadable_log_is_a_usage_error(shell: TestShell, logged: Path) -> None:
    logged.parent.mkdir()
    logged.write_bytes(b"garbage" * 1000)
    with pytest.raises(UsageError, match=rf"^could not read the log at {logged}: file is not a database$"):
        log_command(magic_of(shell), "")


def test_a_jobs_entries_are_written_a_second_at_a_time_and_all_at_close(shell: TestShell, logged: Path) -> None:
    """Worker threads of a job buffer their entries: nothing per row, everything within a second
    (what a crash can lose), the rest at close, and entries after close one by one again."""
    settings = settings_of(shell)
    job = _log.JobLog()

    def worker(number: int) -> None:
        with job.attached():
            for i in range(30):
                record(settings, entry(f"worker {number} row {i}"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    record(settings, entry("not in a job"))  # this thread is not attached: written at once
    assert rows(logged, "SELECT prompt FROM exchanges") == [("not in a job",)]
    deadline = time.monotonic() + _log.FLUSH_SECONDS + 2
    while len(rows(logged)) < 121 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(rows(logged)) == 121  # the flusher wrote them without close
    with job.attached():
        record(settings, entry("last row"))
    job.close()
    with job.attached():
        record(settings, entry("after the job"))  # an answer that was still in flight at Ctrl-C
    prompts = [p for (p, _) in rows(logged)]
    assert len(prompts) == 123 and prompts[-2:] == ["last row", "after the job"]
    assert {f"worker {n} row {i}" for n in range(4) for i in range(30)} <= set(prompts)


def test_a_full_buffer_is_written_before_the_second_is_up(
    shell: TestShell, logged: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_log, "FLUSH_ROWS", 10)
    monkeypatch.setattr(_log, "FLUSH_SECONDS", 60.0)
    job = _log.JobLog()
    with job.attached():
        for i in range(25):
            record(settings_of(shell), entry(f"row {i}"))
    assert len(rows(logged)) == 20  # two full buffers; five wait for the flusher or close
    job.close()
    assert len(rows(logged)) == 25
