"""One cell's request, assembled: the user turn with attachments, chat history, tools, schema.

Kept out of the magic so ``%%gemini`` stays glue: everything that reads the notebook namespace to
build the request body lives here, checked (sizes, names) before anything is sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from IPython.core.error import UsageError

from ._attach import attachment_parts, check_size
from ._options import Options
from ._request import build_body, user_turn

__all__ = ["Prepared", "prepare", "show_dry_run"]


@dataclass(frozen=True)
class Prepared:
    user: dict[str, Any]  # this cell's turn: attachments, then the prompt
    body: dict[str, Any]  # the whole request body, history included
    tools: dict[str, Callable[..., Any]]  # the functions offered, by name


def prepare(options: Options, prompt: str, namespace: dict[str, Any], history: list[dict[str, Any]]) -> Prepared:
    """Build and check the request for one cell."""
    user = user_turn(prompt, attachment_parts(options.attach, namespace))
    tools: dict[str, Callable[..., Any]] = {}
    functions = None
    if options.tools:
        from ._tools import declaration, resolve_tools

        tools = resolve_tools(options.tools, namespace)
        functions = [declaration(name, func) for name, func in tools.items()]
    body = build_body(options, [*history, user], _schema(options, namespace), functions)
    check_size(len(json.dumps(body, ensure_ascii=False).encode()))
    return Prepared(user, body, tools)


def _schema(options: Options, namespace: dict[str, Any]) -> dict[str, Any] | None:
    """Look up ``--schema VAR``: a JSON Schema dict, or a class with ``model_json_schema()``."""
    if options.schema is None:
        return None
    name, *attrs = options.schema.split(".")
    if name not in namespace:
        raise UsageError(f"--schema: no variable named {name!r} in the notebook")
    value = namespace[name]
    for attr in attrs:
        value = getattr(value, attr, None)
    if hasattr(value, "model_json_schema"):
        value = value.model_json_schema()
    if not isinstance(value, dict):
        raise UsageError(f"--schema: {options.schema} is a {type(value).__name__}, expected a JSON Schema dict")
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--schema: {options.schema} is not JSON-serialisable ({exc})") from None
    return value


def _shorten(value: Any) -> Any:
    """Long base64 (inline data, thought signatures) as a size, so a dry run stays readable."""
    if isinstance(value, dict):
        return {
            k: (
                f"<{len(v):,} characters of base64>"
                if k in ("data", "thoughtSignature") and len(v) > 80
                else _shorten(v)
            )
            if isinstance(v, str)
            else _shorten(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_shorten(v) for v in value]
    return value


def show_dry_run(url: str, auth_header: str, masked: str, body: dict[str, Any], note: str = "") -> None:
    """What would be sent; the key is replaced by a description of it."""
    from IPython.display import display

    from ._markdown import fenced

    lines = [
        f"POST {url}",
        "Content-Type: application/json",
        f"{auth_header}: {masked}",
        "",
        json.dumps(_shorten(body), indent=2, ensure_ascii=False),
        *([f"\n({note})"] if note else []),
    ]
    text = "\n".join(lines)
    display({"text/plain": text, "text/markdown": fenced(text, "http")}, raw=True)
