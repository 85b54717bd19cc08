"""The response cache's key (``_cache``)."""

from __future__ import annotations

from gemini_magic._cache import ResponseCache


def test_cache_key_ignores_stream_method_and_never_sees_the_key() -> None:
    body = {"contents": [{"parts": [{"text": "q"}]}]}
    stream = ResponseCache.key("https://h/v1beta/models/m:streamGenerateContent?alt=sse", body)
    plain = ResponseCache.key("https://h/v1beta/models/m:generateContent", body)
    assert stream == plain
    assert ResponseCache.key("https://h/v1beta/models/other:generateContent", body) != plain
    assert ResponseCache.key("https://h/v1beta/models/m:generateContent", {"contents": []}) != plain
