"""Function declarations from Python signatures, and running the calls the model asks for (``_tools``)."""

from __future__ import annotations

from typing import Literal, Optional

import pytest
from IPython.core.error import UsageError

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
