"""``--each``: one prompt per row, against the loopback server, in this process (issue 11, items 1, 2, 4, 5, 8).

The rows go through the magic's own host (the loaded ``GeminiMagic``) or ``generate_each``; the
server answers each request with the prompt it got ("answer to: …"), so every cell of the table
says which row's prompt reached it.
"""

from __future__ import annotations

import _thread
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import FAKE_KEY
from gemini_server import GeminiTestServer, RateLimited, Recorded, Reply, error_reply, json_reply, prompt_of, row_answer
from IPython.core.error import UsageError
from shell import TestShell

from gemini_magic import GeminiAPIError, GeminiInterrupted
from gemini_magic._display import SilentView, view_factory
from gemini_magic._options import parse_line
from gemini_magic._rows import LARGE_JOB, STOP_AFTER, generate_each, run_each

RETRY_SOON = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.05s"}]


def each(shell: TestShell, line: str, template: str, data: Any, *, shown: bool = False) -> Any:
    """What ``%%gemini --each``'s magic does: run the rows with the loaded magic as the host."""
    magic = shell.magics_manager.registry["GeminiMagic"]
    new_view = view_factory(shell) if shown else SilentView
    return run_each(magic, parse_line(line), template, data, new_view)


def answers(table: pd.DataFrame, column: str = "answer") -> list[str]:
    return [str(a).removeprefix("answer to: ") for a in table[column]]


def sent(server: GeminiTestServer) -> list[str]:
    return sorted(prompt_of(r) for r in server.requests)


def test_dataframe_rows_fill_the_template_and_keep_the_index(shell: TestShell, gemini: GeminiTestServer) -> None:
    gemini.responder = row_answer
    shell.user_ns["tone"] = "briefly"
    df = pd.DataFrame({"text": ["red", "green", None], "n": [1, 2.5, 3]}, index=pd.Index(["a", "b", "c"], name="id"))
    table = each(shell, "--each df", "{index}: say {text} {tone} ({row.n})", df)
    assert answers(table) == ["a: say red briefly (1.0)", "b: say green briefly (2.5)", "c: say  briefly (3.0)"]
    assert list(table.index) == ["a", "b", "c"] and table.index.name == "id"
    assert list(table.columns) == ["answer", "finish_reason", "input_tokens", "output_tokens", "error"]
    assert list(table.finish_reason) == ["STOP"] * 3 and table.error.isna().all()
    assert table.input_tokens.sum() == 15 and str(table.output_tokens.dtype) == "Int64"
    assert shell.user_ns["_gemini_table"] is table
    assert "empty (NaN/None) cells" in table.attrs["summary"]
    assert len(gemini.requests) == 3
    assert all(r.path.endswith(":generateContent") for r in gemini.requests)  # one answer each, not a stream
    assert all(FAKE_KEY not in json.dumps(r.body) for r in gemini.requests)


def test_series_lists_and_dicts_are_rows_too(shell: TestShell, gemini: GeminiTestServer) -> None:
    gemini.responder = row_answer
    series = pd.Series(["x", "y"], name="word", index=[10, 20])
    table = each(shell, "--each s -o words", "{word}/{value}@{index}", series)
    assert answers(table) == ["x/x@10", "y/y@20"] and list(table.index) == [10, 20]
    assert shell.user_ns["words"] is table
    assert answers(generate_each(["p", "q"], "say {value}", cache=False)) == ["say p", "say q"]
    dicts = [{"a": 1, "b": "one"}, {"a": 2}]  # a key missing from a row is an empty cell
    assert answers(generate_each(dicts, "{a}:{b}", cache=False)) == ["1:one", "2:"]
    assert answers(generate_each([1.5, True], "{value}", cache=False)) == ["1.5", "True"]  # str() of other cells


def test_into_adds_the_columns_to_a_copy(shell: TestShell, gemini: GeminiTestServer) -> None:
    gemini.responder = row_answer
    df = pd.DataFrame({"text": ["u", "v"]}, index=[5, 6])
    table = generate_each(df, "say {text}", into="label", cache=False)
    assert list(df.columns) == ["text"]  # the data itself is not touched
    assert list(table.columns) == ["text", "label", "finish_reason", "input_tokens", "output_tokens", "error"]
    assert answers(table, "label") == ["say u", "say v"] and list(table.index) == [5, 6]


