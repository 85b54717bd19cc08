"""Context caches: ``%gemini context create|delete``, ``%gemini contexts`` and ``--cached-content NAME``
against the loopback server (tests/caches_service.py), in process and in one real kernel."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from caches_service import CachesService, Uploads, rfc3339
from conftest import FAKE_KEY, kernel_env, output_text
from gemini_server import GeminiTestServer
from IPython.core.error import UsageError
from kernels import Kernel
from shell import TestShell

from gemini_magic._caches import contexts_command, expires_text, parse_ttl
from gemini_magic._errors import GeminiAPIError, GeminiStreamError

PDF = b"%PDF-1.4\n" + b"x" * 3000


def calls(server: GeminiTestServer) -> list[str]:
    return [f"{r.method} {r.path.split('?')[0]}" for r in server.requests]


def test_create_sends_model_contents_system_ttl_and_name(shell: TestShell, gemini: GeminiTestServer) -> None:
    Path("big.pdf").write_bytes(PDF)
    shell.user_ns["notes"] = "Lecture notes."
    service = gemini.responder = CachesService()
    shell.run('%gemini context create lecture --attach big.pdf --attach notes --system "Cite pages." --ttl 30m '
              "-m gemini-2.5-flash")  # fmt: skip
    assert calls(gemini) == ["GET /v1beta/cachedContents", "POST /v1beta/cachedContents"]
    assert gemini.requests[1].body == {
        "model": "models/gemini-2.5-flash",
        "displayName": "lecture",
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"inlineData": {"mimeType": "application/pdf", "data": base64.b64encode(PDF).decode()}},
                    {"text": "`notes`:\n\nLecture notes."},
                ],
            }
        ],
        "systemInstruction": {"parts": [{"text": "Cite pages."}]},
        "ttl": "1800s",
    }
    assert list(service.caches) == ["cachedContents/c1x"]
    shown = shell.texts()[-1]
    assert shown.startswith("Context cache 'lecture' made: cachedContents/c1x · gemini-2.5-flash · ")
    assert "(in 30 min)" in shown


def test_what_would_pass_the_inline_limit_goes_through_the_files_api(
    shell: TestShell, gemini: GeminiTestServer
) -> None:
    big = b"%PDF-1.4\n" + b"x" * (21 << 20)
    Path("book.pdf").write_bytes(big)
    uploads = Uploads()
    gemini.responder = CachesService(fallback=uploads)
    shell.run("%gemini context create book --attach book.pdf --system Cite.")
    create = next(r for r in gemini.requests if r.path == "/v1beta/cachedContents" and r.method == "POST")
    uri = f"{gemini.url}/v1beta/files/in-up1"
    assert create.body["contents"] == [
        {"role": "user", "parts": [{"fileData": {"mimeType": "application/pdf", "fileUri": uri}}]}
    ]
    assert uploads.files["files/in-up1"] == big
    assert shell.texts()[-1].startswith("Context cache 'book' made: cachedContents/c1x · gemini-3-flash-preview · ")


def test_a_short_name_is_resolved_once_per_session_and_brings_its_model(
    shell: TestShell, gemini: GeminiTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("big.pdf").write_bytes(PDF)
    gemini.responder = CachesService()
    shell.run("%gemini context create lecture --attach big.pdf -m gemini-2.5-flash")
    gemini.requests.clear()
    shell.run("%%gemini --cached-content lecture\nWhat is on page 2?")  # no -m: the cache's model
    shell.run("%%gemini --cached-content lecture --no-stream\nAnd page 3?")
    assert calls(gemini) == [
        "POST /v1beta/models/gemini-2.5-flash:streamGenerateContent",
        "POST /v1beta/models/gemini-2.5-flash:generateContent",
    ]  # known from create: no list
    assert [r.body["cachedContent"] for r in gemini.requests] == ["cachedContents/c1x"] * 2
    tokens = len(base64.b64encode(PDF)) // 100
    assert f"({tokens:,} cached)" in capsys.readouterr().out  # the footer
    assert shell.user_ns["_gemini"].usage["cachedContentTokenCount"] == tokens

    # a new session finds it through the list, once
    shell.run("%unload_ext gemini_magic")
    shell.run("%load_ext gemini_magic")
    gemini.requests.clear()
    shell.run("%%gemini --cached-content lecture --count-tokens\nQ")
    shell.run("%%gemini --cached-content lecture\nQ")
    assert calls(gemini) == [
        "GET /v1beta/cachedContents",
        "POST /v1beta/models/gemini-2.5-flash:countTokens",
        "POST /v1beta/models/gemini-2.5-flash:streamGenerateContent",
    ]
    assert gemini.requests[1].body["generateContentRequest"]["cachedContent"] == "cachedContents/c1x"
    assert shell.user_ns["_gemini"].usage["cachedContentTokenCount"] == tokens


def test_rows_share_the_sessions_lookup(shell: TestShell, gemini: GeminiTestServer) -> None:
    service = gemini.responder = CachesService()
    service.add("lecture")
    shell.run("rows = ['one', 'two', 'three']")
    shell.run("%%gemini --each rows --cached-content lecture --concurrency 1 -o table\nQuestion {index}")
    assert calls(gemini).count("GET /v1beta/cachedContents") == 1
    generated = [r for r in gemini.requests if r.method == "POST"]
    assert len(generated) == 3 and {r.path for r in generated} == {"/v1beta/models/gemini-2.5-flash:generateContent"}
    assert {r.body["cachedContent"] for r in generated} == {"cachedContents/c1x"}
    assert list(shell.user_ns["table"]["answer"]) == ["From the cache."] * 3


def test_commands_outside_the_grammar_are_one_line(shell: TestShell, gemini: GeminiTestServer) -> None:
    magic = shell.magics_manager.registry["GeminiMagic"]
    for rest, message in [
        ("delete a b", "usage: %gemini context create NAME"),
        ("create 'a b' --attach x", "'a b' is not a name"),
        ("create cachedContents/x --attach x", "is not a name"),
    ]:
        with pytest.raises(UsageError, match=message):
            contexts_command(magic, rest)
    assert gemini.requests == []


def test_an_explicit_model_is_kept_and_the_api_decides(shell: TestShell, gemini: GeminiTestServer) -> None:
    service = gemini.responder = CachesService()
    service.add("lecture")
    with pytest.raises(GeminiAPIError, match="400 INVALID_ARGUMENT: Model used by GenerateContent request"):
        shell.run("%%gemini --cached-content lecture -m gemini-2.5-pro\nQ")
    assert gemini.requests[-1].path.startswith("/v1beta/models/gemini-2.5-pro:")


def test_unknown_names_list_the_known_ones_and_send_nothing_more(shell: TestShell, gemini: GeminiTestServer) -> None:
    service = gemini.responder = CachesService()
    with pytest.raises(UsageError, match="no context cache named 'lectur'; known: none yet: %gemini context create"):
        shell.run("%%gemini --cached-content lectur\nQ")
    service.add("lecture")
    service.add("slides")
    with pytest.raises(
        UsageError, match=r"^--cached-content: no context cache named 'lectur'; known: lecture, slides$"
    ):
        shell.run("%%gemini --cached-content lectur\nQ")
    assert calls(gemini) == ["GET /v1beta/cachedContents"] * 2
    with pytest.raises(UsageError, match="is neither a context name nor cachedContents/ID"):
        shell.run("%%gemini --cached-content 'a b'\nQ")
    # a bare id still works, as it did before short names
    shell.run("%%gemini --cached-content c2x --count-tokens -m gemini-2.5-flash\nQ")
    assert gemini.requests[-1].body["generateContentRequest"]["cachedContent"] == "cachedContents/c2x"


def test_contexts_lists_every_page(shell: TestShell, gemini: GeminiTestServer) -> None:
    service = gemini.responder = CachesService(page_size=2)
    shell.run("%gemini contexts")
    assert shell.texts()[-1].startswith("No context caches yet. usage: %gemini context create NAME --attach X")
    gemini.requests.clear()
    for name in ("a", "b", "c"):
        service.add(name, usageMetadata={"totalTokenCount": 4096})
    shell.run("%gemini contexts")
    assert [r.path for r in gemini.requests] == [
        "/v1beta/cachedContents?pageSize=1000",
        "/v1beta/cachedContents?pageSize=1000&pageToken=2",
    ]
    assert [c["displayName"] for c in shell.user_ns["_gemini_contexts"]] == ["a", "b", "c"]
    table = shell.texts()[-1].splitlines()
    assert table[0].split() == ["name", "id", "model", "expires", "tokens"]
    assert table[1].split()[:3] == ["a", "cachedContents/c1x", "gemini-2.5-flash"]
    assert table[1].endswith("(in 1 h 0 min)  4,096")  # rounded up: an hour until the last minute has begun
    assert table[-1].startswith("3 context caches")
    assert "<td>cachedContents/c3x</td>" in shell.texts("text/html")[-1]


def test_delete_by_short_name_and_an_expired_cache(shell: TestShell, gemini: GeminiTestServer) -> None:
    service = gemini.responder = CachesService()
    service.add("lecture")
    service.add("old")
    shell.run("%gemini context delete lecture")
    assert calls(gemini)[-1] == "DELETE /v1beta/cachedContents/c1x"
    assert list(service.caches) == ["cachedContents/c2x"]
    assert shell.texts()[-1] == "Context cache 'lecture' (cachedContents/c1x) deleted."
    del service.caches["cachedContents/c2x"]  # it expired on the server; this session still knows it
    with pytest.raises(GeminiAPIError, match=r"403 PERMISSION_DENIED: CachedContent not found .* may have expired"):
        shell.run("%gemini context delete old")
    with pytest.raises(UsageError, match="no context cache named 'lecture'"):
        shell.run("%%gemini --cached-content lecture\nQ")  # deleted: forgotten, and the list agrees


def test_an_expired_entry_is_looked_up_again(shell: TestShell, gemini: GeminiTestServer) -> None:
    service = gemini.responder = CachesService()
    past = rfc3339(datetime.now(timezone.utc) - timedelta(minutes=1))
    service.add("lecture", expireTime=past)
    shell.run("%gemini contexts")  # now known, already expired
    assert "(expired)" in shell.texts()[-1]
    del service.caches["cachedContents/c1x"]
    service.add("lecture")
    gemini.requests.clear()
    shell.run("%%gemini --cached-content lecture\nQ")
    assert calls(gemini)[0] == "GET /v1beta/cachedContents"
    assert gemini.requests[-1].body["cachedContent"] == "cachedContents/c2x"


def test_api_refusals_and_bad_options_are_one_line(shell: TestShell, gemini: GeminiTestServer) -> None:
    Path("small.txt").write_text("tiny")
    gemini.responder = CachesService(min_tokens=1024)
    with pytest.raises(GeminiAPIError) as caught:
        shell.run("%gemini context create tiny --attach small.txt")
    assert str(caught.value) == (
        "400 INVALID_ARGUMENT: Cached content is too small. total_token_count=8, min_total_token_count=1024"
        " — a context cache needs at least 1,024 tokens (Flash) or 4,096 (Pro): attach more"
    )
    assert calls(gemini) == ["GET /v1beta/cachedContents", "POST /v1beta/cachedContents"]  # never retried
    gemini.responder = CachesService()
    shell.run("%gemini context create kept --attach small.txt")
    Path(".env").write_text(f"GEMINI_API_KEY={FAKE_KEY}\n")
    for line, message in [
        ("context create kept --attach small.txt", "a context named 'kept' exists (cachedContents/c1x"),
        ("context create x --attach small.txt --ttl soon", "--ttl: expected a time to live like 1h"),
        ("context create x --attach small.txt --bogus", "unrecognized arguments: --bogus"),
        ("context create x --system hi", "the following arguments are required: --attach"),
        ("context create x --attach nothere.txt", "--attach nothere.txt: no notebook variable and no file"),
        ("context delete nope", "no context cache named 'nope'; known: kept"),
        ("context create x --attach .env", "the cache would hold your API key"),
    ]:
        with pytest.raises(UsageError, match=message.replace("(", r"\(")):
            shell.run(f"%gemini {line}")
    assert [r.method for r in gemini.requests].count("POST") == 2  # the refused lines made nothing


def test_a_malformed_list_names_the_field(shell: TestShell, gemini: GeminiTestServer) -> None:
    service = gemini.responder = CachesService()
    service.add("ok")
    service.add("bad", model="models/../../upload")
    with pytest.raises(GeminiStreamError, match=r"cachedContents\[1\] has no cachedContents/ID name or models/"):
        shell.run("%gemini contexts")
    service.caches["cachedContents/c2x"]["usageMetadata"] = {"totalTokenCount": "9"}
    with pytest.raises(GeminiStreamError, match=r"usageMetadata\.totalTokenCount is a string, expected an integer"):
        shell.run("%%gemini --cached-content ok\nQ")
    assert [r.method for r in gemini.requests] == ["GET", "GET"]


def test_dry_run_resolves_from_memory_only(shell: TestShell, gemini: GeminiTestServer) -> None:
    shell.run("%%gemini --cached-content lecture --dry-run\nQ")
    assert gemini.requests == []
    assert '"cachedContent": "lecture"' in shell.texts()[-1]


@pytest.mark.parametrize(
    ("text", "ttl"), [("1h", "3600s"), ("30m", "1800s"), ("3600s", "3600s"), ("90", "90s"), ("1.5 min", "90s")]
)
def test_ttl(text: str, ttl: str) -> None:
    assert parse_ttl(text) == ttl


def test_expiry_in_local_time_and_relative() -> None:
    now = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
    local = datetime(2026, 11, 24, 10, 52, 30, tzinfo=timezone.utc).astimezone()
    assert expires_text("2026-11-24T10:52:30.123456789Z", now) == f"{local:%H:%M} (in 53 min)"
    assert expires_text("2026-11-24T12:05:00Z", now).endswith("(in 2 h 5 min)")
    assert expires_text("2026-11-26T13:00:00+00:00", now).endswith("(in 2 d 3 h)")
    assert expires_text("2026-11-24T09:00:00Z", now).endswith("(expired)")
    assert expires_text("soon", now) == "soon"


def test_in_a_real_kernel(server: GeminiTestServer, tmp_path: Path) -> None:
    server.reset()
    server.responder = CachesService()
    (tmp_path / "big.pdf").write_bytes(PDF)
    with Kernel(kernel_env(server)) as kernel:
        kernel.run(f"import os; os.chdir({str(tmp_path)!r})\n%load_ext gemini_magic")
        kernel.run("%gemini context create lecture --attach big.pdf -m gemini-2.5-flash --ttl 2h")
        outputs = kernel.run("%%gemini --cached-content lecture\nSummarise page 1.")
        assert kernel.reply["status"] == "ok"
        assert "From the cache." in output_text(outputs) and "cached)" in output_text(outputs)
        assert server.requests[-1].body["cachedContent"] == "cachedContents/c1x"
        before = len(server.requests)
        counted = output_text(kernel.run("%%gemini --cached-content lecture --count-tokens -o n\nAnd page 2?"))
        assert [r.path for r in server.requests[before:]] == ["/v1beta/models/gemini-2.5-flash:countTokens"]
        assert "<td>from the context cache</td>" in counted and "countTokens: nothing was generated" in counted
        assert (
            kernel.run("n.cached, n is _gemini")[0]["data"]["text/plain"]
            == f"({len(base64.b64encode(PDF)) // 100}, True)"
        )
        listed = output_text(kernel.run("%gemini contexts"))
        assert "lecture" in listed and "(in 2 h 0 min)" in listed
        assert "UsageError: --cached-content: no context cache named 'x'; known: lecture" in kernel.usage_error(
            "%%gemini --cached-content x\nQ"
        )
    server.reset()


@pytest.mark.parametrize(
    "expire_time",
    ["2026-02-30T00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59", "2026-01-01T00:00:00+99:99"],
)
def test_an_impossible_expiry_is_shown_as_sent(shell: TestShell, gemini: GeminiTestServer, expire_time: str) -> None:
    service = gemini.responder = CachesService()
    service.add("odd", expireTime=expire_time)
    shell.run("%gemini contexts")  # a ValueError or OverflowError from datetime once
    assert expire_time in shell.texts()[-1]
    shell.run("%%gemini --cached-content odd --dry-run\nQ")  # _recall reads the expiry too
    assert '"cachedContent": "cachedContents/' in shell.texts()[-1]


@pytest.mark.parametrize(("field", "value"), [("model", "models/gemini-2.5-flash\n"), ("name", "cachedContents/c1x\n")])
def test_a_trailing_newline_is_no_cache_name_or_model(
    shell: TestShell, gemini: GeminiTestServer, field: str, value: str
) -> None:
    service = gemini.responder = CachesService()
    service.add("nl", **{field: value})
    with pytest.raises(GeminiStreamError, match=r"cachedContents\[0\] has no cachedContents/ID name or models/"):
        shell.run("%gemini contexts")
