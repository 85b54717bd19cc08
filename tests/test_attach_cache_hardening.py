"""Local files and the cache: only regular files are read, never past a cap, and a broken cache
never costs the answer (issue 8, item 7)."""

from __future__ import annotations

import json
import os
import resource
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FAKE_KEY, Kernel, displays
from gemini_server import GeminiTestServer, sse, text_events
from IPython.core.error import UsageError

from gemini_magic._attach import _TEXT_LIMIT, attachment_parts
from gemini_magic._cache import ResponseCache

RESPONSE = {"candidates": [{"content": {"parts": [{"text": "ok"}], "role": "model"}, "finishReason": "STOP"}]}


@pytest.fixture
def specials(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """A FIFO, a listening Unix socket, symlinks to a device and to the FIFO, and a folder."""
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock.txt"))
    sock.listen()
    (tmp_path / "zero.txt").symlink_to("/dev/zero")
    (tmp_path / "to-pipe.txt").symlink_to(fifo)
    (tmp_path / "folder.txt").mkdir()
    yield {p.name: p for p in tmp_path.iterdir()}
    sock.close()


def _refusal(name: str, namespace: dict[str, object] | None = None) -> str:
    with pytest.raises(UsageError) as caught:
        attachment_parts((name,), namespace or {})
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.timeout(30)
def test_attach_refuses_what_is_not_a_regular_file(specials: dict[str, Path]) -> None:
    assert _refusal("/dev/zero").endswith("is not a regular file (a device, pipe or socket)")
    for name in ("pipe.txt", "zero.txt", "to-pipe.txt"):
        assert _refusal(str(specials[name])).endswith("is not a regular file (a device, pipe or socket)"), name
    assert _refusal(str(specials["sock.txt"])).endswith("No such device or address")
    assert _refusal(str(specials["folder.txt"])).endswith("is a directory, not a file")
    # A pathlib.Path in the notebook went straight to read_text: a FIFO hung the cell.
    assert "not a regular file" in _refusal("p", {"p": specials["to-pipe.txt"]})
    assert _refusal("q", {"q": specials["folder.txt"].parent / "gone.txt"}).endswith(
        "no file at " + str(specials["folder.txt"].parent / "gone.txt")
    )


def test_procfs_is_refused_because_its_size_lies() -> None:
    """/proc/self/environ says 0 bytes and holds the environment, API key included."""
    assert os.stat("/proc/self/environ").st_size == 0
    assert "kernel pseudo-file" in _refusal("/proc/self/environ")
    from gemini_magic._attach import read_regular

    with pytest.raises(ValueError, match="kernel pseudo-file"):
        read_regular("/proc/self/status", 1 << 20)


def test_read_regular_caps_what_it_reads(tmp_path: Path) -> None:
    from gemini_magic._attach import read_regular

    text = tmp_path / "notes.txt"
    text.write_bytes(b"a\r\nb")
    assert attachment_parts((str(text),), {}) == [{"text": "File `notes.txt`:\n\n```txt\na\nb\n```"}]
    with text.open("r+b") as handle:
        handle.truncate(_TEXT_LIMIT + 1)  # sparse: costs no disk
    assert _refusal(str(text)).endswith("is over the 2 MB limit")
    assert read_regular(tmp_path / "notes.txt", _TEXT_LIMIT + 1)[:4] == b"a\r\nb"


# --------------------------------------------------------------------------------------------
# The cache, in process


def _entry(cache: ResponseCache) -> Path:
    return cache.folder / f"{cache.key('https://h/v1beta/models/m:generateContent', {'q': 1})}.json"


def _get(cache: ResponseCache) -> dict[str, object] | None:
    return cache.get(cache.key("https://h/v1beta/models/m:generateContent", {"q": 1}))


@pytest.mark.timeout(30)
def test_bad_cache_entries_are_misses_with_one_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gemini_magic._cache import MAX_ENTRY_BYTES

    cache = ResponseCache(tmp_path)
    entry = _entry(cache)
    cases = {
        "not JSON": lambda: entry.write_text("{not json"),
        "a list": lambda: entry.write_text("[1, 2]"),
        "too deep": lambda: entry.write_text("[" * 100_000),
        "a FIFO": lambda: os.mkfifo(entry),  # read_text() waited for a writer forever
        "a device": lambda: entry.symlink_to("/dev/null"),
        "a folder": lambda: entry.mkdir(),
        "over the cap": lambda: (entry.touch(), os.truncate(entry, MAX_ENTRY_BYTES + 1)),
    }
    reasons = {}
    for case, make in cases.items():
        make()
        assert _get(cache) is None, case
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"gemini-magic: cache entry {entry}: "), (case, err)
        assert err.endswith("; treated as a miss\n"), err
        reasons[case] = err.split(": ")[-1]
        entry.rmdir() if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    assert reasons["not JSON"] == reasons["too deep"] == "is not valid JSON; treated as a miss\n"
    assert reasons["a list"].startswith("is not a JSON object")
    assert (
        reasons["a FIFO"]
        == reasons["a device"]
        == "is not a regular file (a device, pipe or socket); treated as a miss\n"
    )
    assert reasons["over the cap"].startswith("is over the 64 MB limit")
    assert _get(cache) is None and capsys.readouterr().err == ""  # plain absence is silent
    cache.put(entry.stem, RESPONSE)
    assert _get(cache) == RESPONSE