def test_schema_gives_one_column_per_property(shell: TestShell, gemini: GeminiTestServer) -> None:
    def classify(record: Recorded) -> Reply:
        word = prompt_of(record).split()[-1]
        text = json.dumps({"label": word.upper(), "score": len(word)}) if word != "broken" else "not json"
        return json_reply({"candidates": [{"content": {"parts": [{"text": text}]}, "finishReason": "STOP"}]})

    gemini.responder = classify
    schema = {"type": "object", "properties": {"label": {"type": "string"}, "score": {"type": "integer"}}}
    table = generate_each(["cat", "horse", "broken"], "Classify {value}", schema=schema, cache=False)
    assert list(table.columns) == ["label", "score", "finish_reason", "input_tokens", "output_tokens", "error"]
    assert list(table.label[:2]) == ["CAT", "HORSE"] and list(table.score[:2]) == [3, 5]
    assert "not valid JSON" in table.error[2] and pd.isna(table.label[2])
    body = gemini.requests[0].body
    assert body["generationConfig"]["responseJsonSchema"] == schema


def test_without_pandas_the_result_is_a_list_of_dicts(gemini: GeminiTestServer, tmp_path: Path) -> None:
    gemini.responder = row_answer
    code = (
        "import sys; sys.modules['pandas'] = None\n"  # as if pandas were not installed
        "from gemini_magic import generate_each\n"
        "print(generate_each([{'t': 'a'}, {'t': 'b'}], 'say {t}', into='out', cache=False))\n"
        "print(generate_each(['c'], 'say {value}', cache=False))\n"
    )
    env = {**os.environ, "GEMINI_API_KEY": FAKE_KEY, "GEMINI_BASE_URL": gemini.url}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first.startswith("[{'t': 'a', 'out': 'answer to: say a', 'finish_reason': 'STOP'"), first
    assert second.startswith("[{'answer': 'answer to: say c', 'finish_reason': 'STOP'"), second


def test_a_429_pauses_every_worker_for_its_retry_delay(shell: TestShell, gemini: GeminiTestServer) -> None:
    times: list[float] = []

    def slow(record: Recorded) -> Reply:
        times.append(time.monotonic())
        reply = row_answer(record)
        reply.before.append(0.2)
        return reply

    delay = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.6s"}]
    gemini.push(error_reply(429, "RESOURCE_EXHAUSTED", "slow down", delay))
    gemini.responder = slow
    started = time.monotonic()
    table = generate_each([f"r{i}" for i in range(12)], "{value}", concurrency=4, cache=False)
    assert table.error.isna().all() and len(gemini.requests) == 13  # the refused row was sent once more
    early = [t - started for t in times if 0.1 < t - started < 0.55]
    assert not early, early  # the three others finished at 0.2 s and waited with everyone else
    assert (
        sent(gemini).count("r0") + sent(gemini).count("r1") + sent(gemini).count("r2") + sent(gemini).count("r3") == 5
    )


def test_rpm_spaces_the_requests(shell: TestShell, gemini: GeminiTestServer) -> None:
    gemini.responder = RateLimited(rate=1000)
    started = time.monotonic()
    generate_each([str(i) for i in range(6)], "{value}", rpm=600, concurrency=6, cache=False)
    assert time.monotonic() - started >= 0.45  # 6 requests at 10 per second, whatever the workers


def test_a_rate_limited_server_gets_every_row(shell: TestShell, gemini: GeminiTestServer) -> None:
    limit = RateLimited(rate=50, latency=0.02)
    gemini.responder = limit
    table = generate_each([str(i) for i in range(60)], "{value}", concurrency=8, cache=False)
    assert table.error.isna().all() and answers(table) == [str(i) for i in range(60)]
    assert limit.accepted == 60 and limit.refused > 0  # refused requests were sent again, after the RetryInfo pause
    assert limit.refused < 7 * 60  # the workers never outran the pause (7 refusals for each answer at the worst)


def test_5xx_is_retried_by_its_row_and_4xx_is_that_rows_error(shell: TestShell, gemini: GeminiTestServer) -> None:
    def answer(record: Recorded) -> Reply:
        prompt = prompt_of(record)
        if prompt == "flaky" and sum(prompt_of(r) == "flaky" for r in gemini.requests) < 3:
            return error_reply(503, "UNAVAILABLE", "overloaded", RETRY_SOON)
        if prompt == "bad":
            return error_reply(400, "INVALID_ARGUMENT", "this row is wrong")
        return row_answer(record)

    gemini.responder = answer
    table = generate_each(["flaky", "bad", "fine"], "{value}", cache=False)
    assert sent(gemini) == ["bad", "fine", "flaky", "flaky", "flaky"]
    assert table.answer[0] == "answer to: flaky" and table.answer[2] == "answer to: fine"
    assert table.error[1] == "400 INVALID_ARGUMENT: this row is wrong" and pd.isna(table.answer[1])
    assert table.error.isna().sum() == 2


