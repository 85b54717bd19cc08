"""``--each --batch``, ``%gemini batch NAME [--cancel]`` and ``%gemini batches`` against the loopback
server's Batch API (tests/gemini_server.py ``BatchService``): jobs walk PENDING → RUNNING → SUCCEEDED
with inline results or a results file, fail, expire, and are cancelled; inputs over the inline limit
go up as a JSONL file through the resumable Files API upload."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import FAKE_KEY, kernel_env, printed
from gemini_server import BatchService, GeminiTestServer, batch_answer, error_reply, json_reply
from kernels import Kernel
from shell import TestShell

from gemini_magic import _batch, _files
from gemini_magic._display import SilentView, view_factory
from gemini_magic._errors import GeminiAnswerError, GeminiAPIError, GeminiConnectionError, GeminiStreamError
from gemini_magic._options import parse_argv

TEMPLATE = "Classify: {text}"


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_batch, "POLL_DELAYS", (0.01, 0.02))


def tickets(shell: TestShell, *texts: str) -> pd.DataFrame:
    df = pd.DataFrame(
        {"text": list(texts) or ["printer on fire", "cannot log in", "FAIL me"], "id": [7, 8, 9][: len(texts) or 3]}
    )
    df.index = [f"t{i}" for i in range(len(df))]
    shell.user_ns["df"] = df
    return df


def run_batch(shell: TestShell, *argv: str, view: Any = SilentView) -> Any:
    magic = shell.magics_manager.registry["GeminiMagic"]
    return _batch.run_batch(magic, parse_argv(["--each", "df", "--batch", *argv]), TEMPLATE, shell.user_ns["df"], view)


def paths(server: GeminiTestServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.requests]


def test_an_inline_job_walks_to_success_and_fills_the_table(
    shell: TestShell, gemini: GeminiTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    service = gemini.responder = BatchService()
    tickets(shell)
    table = run_batch(shell, "-t", "0.2", view=view_factory(shell))

    create = gemini.requests[0]
    assert create.path == "/v1beta/models/gemini-3-flash-preview:batchGenerateContent"
    entries = create.body["batch"]["inputConfig"]["requests"]["requests"]
    assert [e["metadata"] for e in entries] == [{"key": "row-0"}, {"key": "row-1"}, {"key": "row-2"}]
    assert entries[1]["request"]["contents"][0]["parts"][-1]["text"] == "Classify: cannot log in"
    assert entries[1]["request"]["generationConfig"]["temperature"] == 0.2  # each row's request as --each builds it
    assert create.headers["x-goog-api-key"] == FAKE_KEY
    assert paths(gemini)[1:] == ["GET /v1beta/batches/job1", "GET /v1beta/batches/job1"]  # RUNNING, then SUCCEEDED
    assert service.state("job1") == "SUCCEEDED"

    assert list(table.index) == ["t0", "t1", "t2"]
    assert table.loc["t0", "answer"] == "A:Classify: printer on fire"
    assert table.loc["t1", "answer"] == "A:Classify: cannot log in"
    assert table.loc["t0", "finish_reason"] == "STOP" and table.loc["t0", "input_tokens"] == 7
    assert pd.isna(table.loc["t0", "error"])
    assert table.loc["t2", "error"] == "13 INTERNAL: Internal error encountered."  # a per-request failure
    assert table.attrs["gemini_batch"] == "batches/job1"
    assert shell.user_ns["_gemini_table"] is table

    out = capsys.readouterr()
    assert "Batch job batches/job1: 3 rows. After a restart: %gemini batch batches/job1" in out.out
    assert "batch job batches/job1" in out.out  # the summary line over the table
    record = Path(".gemini-cache/batches/job1.json")
    saved = json.loads(record.read_text())
    assert saved["name"] == "batches/job1" and saved["rows"] == 3 and saved["variable"] == "df"
    assert FAKE_KEY not in record.read_text() + out.out + out.err


def test_a_large_job_goes_as_an_uploaded_jsonl_file_and_results_match_by_key(
    shell: TestShell, gemini: GeminiTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_batch, "INLINE_LIMIT", 100)  # three rows are over it
    monkeypatch.setattr(_files, "CHUNK_BYTES", 64)  # and go up in several pieces
    service = gemini.responder = BatchService()
    tickets(shell)
    table = run_batch(shell)

    start, *pieces = [r for r in gemini.requests if r.path.startswith("/upload/")]
    assert start.headers["X-Goog-Upload-Command"] == "start"
    assert all(r.headers["x-goog-api-key"] == FAKE_KEY for r in [start, *pieces])  # to the configured host only
    assert start.headers["X-Goog-Upload-Header-Content-Type"] == "application/jsonl"
    uploaded = service.files["files/in-up1"]
    assert int(start.headers["X-Goog-Upload-Header-Content-Length"]) == len(uploaded)
    assert [p.headers["X-Goog-Upload-Command"] for p in pieces][-1] == "upload, finalize"
    assert {p.headers["X-Goog-Upload-Command"] for p in pieces[:-1]} == {"upload"}
    assert [int(p.headers["X-Goog-Upload-Offset"]) for p in pieces] == list(range(0, len(uploaded), 64))
    lines = [json.loads(line) for line in uploaded.decode().splitlines()]
    assert [line["key"] for line in lines] == ["row-0", "row-1", "row-2"]
    assert lines[0]["request"]["contents"][0]["parts"][-1]["text"] == "Classify: printer on fire"

    create = next(r for r in gemini.requests if r.path.endswith(":batchGenerateContent"))
    assert create.body["batch"]["inputConfig"] == {"fileName": "files/in-up1"}
    assert "GET /download/v1beta/files/batch-job1:download?alt=media" in paths(gemini)
    # the results file lists the rows in reverse: each still lands on its own row
    assert list(table["answer"])[:2] == ["A:Classify: printer on fire", "A:Classify: cannot log in"]
    assert table.loc["t2", "error"] == "13 INTERNAL: Internal error encountered."


def test_a_failed_job_is_one_clear_line(shell: TestShell, gemini: GeminiTestServer) -> None:
    gemini.responder = BatchService(("PENDING", "FAILED"))
    tickets(shell)
    with pytest.raises(GeminiAPIError) as caught:
        run_batch(shell)
    message = str(caught.value)
    assert message == (
        "8 RESOURCE_EXHAUSTED: batch job batches/job1 failed: Enqueued token quota exceeded for this model."
    )
    assert caught.value.__context__ is None and caught.value.__traceback__ is not None
    assert "_gemini_table" not in shell.user_ns


def test_an_expired_job_says_so(shell: TestShell, gemini: GeminiTestServer) -> None:
    gemini.responder = BatchService(("RUNNING", "EXPIRED"))
    tickets(shell)
    with pytest.raises(GeminiAnswerError, match=r"^batch job batches/job1 expired: .* after 48 h; .* no results$"):
        run_batch(shell)


def test_cancel_then_reattach(shell: TestShell, gemini: GeminiTestServer) -> None:
    service = gemini.responder = BatchService(("PENDING",))
    magic = shell.magics_manager.registry["GeminiMagic"]
    settings = magic.settings(parse_argv([]))
    job = _batch.submit(magic.client, settings, [{"contents": [{"parts": [{"text": "hi"}]}]}], "one row")
    assert job.name == "batches/job1" and job.state == "PENDING" and not job.done
    shell.run("%gemini batch batches/job1 --cancel")
    assert "POST /v1beta/batches/job1:cancel" in paths(gemini)
    assert shell.texts()[-1] == "Cancel requested for batches/job1: it is CANCELLED now (cancelling is best effort)."
    assert service.state("job1") == "CANCELLED"
    with pytest.raises(GeminiAnswerError, match=r"^batch job batches/job1 was cancelled; it has no results$"):
        shell.run("%gemini batch job1")


def test_reattach_rebuilds_the_table_and_without_the_data_returns_rows_by_key(
    shell: TestShell, gemini: GeminiTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    gemini.responder = BatchService()
    df = tickets(shell)
    first = run_batch(shell, "--into", "label")
    assert list(first.columns) == ["text", "id", "label", "finish_reason", "input_tokens", "output_tokens", "error"]
    shell.user_ns.pop("_gemini_table")

    shell.run("%gemini batch batches/job1")
    again = shell.user_ns["_gemini_table"]
    pd.testing.assert_frame_equal(again, first)  # the same rows: the same table, original columns and all
    assert again.attrs["gemini_batch"] == "batches/job1"

    shell.user_ns["df"] = df.iloc[:2]  # not the data the job was made from
    shell.run("%gemini batch batches/job1")
    by_key = shell.user_ns["_gemini_table"]
    assert list(by_key.index) == [0, 1, 2] and "id" not in by_key.columns
    assert list(by_key["label"])[:2] == ["A:Classify: printer on fire", "A:Classify: cannot log in"]
    assert "df is not the table this job was made from: results by row" in capsys.readouterr().out


def test_batches_lists_every_page(shell: TestShell, gemini: GeminiTestServer) -> None:
    gemini.responder = BatchService(("RUNNING",), page_size=2)
    magic = shell.magics_manager.registry["GeminiMagic"]
    settings = magic.settings(parse_argv([]))
    for name in ("a", "b", "c"):
        _batch.submit(magic.client, settings, [{"contents": [{"parts": [{"text": name}]}]}], f"job {name}")
    shell.run("%gemini batches")
    listed = [r.path for r in gemini.requests if r.path.startswith("/v1beta/batches?")]
    assert listed == ["/v1beta/batches?pageSize=100", "/v1beta/batches?pageSize=100&pageToken=2"]
    table = shell.texts()[-1]
    for number in (1, 2, 3):
        assert f"batches/job{number}  RUNNING" in table
    assert [job.display_name for job in shell.user_ns["_gemini_batches"]] == ["job a", "job b", "job c"]


def test_a_create_is_sent_once_even_when_it_fails(shell: TestShell, gemini: GeminiTestServer) -> None:
    gemini.push(error_reply(503, "UNAVAILABLE", "The model is overloaded."))
    tickets(shell)
    with pytest.raises(GeminiAPIError, match="503 UNAVAILABLE"):
        run_batch(shell)
    assert len(gemini.requests) == 1  # a retried create would be a second job, and a second bill


def test_an_upload_url_on_another_host_is_refused(
    shell: TestShell, gemini: GeminiTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_batch, "INLINE_LIMIT", 10)
    gemini.responder = BatchService(upload_host="collector.example:8080")
    tickets(shell)
    with pytest.raises(GeminiConnectionError, match=r"upload URL the server gave is on collector\.example:8080"):
        run_batch(shell)
    assert paths(gemini) == ["POST /upload/v1beta/files"]  # nothing sent to it, no job created


def test_an_upload_refused_with_a_200_error_body(
    shell: TestShell, gemini: GeminiTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_batch, "INLINE_LIMIT", 10)
    url = f"{gemini.url}/upload/v1beta/files?upload_id=x"
    gemini.push(
        json_reply({}, headers={"X-Goog-Upload-URL": url}),
        json_reply({"error": {"code": 400, "message": "Unsupported MIME type: jsonl", "status": "INVALID_ARGUMENT"}}),
    )
    tickets(shell)
    with pytest.raises(GeminiAPIError, match="400 INVALID_ARGUMENT: Unsupported MIME type: jsonl"):
        run_batch(shell)


@pytest.mark.parametrize(
    ("operation", "field"),
    [
        ({"name": "batches/x", "metadata": {"state": 5}}, "metadata.state is a number, expected a string"),
        ({"name": "batches/x", "done": "yes"}, "done is a string, expected true or false"),
        ({"name": "batches/x", "metadata": {"batchStats": {"requestCount": "many"}}}, "batchStats.requestCount"),
        ({"name": "operations/x"}, "name is 'operations/x', expected 'batches/…'"),
        (
            {"name": "batches/x", "response": {"inlinedResponses": {"inlinedResponses": [{"error": {"code": "13"}}]}}},
            "response.inlinedResponses.inlinedResponses[0].error.code is a string, expected an integer",
        ),
        ([], "it is an array, expected an object"),
    ],
)
def test_a_job_of_the_wrong_shape_names_the_field(operation: Any, field: str) -> None:
    with pytest.raises(GeminiStreamError, match="malformed") as caught:
        _batch.parse_job(operation)
    assert field in str(caught.value)


def test_states_in_either_spelling_and_unknown_ones_keep_polling() -> None:
    stats = {"requestCount": "4", "successfulRequestCount": 2, "failedRequestCount": "1"}
    job = _batch.parse_job({"name": "batches/x", "metadata": {"state": "JOB_STATE_RUNNING", "batchStats": stats}})
    assert job.state == "RUNNING" and job.status(4) == "batch RUNNING 3/4 (1 failed)"
    odd = _batch.parse_job({"name": "batches/x", "metadata": {"state": "BATCH_STATE_PAUSED"}})
    assert not odd.done and "does not know; still polling" in odd.status(9)
    finished = _batch.parse_job({"name": "batches/x", "done": True, "metadata": {"state": "BATCH_STATE_RUNNING"}})
    assert finished.done and finished.state == "SUCCEEDED"


def test_bad_job_names_are_one_line(shell: TestShell) -> None:
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="is not a batch job name"):
        shell.run("%gemini batch ..")


def test_reattach_in_a_new_kernel(server: GeminiTestServer, tmp_path: Path) -> None:
    """Submit, Ctrl-C while the job is pending, restart: ``%gemini batch NAME`` finds the table again."""
    server.reset()
    service = server.responder = BatchService(("PENDING",))
    setup = (
        f"%config GeminiMagic.cache_dir = {str(tmp_path / 'cache')!r}\n"
        "import pandas as pd, gemini_magic._batch as b\n"
        "b.POLL_DELAYS = (0.05,)\n"
        "df = pd.DataFrame({'text': ['printer on fire', 'cannot log in']}, index=['a', 'b'])"
    )
    try:
        with Kernel(kernel_env(server)) as first:
            first.run("%load_ext gemini_magic")
            first.run(setup)
            msg_id = first.execute("%%gemini --each df --batch\nClassify: {text}")
            seen: list[str] = []
            for message in first.messages(msg_id, timeout=60):
                if message["msg_type"] == "stream":
                    seen.append(message["content"]["text"])
                    if "After a restart" in "".join(seen):
                        first.interrupt()
                elif message["msg_type"] == "error":
                    seen.append(message["content"]["evalue"])
        shown = "".join(seen)
        assert "Batch job batches/job1: 2 rows" in shown
        assert "batch job batches/job1 keeps running: %gemini batch batches/job1 reattaches" in shown

        service.states = ["RUNNING", "SUCCEEDED"]
        service.jobs["job1"]["step"] = 0
        with Kernel(kernel_env(server)) as second:
            second.run("%load_ext gemini_magic")
            second.run(setup)
            outputs = second.run("%gemini batch batches/job1")
            assert second.reply["status"] == "ok", outputs
            answers = printed(second.run("print(_gemini_table['answer'].to_dict(), _gemini_table.attrs)"))
        assert "{'a': 'A:Classify: printer on fire', 'b': 'A:Classify: cannot log in'}" in answers
        assert "'gemini_batch': 'batches/job1'" in answers
    finally:
        server.reset()


def test_a_malformed_result_is_that_rows_error_and_a_malformed_results_line_names_the_field(
    shell: TestShell, gemini: GeminiTestServer
) -> None:
    def answer(request: dict[str, Any]) -> dict[str, Any]:
        if "cannot" in json.dumps(request):
            return {"response": {"candidates": "none"}}
        return batch_answer(request)

    gemini.responder = BatchService(answer=answer)
    tickets(shell)
    table = run_batch(shell)
    assert table.loc["t0", "answer"] == "A:Classify: printer on fire"  # the other rows keep their answers
    assert table.loc["t1", "error"] == "malformed response: candidates is a string, expected an array"

    gemini.reset()
    gemini.responder = BatchService(answer=lambda request: {"response": "text"}, results_file=True)
    with pytest.raises(GeminiStreamError, match=r"malformed response: files/batch-job1 line 1\.response is a string"):
        run_batch(shell)


def test_hostile_result_keys_and_counts_are_not_rows(shell: TestShell, gemini: GeminiTestServer) -> None:
    service = gemini.responder = BatchService()
    tickets(shell)
    run_batch(shell)
    requests_ = service.jobs["job1"]["requests"]
    keys = ["row-0", "row-²", "row-999999999999"]  # a digit int() refuses, a row far past the job's
    service.jobs["job1"]["requests"] = [(key, request) for key, (_, request) in zip(keys, requests_, strict=True)]
    shell.user_ns.pop("df")
    shell.run("%gemini batch batches/job1")  # the record says 3 rows
    table = shell.user_ns["_gemini_table"]
    assert list(table.index) == [0, 1, 2] and table.loc[0, "answer"] == "A:Classify: printer on fire"
    assert list(table["error"])[1:] == ["no result for this row in the batch output"] * 2

    options = {"schema": 3, "timeout": "x", "out": ["a"], "into": "label"}  # an edited record: wrong types are left out
    record = {"name": "batches/job1", "rows": "3", "options": options}
    Path(".gemini-cache/batches/job1.json").write_text(json.dumps(record))
    shell.run("%gemini batch batches/job1")  # a bad record: the entries say how many rows
    assert len(shell.user_ns["_gemini_table"]) == 3 and "label" in shell.user_ns["_gemini_table"].columns
    with pytest.raises(GeminiStreamError, match=r"batchStats\.requestCount is a string, expected a count"):
        _batch.parse_job({"name": "batches/x", "metadata": {"batchStats": {"requestCount": "²"}}})


def test_a_batch_refuses_what_a_table_cannot_hold(shell: TestShell, gemini: GeminiTestServer) -> None:
    from IPython.core.error import UsageError

    tickets(shell)
    with pytest.raises(UsageError, match="--chat and --run-tools do not apply"):
        run_batch(shell, "--chat", "c")
    with pytest.raises(UsageError, match="--speech, --speakers and --candidates do not apply"):
        run_batch(shell, "--candidates", "3")
    assert gemini.requests == []


def test_a_shipped_record_cannot_send_the_key_elsewhere(shell: TestShell, gemini: GeminiTestServer) -> None:
    from IPython.core.error import UsageError

    folder = Path(".gemini-cache/batches")
    folder.mkdir(parents=True, exist_ok=True)
    record = {"name": "batches/job9", "rows": 1, "options": {"base_url": "http://127.0.0.1:9", "auth": "bearer"}}
    (folder / "job9.json").write_text(json.dumps(record))
    with pytest.raises(UsageError, match=r"batches/job9 was submitted to 'http://127\.0\.0\.1:9'; set GeminiMagic"):
        shell.run("%gemini batch batches/job9")
    assert gemini.requests == []
