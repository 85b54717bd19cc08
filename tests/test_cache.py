"""The response cache's key (``_cache``)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gemini_magic._cache import ResponseCache


def test_cache_key_ignores_stream_method_and_never_sees_the_key() -> None:
    body = {"contents": [{"parts": [{"text": "q"}]}]}
    stream = ResponseCache.key("https://h/v1beta/models/m:streamGenerateContent?alt=sse", body)
    plain = ResponseCache.key("https://h/v1beta/models/m:generateContent", body)
    assert stream == plain
    assert ResponseCache.key("https://h/v1beta/models/other:generateContent", body) != plain
    assert ResponseCache.key("https://h/v1beta/models/m:generateContent", {"contents": []}) != plain


def test_put_makes_the_folder_once_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "new" / "cache")
    answers = {f"{n:064x}": {"n": n, "text": "é" * n} for n in range(40)}

    def write(keys: list[str]) -> None:
        for key in keys:
            cache.put(key, answers[key])

    keys = sorted(answers)
    threads = [threading.Thread(target=write, args=(keys[n::4],)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(p.name for p in cache.folder.iterdir()) == [f"{key}.json" for key in keys]
    assert all(cache.get(key) == answers[key] for key in keys)
    cache.put(keys[0], {"n": "again"})  # replaced whole
    assert cache.get(keys[0]) == {"n": "again"} and len(list(cache.folder.iterdir())) == 40


def test_a_folder_that_cannot_be_made_is_one_line_and_nothing_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("x")
    ResponseCache(tmp_path / "file" / "cache").put("k" * 64, {"a": 1})
    err = capsys.readouterr().err
    assert err.startswith("gemini-magic: answer not cached in ") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