def test_five_identical_4xx_in_a_row_stop_the_job(shell: TestShell, gemini: GeminiTestServer) -> None:
    gemini.responder = lambda record: error_reply(403, "PERMISSION_DENIED", "API key not valid for this project")
    with pytest.raises(GeminiAPIError, match="403 PERMISSION_DENIED") as caught:
        each(shell, "--each rows --concurrency 1 --no-cache", "{value}", [str(i) for i in range(50)])
    assert len(gemini.requests) == STOP_AFTER  # not 50 paid failures
    error = caught.value
    assert error.__traceback__ is not None and error.__context__ is None  # bare: no chained network frames
    table = shell.user_ns["_gemini_table"]
    assert error.response is table and table.error.notna().sum() == STOP_AFTER and table.error.isna().sum() == 45
    assert "stopped: 403 PERMISSION_DENIED" in table.attrs["summary"]


def test_rows_come_from_the_cache_on_a_rerun(shell: TestShell, gemini: GeminiTestServer) -> None:
    failing = {"b"}

    def answer(record: Recorded) -> Reply:
        if prompt_of(record) in failing:
            return error_reply(400, "INVALID_ARGUMENT", "not now")
        return row_answer(record)

    gemini.responder = answer
    rows = ["a", "b", "c", "d"]
    first = each(shell, "--each rows", "{value}", rows)  # the cache is on by default for --each
    assert first.error.notna().sum() == 1 and len(gemini.requests) == 4
    failing.clear()
    second = each(shell, "--each rows", "{value}", rows)
    assert sent(gemini) == ["a", "b", "b", "c", "d"]  # only the failed row went again
    assert second.error.isna().all() and "3 from the cache" in second.attrs["summary"]
    third = each(shell, "--each rows --no-cache", "{value}", rows)
    assert len(gemini.requests) == 9 and third.error.isna().all()


def test_ctrl_c_keeps_the_finished_rows_and_a_rerun_sends_only_the_rest(
    shell: TestShell, gemini: GeminiTestServer
) -> None:
    gemini.responder = RateLimited(rate=1000, latency=0.1, burst=10)
    rows = [f"row {i}" for i in range(100)]
    interrupted: list[float] = []

    def ctrl_c() -> None:
        time.sleep(0.5)
        interrupted.append(time.monotonic())
        _thread.interrupt_main()  # what the kernel does on the stop button

    threading.Thread(target=ctrl_c, daemon=True).start()
    with pytest.raises(GeminiInterrupted, match="finished rows of 100 are kept in _gemini_table") as caught:
        each(shell, "--each rows --concurrency 4", "{value}", rows)
    assert time.monotonic() - interrupted[0] < 1.0
    partial = shell.user_ns["_gemini_table"]
    assert caught.value.response is partial
    done = partial.answer.notna().sum()
    assert 4 <= done < 60 and partial.error.isna().all()
    time.sleep(0.3)  # the answers that were in flight reach the cache
    first_run = len(gemini.requests)
    assert first_run <= done + 4
    table = each(shell, "--each rows --concurrency 4", "{value}", rows)
    assert answers(table) == rows and table.error.isna().all()
    assert len(gemini.requests) == 100 and sorted(set(sent(gemini))) == sorted(rows)  # none sent twice


def test_bad_input_is_one_line_and_sends_nothing(shell: TestShell, gemini: GeminiTestServer) -> None:
    gemini.responder = row_answer
    with pytest.raises(UsageError, match=r"^--each df: the table is empty; nothing was sent$"):
        each(shell, "--each df", "{text}", pd.DataFrame({"text": []}))
    df = pd.DataFrame({"text": ["a"], "lang": ["en"]})
    with pytest.raises(UsageError, match=r"names \{txt\}, \{row\.size\}.*\(columns: text, lang\); nothing was sent"):
        each(shell, "--each df", "{txt} {row.size} {{kept}} {index}", df)
    with pytest.raises(UsageError, match="--concurrency"):
        generate_each(["a"], "{value}", concurrency=0)
    with pytest.raises(UsageError, match="list is either all dicts"):
        generate_each([{"a": 1}, "b"], "{a}")
    with pytest.raises(UsageError, match="not a int"):
        generate_each(5, "{value}")
    assert gemini.requests == []


def test_a_row_holding_the_key_is_not_sent(shell: TestShell, gemini: GeminiTestServer) -> None:
    gemini.responder = row_answer
    table = generate_each(["fine", f"my key is {FAKE_KEY}"], "{value}", cache=False)
    assert "holds your API key" in table.error[1] and sent(gemini) == ["fine"]
    assert FAKE_KEY not in table.to_json()