def test_unwritable_folder_and_full_disk_warn_and_leave_no_temp(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("a file where the folder's parent should be")
    ResponseCache(tmp_path / "file" / "cache").put("k", RESPONSE)
    err = capsys.readouterr().err
    assert err == f"gemini-magic: answer not cached in {tmp_path / 'file' / 'cache'}: Not a directory\n"
    # A full disk, as the kernel reports a write past RLIMIT_FSIZE (EFBIG; ENOSPC takes the same path).
    cache = ResponseCache(tmp_path / "cache")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        cache.put("k", {"text": "x" * 10_000})
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert capsys.readouterr().err == f"gemini-magic: answer not cached in {cache.folder}: File too large\n"
    assert list(cache.folder.iterdir()) == []  # no .tmp left behind, no entry


def test_clear_removes_regular_entries_only(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)
    cache.put("a", RESPONSE)
    (tmp_path / "b.json").mkdir()
    os.mkfifo(tmp_path / "c.json")
    (tmp_path / "d.json").symlink_to("/dev/null")
    assert cache.clear() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "c.json", "d.json"]


# --------------------------------------------------------------------------------------------
# In a kernel


def test_kernel_attach_of_procfs_and_of_the_key_sends_nothing(
    kernel: Kernel, gemini: GeminiTestServer, tmp_path: Path
) -> None:
    assert "kernel pseudo-file" in kernel.usage_error("%%gemini --attach /proc/self/environ\nWhat is set?")
    dotenv = tmp_path / "settings.env"
    dotenv.write_text(f"GEMINI_API_KEY={FAKE_KEY}\n")
    for cell in (f"%%gemini --attach {dotenv}\nIs this right?", f"%%gemini --attach {dotenv} --dry-run\nx"):
        message = kernel.usage_error(cell)
        assert "holds your API key" in message and FAKE_KEY not in message
    kernel.run("import os\nsettings = dict(os.environ)")
    assert "holds your API key" in kernel.usage_error("%%gemini\nExplain {settings}")
    assert gemini.requests == []
    assert FAKE_KEY not in kernel.saved()


def test_kernel_broken_cache_still_shows_the_answer(kernel: Kernel, gemini: GeminiTestServer, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    kernel.run(f"%config GeminiMagic.cache_dir = {str(tmp_path / 'file' / 'cache')!r}")
    try:
        gemini.push(sse(text_events(["Still ", "shown."])))
        outputs = kernel.run("%%gemini --cache\nQ")
        assert kernel.reply["status"] == "ok", outputs
        assert "Still shown." in displays(outputs)[0]["data"]["text/plain"]
        assert "".join(o["text"] for o in outputs if o["output_type"] == "stream") == (
            f"gemini-magic: answer not cached in {tmp_path / 'file' / 'cache'}: Not a directory\n"
        )
        # A corrupt entry: asked again, with one line saying why.
        kernel.run(f"%config GeminiMagic.cache_dir = {str(tmp_path / 'cache')!r}")
        gemini.push(sse(text_events(["First."])), sse(text_events(["Second."])))
        kernel.run("%%gemini --cache\nQ")
        (entry,) = (tmp_path / "cache").glob("*.json")
        entry.write_text('{"candidates": [')
        outputs = kernel.run("%%gemini --cache\nQ")
        assert len(gemini.requests) == 3 and "Second." in displays(outputs)[0]["data"]["text/plain"]
        warnings = "".join(o["text"] for o in outputs if o["output_type"] == "stream")  # one line, however sent
        assert warnings == f"gemini-magic: cache entry {entry}: is not valid JSON; treated as a miss\n"
        assert json.loads(entry.read_text())["candidates"][0]["content"]["parts"][0]["text"] == "Second."
        assert [p.name for p in (tmp_path / "cache").iterdir()] == [entry.name]
    finally:
        kernel.run("%config GeminiMagic.cache_dir = '.gemini-cache'")
