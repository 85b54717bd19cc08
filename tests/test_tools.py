"""Function declarations from Python signatures; conversations; the cache key."""

from __future__ import annotations

from typing import Literal, Optional

import pytest
from IPython.core.error import UsageError

from gemini_magic._cache import ResponseCache
from gemini_magic._conversation import Conversation
from gemini_magic._tools import declaration, resolve_tools, run_calls


def search(
    query: str, limit: int = 5, tags: list[str] | None = None, exact: bool = False, *args: int, **kw: str
) -> list[dict]:
    """Search the catalogue.

    Longer explanation that is not the summary.

    Args:
        query (str): What to look for.
        limit: How many results.
    """
    return []


def untyped(a, b=2):
    return a


def legacy(x: Optional[float], mode: Literal["fast", "slow"] = "fast") -> None:  # noqa: UP045
    pass


def test_declaration_types_docs_and_required() -> None:
    assert declaration("search", search) == {
        "name": "search",
        "description": "Search the catalogue.",
        "parametersJsonSchema": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for."},
                "limit": {"type": "integer", "description": "How many results."},
                "tags": {"type": "array", "items": {"type": "string"}, "nullable": True},
                "exact": {"type": "boolean"},
            },
            "required": ["query"],
        },
    }
    assert declaration("untyped", untyped)["parametersJsonSchema"] == {
        "type": "object",
        "properties": {"a": {}, "b": {}},
        "required": ["a"],
    }
    props = declaration("legacy", legacy)["parametersJsonSchema"]["properties"]
    assert props == {"x": {"type": "number", "nullable": True}, "mode": {"enum": ["fast", "slow"]}}


def test_resolve_and_run() -> None:
    namespace = {"search": search, "n": 3}
    assert list(resolve_tools("search, ", namespace)) == ["search"]
    with pytest.raises(UsageError, match="n is a int, not a function"):
        resolve_tools("n", namespace)
    replies = run_calls(
        [{"name": "search", "args": {"query": "x"}, "id": "c1"}, {"name": "ghost", "args": {}}],
        {"search": search},
    )
    assert replies == [
        {"functionResponse": {"name": "search", "response": {"result": []}, "id": "c1"}},
        {"functionResponse": {"name": "ghost", "response": {"error": "no function named 'ghost' was offered"}}},
    ]
    assert run_calls([{"name": "s", "args": {}}], {"s": lambda: object()})[0]["functionResponse"]["response"][
        "result"
    ].startswith("<object object")


def test_conversation_history_and_replacement() -> None:
    chat = Conversation("c")
    chat.record("a", [{"role": "user", "parts": [{"text": "1"}]}, {"role": "model", "parts": [{"text": "one"}]}])
    chat.record("b", [{"role": "user", "parts": [{"text": "2"}]}])
    assert [t["parts"][0]["text"] for t in chat.history("b")] == ["1", "one"]
    assert [t["parts"][0]["text"] for t in chat.history("new")] == ["1", "one", "2"]
    chat.record("a", [{"role": "user", "parts": [{"text": "1'"}]}])
    assert [t["parts"][0]["text"] for t in chat.turns()] == ["1'", "2"]
    history = chat.history("new")
    history[0]["parts"][0]["text"] = "mutated"
    assert chat.turns()[0]["parts"][0]["text"] == "1'"  # stored turns are copies


def test_cache_key_ignores_stream_method_and_never_sees_the_key() -> None:
    body = {"contents": [{"parts": [{"text": "q"}]}]}
    stream = ResponseCache.key("https://h/v1beta/models/m:streamGenerateContent?alt=sse", body)
    plain = ResponseCache.key("https://h/v1beta/models/m:generateContent", body)
    assert stream == plain
    assert ResponseCache.key("https://h/v1beta/models/other:generateContent", body) != plain
    assert ResponseCache.key("https://h/v1beta/models/m:generateContent", {"contents": []}) != plain


def test_sources_for_maps_files_url_context_and_recitation() -> None:
    from conftest import assert_inert

    from gemini_magic._citations import sources_html, sources_markdown

    candidate = {
        "groundingMetadata": {
            "groundingChunks": [
                {"maps": {"uri": "https://maps.google.com/?cid=1", "title": "Café Olé", "placeId": "p1"}},
                {
                    "retrievedContext": {
                        "title": "handbook.pdf",
                        "uri": "gs://bucket/handbook.pdf",
                        "text": "Rule  one.",
                    }
                },
            ]
        },
        "urlContextMetadata": {
            "urlMetadata": [
                {"retrievedUrl": "https://a.example/x", "urlRetrievalStatus": "URL_RETRIEVAL_STATUS_PAYWALL"}
            ]
        },
        "citationMetadata": {
            "citationSources": [{"uri": "https://code.example/repo", "license": "MIT"}, {"startIndex": 3}]
        },
    }
    page = sources_html(candidate)
    assert_inert(page)
    assert (
        '<a href="https://maps.google.com/?cid=1" target="_blank" rel="noopener noreferrer nofollow">Café Olé</a>'
        in page
    )
    assert "handbook.pdf" in page and 'href="gs://' not in page and "Rule one." in page
    assert "PAYWALL" in page and "https://a.example/x" in page
    assert "MIT" in page and "(no link)" in page
    assert (
        sources_markdown(candidate) == "**Sources**\n\n1. [Café Olé](https://maps.google.com/?cid=1)\n2. handbook.pdf"
    )