def test_a_huge_job_says_how_long_it_will_take(
    shell: TestShell, gemini: GeminiTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    gemini.responder = lambda record: error_reply(400, "INVALID_ARGUMENT", "no")  # stops after five rows
    with pytest.raises(GeminiAPIError):
        generate_each(["x"] * LARGE_JOB, "{value}", rpm=600, cache=False)
    err = capsys.readouterr().err
    assert "100,000 rows at --rpm 600 take about 2.8 h; --batch sends them as one job" in err
    assert err.count("\n") == 1


def test_the_static_output_is_a_summary_and_the_first_rows(notebook: TestShell, gemini: GeminiTestServer) -> None:
    gemini.responder = row_answer
    each(notebook, "--each rows", "{value}", [f"q{i}" for i in range(12)], shown=True)
    html = "\n".join(notebook.texts("text/html"))
    assert "12 rows in" in html and "answer to: q9" in html and "answer to: q10" not in html


def test_dry_run_shows_the_first_rows_request_and_sends_nothing(shell: TestShell, gemini: GeminiTestServer) -> None:
    assert each(shell, "--each rows --dry-run -t 0", "Say {value}", ["first", "second"]) is None
    shown = shell.texts()[-1]
    assert ":generateContent" in shown and '"text": "Say first"' in shown and "the first of 2 rows" in shown
    assert FAKE_KEY not in shown and gemini.requests == [] and "_gemini_table" not in shell.user_ns
    with pytest.raises(UsageError, match="--chat and --run-tools do not apply"):
        each(shell, "--each rows --chat c", "Say {value}", ["first"])
    for extra in ("--speech", "--speakers A=Kore,B=Puck", "--candidates 2", "--batch --speech Puck"):
        with pytest.raises(UsageError, match="--speech, --speakers and --candidates do not apply"):
            each(shell, f"--each rows {extra}", "Say {value}", ["first"])  # the audio or other answers would be lost
    assert gemini.requests == []


def test_the_cell_magic_runs_the_rows(shell: TestShell, gemini: GeminiTestServer) -> None:
    gemini.responder = row_answer
    shell.user_ns["df"] = pd.DataFrame({"city": ["Oslo", "Lima"]})
    shell.run("%%gemini --each df -o capitals --concurrency 2\nCapital of the country of {city}?")
    table = shell.user_ns["capitals"]
    assert answers(table) == ["Capital of the country of Oslo?", "Capital of the country of Lima?"]
    assert "_gemini_table" not in shell.user_ns and len(gemini.requests) == 2


def test_numpy_rows_many_workers_and_answers_that_are_not_objects(shell: TestShell, gemini: GeminiTestServer) -> None:
    import numpy as np

    gemini.responder = lambda record: json_reply(
        {"candidates": [{"content": {"parts": [{"text": "[1, 2]"}]}, "finishReason": "STOP"}]}
    )
    schema = {"type": "object", "properties": {"label": {"type": "string"}}}
    table = generate_each(np.array(list("abcdefghijkl")), "{value}", schema=schema, concurrency=16, cache=False)
    assert list(table.error) == ["the answer is not a JSON object; see the answer column"] * 12
    magic = shell.magics_manager.registry["GeminiMagic"]
    assert magic.client.session.get_adapter(gemini.url)._pool_maxsize == 12  # requests keeps 10 unless told
    with pytest.raises(UsageError, match="out= and dry_run="):
        generate_each(["a"], "{value}", out="x")


def test_a_job_reads_the_proxy_variables_once_and_still_goes_through_the_proxy(
    shell: TestShell, gemini: GeminiTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows go through HTTP_PROXY (here the loopback server, which sees the absolute URL), NO_PROXY
    still counts, and the session reads the environment per request again after the job."""
    gemini.responder = row_answer
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", gemini.url)
    session = shell.magics_manager.registry["GeminiMagic"].client.session
    table = each(shell, "--each rows --no-cache --base-url http://gemini.invalid", "say {value}", ["a", "b", "c"])
    assert answers(table) == ["say a", "say b", "say c"]
    assert len(gemini.requests) == 3  # in absolute form: through the proxy
    assert all(r.path.startswith("http://gemini.invalid/v1beta/models/") for r in gemini.requests)
    assert session.trust_env and session.proxies == {}
    gemini.reset()
    gemini.responder = row_answer
    monkeypatch.setenv("NO_PROXY", "gemini.invalid")
    table = each(shell, "--each rows --no-cache --base-url http://gemini.invalid", "say {value}", ["a"])
    assert gemini.requests == [] and "gemini.invalid" in table.error[0]  # not proxied: the name does not resolve
