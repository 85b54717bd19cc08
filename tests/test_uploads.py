"""Files API uploads (issue 12, item 2) against the loopback Files API (tests/files_service.py):
video and big attachments go up in pieces streamed from disk, are polled until ACTIVE and sent as
``fileData``; the same content is reused while it lives; a drop resumes from the server's offset;
failures are one line; ``%gemini files`` lists and deletes. Real sockets, no mocks."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FAKE_KEY, displays, kernels, output_text
from files_service import FilesService
from gemini_server import GeminiTestServer, Reply
from IPython.core.error import UsageError
from kernels import Kernel
from shell import TestShell

from gemini_magic import _files, _uploads
from gemini_magic._client import GeminiClient
from gemini_magic._display import SilentView, TerminalView
from gemini_magic._errors import GeminiAnswerError, GeminiAPIError, GeminiConnectionError, GeminiStreamError
from gemini_magic._options import Options
from gemini_magic._settings import Settings, resolve_settings

PIECE = 256 << 10  # the tests' upload piece: a few MB go up in a dozen requests


def video_bytes(size: int, seed: int = 0) -> bytes:
    """An MP4 (its ftyp box) of *size* bytes; *seed* changes the content."""
    head = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
    block = hashlib.sha256(str(seed).encode()).digest() * 2048
    body = (block * (size // len(block) + 1))[: size - len(head)]
    return head + body


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_files, "CHUNK_BYTES", PIECE)
    monkeypatch.setattr(_files, "RESUME_DELAYS", (0.01,))
    monkeypatch.setattr(_uploads, "POLL_DELAYS", (0.01,))
    _uploads._digests.clear()
    _uploads._verified.clear()


@pytest.fixture
def files(monkeypatch: pytest.MonkeyPatch, shell: TestShell) -> Iterator[FilesService]:
    service = FilesService(processing_polls=2).start()
    monkeypatch.setenv("GEMINI_BASE_URL", service.url)
    yield service
    service.stop()


def direct(service: FilesService) -> Settings:
    """Settings for calling the upload functions directly, without a shell."""
    return resolve_settings(Options(), {}, set(), {"GEMINI_API_KEY": FAKE_KEY, "GEMINI_BASE_URL": service.url})


def pieces(service: FilesService) -> list[object]:
    return [e for e in service.uploads() if "upload_id=" in e.path and e.headers["X-Goog-Upload-Command"] != "query"]


def test_a_video_goes_up_in_pieces_is_polled_until_active_and_is_sent_as_file_data(
    shell: TestShell, files: FilesService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = video_bytes(3 * PIECE + 1000)
    (tmp_path / "talk.mp4").write_bytes(data)
    shell.run("%%gemini --attach talk.mp4\nSummarise")

    start, *sent = files.uploads()
    assert start.path == "/upload/v1beta/files" and start.body == {"file": {"displayName": "talk.mp4"}}
    assert start.headers["X-Goog-Upload-Protocol"] == "resumable"
    assert start.headers["X-Goog-Upload-Header-Content-Length"] == str(len(data))
    assert start.headers["X-Goog-Upload-Header-Content-Type"] == "video/mp4"
    assert [e.headers["X-Goog-Upload-Offset"] for e in sent] == [str(o) for o in range(0, len(data), PIECE)]
    assert [e.headers["X-Goog-Upload-Command"] for e in sent] == ["upload"] * 3 + ["upload, finalize"]
    assert [int(e.headers["Content-Length"]) for e in sent] == [PIECE] * 3 + [1000]
    assert all(e.headers["x-goog-api-key"] == FAKE_KEY for e in [start, *sent])  # the configured host only
    (name,) = files.files
    assert files.data(name) == data
    polls = [e.path for e in files.log if e.method == "GET"]
    assert polls == [f"/v1beta/{name}"] * 2  # PROCESSING, then ACTIVE

    (generate,) = files.generates()
    parts = generate.body["contents"][0]["parts"]
    assert parts == [
        {"fileData": {"mimeType": "video/mp4", "fileUri": files.files[name]["uri"]}},
        {"text": "Summarise"},
    ]
    out = capsys.readouterr()
    assert "Seen: fileData video/mp4" in out.out
    assert f"↑ talk.mp4: 0.8 MB uploaded as {name} (ACTIVE)" in out.err
    assert FAKE_KEY not in out.out + out.err
    record = next((tmp_path / ".gemini-cache" / "uploads").glob("*.json"))
    assert record.name.startswith(f"{len(data)}-")  # hashed beside the upload: no record of that size before
    saved = json.loads(record.read_text())
    assert saved["name"] == name and saved["sha256"] == hashlib.sha256(data).hexdigest()
    assert saved["expirationTime"] == files.files[name]["expirationTime"] and FAKE_KEY not in record.read_text()


def test_the_same_content_is_not_uploaded_twice(
    shell: TestShell, files: FilesService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = video_bytes(2 * PIECE)
    (tmp_path / "a.mp4").write_bytes(data)
    shell.run("%%gemini --attach a.mp4\nOne")
    first = len(files.uploads())
    shell.run("%%gemini --attach a.mp4\nTwo")
    assert len(files.uploads()) == first  # 0 upload requests the second time
    (tmp_path / "copy.mp4").write_bytes(data)  # another name, the same bytes
    _uploads._verified.clear()  # past the minute a check is trusted: the server is asked (a GET, not an upload)
    gets = len([e for e in files.log if e.method == "GET"])
    shell.run("%%gemini --attach copy.mp4\nThree")
    assert len(files.uploads()) == first and len([e for e in files.log if e.method == "GET"]) == gets + 1
    uris = {g.body["contents"][0]["parts"][0]["fileData"]["fileUri"] for g in files.generates()}
    assert len(uris) == 1 and len(files.files) == 1


def test_other_content_of_the_same_size_is_compared_and_uploaded(
    shell: TestShell, files: FilesService, tmp_path: Path
) -> None:
    (tmp_path / "a.mp4").write_bytes(video_bytes(PIECE, seed=1))
    (tmp_path / "b.mp4").write_bytes(video_bytes(PIECE, seed=2))
    shell.run("%%gemini --attach a.mp4\nOne")
    shell.run("%%gemini --attach b.mp4\nTwo")
    assert len(files.files) == 2
    assert sorted(files.data(n) for n in files.files) == sorted(p.read_bytes() for p in tmp_path.glob("*.mp4"))
    assert len(list((tmp_path / ".gemini-cache" / "uploads").glob(f"{PIECE}-*.json"))) == 2


def test_an_expiring_or_vanished_file_is_uploaded_again(shell: TestShell, files: FilesService, tmp_path: Path) -> None:
    (tmp_path / "a.mp4").write_bytes(video_bytes(PIECE))
    shell.run("%%gemini --attach a.mp4\nOne")
    (record,) = (tmp_path / ".gemini-cache" / "uploads").glob("*.json")
    saved = json.loads(record.read_text())
    saved["expirationTime"] = time.strftime("%Y-%m-%dT%H:%M:%S.5Z", time.gmtime(time.time() + 3600))  # 1 h left
    record.write_text(json.dumps(saved))
    shell.run("%%gemini --attach a.mp4\nTwo")
    assert len(files.files) == 2 and len([e for e in files.uploads() if e.path == "/upload/v1beta/files"]) == 2

    files.files.clear()  # deleted on the server (or another key's project): a GET says 403
    _uploads._verified.clear()
    shell.run("%%gemini --attach a.mp4\nThree")
    assert len(files.files) == 1 and len([e for e in files.uploads() if e.path == "/upload/v1beta/files"]) == 3
    assert (
        files.generates()[-1]
        .body["contents"][0]["parts"][0]["fileData"]["fileUri"]
        .endswith(next(iter(files.files))[6:])
    )


def test_a_corrupt_record_is_a_miss_with_one_warning(
    shell: TestShell, files: FilesService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.mp4").write_bytes(video_bytes(PIECE))
    shell.run("%%gemini --attach a.mp4\nOne")
    (record,) = (tmp_path / ".gemini-cache" / "uploads").glob("*.json")
    record.write_text("{not json")
    capsys.readouterr()
    shell.run("%%gemini --attach a.mp4\nTwo")
    err = capsys.readouterr().err
    assert err.count("treated as a miss") == 1 and len(files.files) == 2
    assert json.loads(record.read_text())["name"] in files.files  # rewritten whole


def test_a_drop_at_60_percent_resumes_from_the_servers_offset(tmp_path: Path) -> None:
    service = FilesService(drop_at=0.6, granule=64 << 10).start()
    try:
        data = video_bytes(16 * PIECE + 123)
        path = tmp_path / "v.mp4"
        path.write_bytes(data)
        sent = [0, 0]  # bytes read from disk for the socket, in all; the last position

        def progress(position: int) -> None:
            sent[0] += max(0, position - sent[1])
            sent[1] = position

        with path.open("rb") as handle:
            file = _files.upload(GeminiClient(), direct(service), handle, "video/mp4", "v.mp4", progress=progress)
        assert service.data(file["name"]) == data
        queries = [e for e in service.uploads() if e.headers.get("X-Goog-Upload-Command") == "query"]
        assert len(queries) == 1
        offsets = [int(e.headers["X-Goog-Upload-Offset"]) for e in pieces(service)]
        assert any(o % PIECE for o in offsets)  # went on from a granule inside a piece, as the server said
        assert service.received <= 1.1 * len(data), service.received / len(data)
        assert sent[0] <= 1.1 * len(data), sent[0] / len(data)
    finally:
        service.stop()


def test_pieces_grow_with_the_file_but_stay_a_tenth_of_it() -> None:
    assert _files.piece_bytes(0) == _files.piece_bytes(19 * PIECE) == PIECE  # the SDK's size (8 MiB), patched
    assert _files.piece_bytes(35 * PIECE) == 3 * PIECE  # 16 MiB pieces for 200 MiB, unpatched
    assert _files.piece_bytes(10_000 * PIECE) == 8 * PIECE


def test_an_answer_lost_after_the_last_piece_is_found_by_the_query(tmp_path: Path) -> None:
    service = FilesService(lose_final=True).start()
    try:
        data = video_bytes(3 * PIECE)
        file = _files.upload(GeminiClient(), direct(service), data, "video/mp4", "v.mp4")
        assert file == service.public(service.files[file["name"]]) and service.data(file["name"]) == data
        commands = [e.headers["X-Goog-Upload-Command"] for e in service.uploads()]
        assert commands == ["start", "upload", "upload", "upload, finalize", "query"]  # nothing sent twice
    finally:
        service.stop()


def test_a_drop_that_cannot_resume_is_one_line(shell: TestShell, files: FilesService, tmp_path: Path) -> None:
    files.drop_at, files.drops = 0.5, 99  # every piece from the middle on breaks off
    (tmp_path / "a.mp4").write_bytes(video_bytes(4 * PIECE))
    with pytest.raises(GeminiConnectionError) as caught:
        shell.run("%%gemini --attach a.mp4\nx")
    message = str(caught.value)
    assert message.startswith("uploading a.mp4: the upload broke off at 50 % and could not resume after 4 attempts")
    assert "\n" not in message
    assert files.generates() == []


@pytest.mark.parametrize(
    ("status", "name", "message"),
    [(413, "FAILED_PRECONDITION", "File too large."), (400, "INVALID_ARGUMENT", "Unsupported MIME type: video/wmv")],
)
def test_a_refused_upload_is_one_line_with_the_apis_message(
    shell: TestShell, files: FilesService, tmp_path: Path, status: int, name: str, message: str
) -> None:
    files.refuse = (status, name, message)
    (tmp_path / "a.mp4").write_bytes(video_bytes(PIECE))
    with pytest.raises(GeminiAPIError) as caught:
        shell.run("%%gemini --attach a.mp4\nx")
    assert str(caught.value) == f"{status} {name}: uploading a.mp4: {message}"
    assert files.generates() == []


def test_a_file_that_fails_processing_is_one_line(shell: TestShell, files: FilesService, tmp_path: Path) -> None:
    files.fail = "Video codec not supported."
    (tmp_path / "a.mp4").write_bytes(video_bytes(PIECE))
    with pytest.raises(
        GeminiAnswerError, match=r"^the Files API could not process a.mp4: Video codec not supported\.$"
    ):
        shell.run("%%gemini --attach a.mp4\nx")
    assert files.generates() == []


def test_the_terminal_bar_renders_at_most_5_times_a_second(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the upload record goes into ./.gemini-cache
    service = FilesService(pause=0.08).start()
    try:
        path = tmp_path / "v.mp4"
        path.write_bytes(video_bytes(12 * PIECE))
        settings = direct(service)
        renders: list[int] = []
        real = _uploads.UploadBar.done

        def done(bar: _uploads.UploadBar, message: str) -> None:
            renders.append(bar.renders)
            real(bar, message)

        started = time.monotonic()
        _uploads.UploadBar.done = done  # type: ignore[method-assign]
        try:
            part = _uploads.upload_path(GeminiClient(), settings, path, "video/mp4", progress=TerminalView)
        finally:
            _uploads.UploadBar.done = real  # type: ignore[method-assign]
        elapsed = time.monotonic() - started
        assert part["fileData"]["mimeType"] == "video/mp4"
        assert elapsed > 0.9 and 2 <= renders[0] <= 5 * elapsed + 2, (renders, elapsed)
        err = capsys.readouterr().err
        assert err.count("\r") == renders[0] + 1 and err.rstrip(" \n").endswith("(ACTIVE)") and err.endswith("\n")
        shown = [int(p) for p in re.findall(r"\((\d+) %\)", err)]
        assert shown[0] == 0 and shown == sorted(shown) and 0 < shown[-1] < 100 and "█" in err and "MB/s" in err
        assert _uploads.upload_path(GeminiClient(), settings, path, "video/mp4", progress=SilentView) == part
        assert capsys.readouterr().err == ""  # reused: no bar at all
    finally:
        service.stop()


def test_a_silent_call_shows_no_bar(
    shell: TestShell, files: FilesService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.mp4").write_bytes(video_bytes(PIECE))
    shell.run("from gemini_magic import generate\nanswer = generate('x', attach='a.mp4')")  # display=False
    assert len(files.files) == 1 and "↑" not in capsys.readouterr().err
    assert shell.user_ns["answer"].text and not shell.shown
    (tmp_path / "b.mp4").write_bytes(video_bytes(PIECE + 1))
    shell.run("%%gemini --attach b.mp4\nx")  # the magic in a terminal: a bar on stderr
    assert len(files.files) == 2 and "↑ b.mp4" in capsys.readouterr().err


def test_in_a_notebook_the_bar_is_a_widget_replaced_by_one_line(
    notebook: TestShell, files: FilesService, tmp_path: Path
) -> None:
    (tmp_path / "a.mp4").write_bytes(video_bytes(2 * PIECE))
    notebook.run("%%gemini --attach a.mp4\nx")
    bars = [s for s in notebook.shown if "application/vnd.jupyter.widget-view+json" in s.data]
    assert bars, "the bar was not shown as a widget"
    lines = [s for s in notebook.shown if s.update and "uploaded as files/" in s.data.get("text/plain", "")]
    assert len(lines) == 1 and lines[0].display_id == bars[0].display_id
    assert "<small>↑ a.mp4: 0.5 MB uploaded as files/" in lines[0].data["text/html"]


def test_big_attachments_go_up_largest_first_until_the_rest_fits(tmp_path: Path) -> None:
    from gemini_magic._attach import Media, attachment_parts

    sent: list[str] = []

    def upload(media: Media) -> dict[str, object]:
        sent.append(media.label)
        return {"fileData": {"mimeType": media.mime, "fileUri": f"https://x/{media.label}"}}

    namespace = {
        "small": b"%PDF-" + b"s" * 1000,
        "mid": b"%PDF-" + b"m" * 6000,
        "large": b"%PDF-" + b"l" * 9000,
    }
    parts = attachment_parts(("small", "large", "mid"), namespace, room=10_000, upload=upload)
    assert sent == ["large"]  # 4/3 × (1 k + 6 k) + overhead fits in 10 k; with 9 k more it did not
    assert [next(iter(p)) for p in parts] == ["inlineData", "fileData", "inlineData"]
    with pytest.raises(UsageError, match="--attach large: it is over the 20 MB inline limit, which this call cannot"):
        attachment_parts(("large",), namespace, room=100)


def test_a_big_pdf_variable_goes_through_the_files_api(shell: TestShell, files: FilesService) -> None:
    shell.run("big = b'%PDF-' + bytes(16 * 1024 * 1024)")  # 21 MB as base64: over the inline limit
    shell.run("%%gemini --attach big\nx")
    (name,) = files.files
    assert files.files[name]["mimeType"] == "application/pdf" and files.files[name]["displayName"] == "big"
    assert files.generates()[0].body["contents"][0]["parts"][0]["fileData"]["mimeType"] == "application/pdf"


def test_an_empty_video_goes_up_as_one_empty_finalizing_piece(shell: TestShell, files: FilesService) -> None:
    Path("empty.mp4").touch()
    shell.run("%%gemini --attach empty.mp4\nx")
    (piece,) = pieces(files)
    assert piece.headers["Content-Length"] == "0" and "Transfer-Encoding" not in piece.headers
    assert piece.headers["X-Goog-Upload-Command"] == "upload, finalize"
    assert files.data(next(iter(files.files))) == b""


def test_a_dry_run_uploads_nothing(shell: TestShell, files: FilesService, tmp_path: Path) -> None:
    (tmp_path / "a.mp4").write_bytes(video_bytes(PIECE))
    shell.run("%%gemini --dry-run --attach a.mp4\nx")
    assert files.log == []
    assert "(uploaded through the Files API when sent: a.mp4, 262,144 bytes)" in "".join(shell.texts())


def test_files_lists_every_page_and_deletes(shell: TestShell, files: FilesService, tmp_path: Path) -> None:
    files.page_size = 2
    for seed in range(5):
        (tmp_path / f"v{seed}.mp4").write_bytes(video_bytes(1000, seed))
        shell.run(f"%%gemini --attach v{seed}.mp4\nx")
    shell.run("%gemini files")
    table = shell.texts()[-1]
    assert all(name in table for name in files.files) and "5 files" in table
    assert "video/mp4" in table and "ACTIVE" in table and "expires (UTC)" in table and "(in 48 h)" in table
    lists = [e.path for e in files.log if e.path.startswith("/v1beta/files?")]
    assert lists == ["/v1beta/files?pageSize=100", "/v1beta/files?pageSize=100&pageToken=2",
                     "/v1beta/files?pageSize=100&pageToken=4"]  # fmt: skip
    assert len(shell.user_ns["_gemini_files"]) == 5

    first = sorted(files.files)[0]
    shell.run(f"%gemini files delete {first}")
    assert first not in files.files and shell.texts()[-1] == f"Deleted 1 file: {first}"
    assert ("DELETE", f"/v1beta/{first}") in [(e.method, e.path) for e in files.log]
    shell.run("%gemini files delete --all")
    assert files.files == {} and shell.texts()[-1].startswith("Deleted 4 files: files/")
    magic = shell.magics_manager.registry["GeminiMagic"]
    for bad, message in [("delete", "usage: %gemini files"), ("remove x", "usage"), ("delete ../x", "not a file name")]:
        with pytest.raises(UsageError, match=message):
            _uploads.files_command(magic, bad)
    shell.run("%gemini files")
    assert "0 files" in shell.texts()[-1]


@pytest.mark.timeout(120)
def test_a_video_end_to_end_in_a_real_kernel(tmp_path: Path) -> None:
    service = FilesService(processing_polls=1).start()
    try:
        (tmp_path / "clip.mp4").write_bytes(video_bytes(3 << 20))
        env = kernels.kernel_env(service.url, FAKE_KEY)
        with Kernel(env) as kernel:
            kernel.run(f"import os; os.chdir({str(tmp_path)!r})\n%load_ext gemini_magic")
            outputs = kernel.run("%%gemini --attach clip.mp4\nWhat happens?")
            assert kernel.reply["status"] == "ok", outputs
            text = output_text(outputs)
            assert "Seen: fileData video/mp4" in text
            assert "uploaded as files/" in text and "Loading widget" not in text
            assert FAKE_KEY not in text
            again = kernel.run("%%gemini --attach clip.mp4\nAnd then?")
            assert kernel.reply["status"] == "ok" and "Seen: fileData video/mp4" in output_text(again)
            assert not any("uploaded as" in output_text([o]) for o in displays(again))
        starts = [e for e in service.uploads() if e.path == "/upload/v1beta/files"]
        assert len(starts) == 1 and len(service.generates()) == 2
        assert service.data(next(iter(service.files))) == (tmp_path / "clip.mp4").read_bytes()
        assert os.path.isdir(tmp_path / ".gemini-cache" / "uploads")
    finally:
        service.stop()


def test_hostile_file_fields_make_an_escaped_table(shell: TestShell, files: FilesService) -> None:
    files.files["files/odd"] = {
        "name": "files/odd",
        "displayName": '<img src=x onerror="alert(1)">\x1b]0;t\x07',
        "mimeType": ["video/mp4"],
        "sizeBytes": "²",  # str.isdigit() says yes, int() says no
        "expirationTime": "9999-12-31T23:59:59-23:59",  # past year 9999 in UTC
        "state": "ACTIVE",
    }
    files.files["files/big"] = {"name": "files/big", "sizeBytes": "9" * 400, "expirationTime": "0000-01-01T00:00:00Z"}
    shell.run("%gemini files")
    table = shell.texts()[-1]
    assert "2 files" in table and "\x1b" not in table and "\x07" not in table
    page = shell.texts("text/html")[-1]
    assert "<img" not in page and "&lt;img" in page


@pytest.mark.parametrize("received", ["²", "9" * 5000, "-1", "12x"])
def test_a_query_answer_that_is_no_byte_count_is_one_line(tmp_path: Path, received: str) -> None:
    service = FilesService(drop_at=0.5).start()
    send = service._send

    def hostile(handler: object, status: int, body: object = None, headers: dict[str, str] | None = None) -> None:
        if headers and "X-Goog-Upload-Size-Received" in headers:
            headers = {**headers, "X-Goog-Upload-Size-Received": received}
        send(handler, status, body, headers)  # type: ignore[arg-type]

    service._send = hostile  # type: ignore[method-assign]
    try:
        with pytest.raises(GeminiStreamError, match="it cannot be resumed"):
            _files.upload(GeminiClient(), direct(service), video_bytes(4 * PIECE), "video/mp4", "v.mp4")
    finally:
        service.stop()


def test_record_times_and_names_out_of_range_are_none() -> None:
    from gemini_magic._upload_records import FILE_NAME, epoch

    for moment in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "0000-01-01T00:00:00Z", 7, None):
        assert epoch(moment) == 0.0
    assert epoch("2026-11-24T10:00:00.123456789Z") == epoch("2026-11-24T12:00:00+02:00") + 0.123456
    assert FILE_NAME.match("files/abc-1") and not FILE_NAME.match("files/abc\n")


@pytest.mark.parametrize("form", ["{evil}/upload?upload_id=x", "{ours}@{host}/upload", "{evil}:99999/x", "/relative"])
def test_an_upload_url_on_another_host_gets_nothing(form: str) -> None:
    service, evil = FilesService().start(), FilesService().start()
    send = service._send

    def elsewhere(handler: object, status: int, body: object = None, headers: dict[str, str] | None = None) -> None:
        if headers and "X-Goog-Upload-URL" in headers:
            host = evil.url.split("//", 1)[1]
            headers = {**headers, "X-Goog-Upload-URL": form.format(evil=evil.url, ours=service.url, host=host)}
        send(handler, status, body, headers)  # type: ignore[arg-type]

    service._send = elsewhere  # type: ignore[method-assign]
    try:
        with pytest.raises(GeminiConnectionError, match="the API key is only sent to the configured host"):
            _files.upload(GeminiClient(), direct(service), video_bytes(PIECE), "video/mp4", "v.mp4")
        assert evil.log == [] and [e.headers["X-Goog-Upload-Command"] for e in service.uploads()] == ["start"]
    finally:
        service.stop()
        evil.stop()


def test_results_lines_cost_their_length_once(gemini: GeminiTestServer) -> None:
    """A long line comes in many 64 KB reads; the buffer is not searched again for each one."""
    long = b'{"x": "' + b"a" * (24 << 20) + b'"}'
    body = b"\n \n" + long + b'\n{"y": 1}\r\n\n' + long + b"\n" + b'{"z": 2}'
    gemini.responder = lambda record: Reply([body], content_type="application/octet-stream")
    settings = resolve_settings(Options(), {}, set(), {"GEMINI_API_KEY": FAKE_KEY, "GEMINI_BASE_URL": gemini.url})
    started = time.perf_counter()
    lines = list(_files.download_lines(GeminiClient(), settings, "files/batch-1"))
    assert lines == [long, b'{"y": 1}\r', long, b'{"z": 2}']
    assert time.perf_counter() - started < 3  # 13 s when each read split the whole line so far
