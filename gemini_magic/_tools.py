"""``--tools f,g``: Python functions as Gemini function declarations, and running their calls.

A declaration is built from the function's signature, type hints and docstring (first paragraph
as the description, ``Args:``/``:param x:`` lines as parameter descriptions), as a
``parametersJsonSchema``. With ``--run-tools`` the magic calls the functions the model asks for
and sends their results back as ``functionResponse`` parts; an exception is sent back as an error
so the model can react, and shown to the user.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from IPython.core.error import UsageError

from ._errors import GeminiStreamError

__all__ = ["declaration", "resolve_tools", "run_calls"]

_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object", list: "array"}


def resolve_tools(spec: str, namespace: Mapping[str, Any]) -> dict[str, Callable[..., Any]]:
    """``"f,g"`` → the functions of those names in the notebook."""
    tools: dict[str, Callable[..., Any]] = {}
    for name in (n.strip() for n in spec.split(",")):
        if not name:
            continue
        if name not in namespace:
            raise UsageError(f"--tools: no function named {name!r} in the notebook")
        if not callable(namespace[name]):
            raise UsageError(f"--tools: {name} is a {type(namespace[name]).__name__}, not a function")
        tools[name] = namespace[name]
    if not tools:
        raise UsageError("--tools: name at least one function, e.g. --tools get_weather,convert")
    return tools


def declaration(name: str, func: Callable[..., Any]) -> dict[str, Any]:
    """A ``functionDeclarations`` entry for *func*."""
    doc = inspect.getdoc(func) or ""
    described = _param_docs(doc)
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # noqa: BLE001 - unresolvable annotations just mean "no type"
        hints = {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        schema = _schema(hints.get(param.name, param.annotation))
        if param.name in described:
            schema["description"] = described[param.name]
        if param.default is param.empty:
            required.append(param.name)
        properties[param.name] = schema
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    result: dict[str, Any] = {"name": name, "parametersJsonSchema": parameters}
    summary = doc.split("\n\n", 1)[0].strip()
    if summary:
        result["description"] = " ".join(summary.split())
    return result


def _schema(hint: Any) -> dict[str, Any]:
    if hint is inspect.Parameter.empty or hint is Any:
        return {}
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        inner = _schema(options[0]) if len(options) == 1 else {"anyOf": [_schema(a) for a in options]}
        return {**inner, "nullable": True} if len(options) < len(args) else inner
    if origin in (list, tuple, set, frozenset):
        return {"type": "array", "items": _schema(args[0]) if args else {}}
    if origin is dict:
        return {"type": "object"}
    if hint in _SIMPLE:
        return {"type": _SIMPLE[hint]}
    return {}


def _param_docs(doc: str) -> dict[str, str]:
    """Parameter descriptions from Google-style ``Args:`` or Sphinx ``:param x:`` lines."""
    found = dict(re.findall(r":param\s+(?:\w+\s+)?(\w+):\s*(.+)", doc))
    section = re.search(r"^(?:Args|Arguments|Parameters):\s*\n((?:[ \t]+.+\n?)+)", doc, re.MULTILINE)
    if section:
        for match in re.finditer(r"^[ \t]+(\w+)(?:\s*\([^)]*\))?:\s*(.+)$", section.group(1), re.MULTILINE):
            found.setdefault(match.group(1), match.group(2).strip())
    return found


def run_calls(calls: list[dict[str, Any]], tools: Mapping[str, Callable[..., Any]]) -> list[dict[str, Any]]:
    """Run each ``functionCall``; return the ``functionResponse`` parts to send back, in order.

    Raises ``GeminiStreamError`` when a call's name is not a string: no answer could name it.
    """
    for call in calls:  # checked first, so none runs when the answer cannot be sent
        if not isinstance(call.get("name", ""), str):
            kind = type(call["name"]).__name__
            raise GeminiStreamError(f"malformed response: a functionCall name is a {kind}, expected a string")
    parts = []
    for call in calls:
        name = call.get("name", "")
        args = call.get("args") or {}
        func = tools.get(name)
        if func is None:
            response: dict[str, Any] = {"error": f"no function named {name!r} was offered"}
        elif not isinstance(args, dict):
            response = {"error": f"the arguments must be a JSON object, not a {type(args).__name__}"}
        else:
            try:
                response = {"result": _jsonable(func(**args))}
            except Exception as exc:  # noqa: BLE001 - the model is told, and can recover
                response = {"error": f"{type(exc).__name__}: {exc}"}
        reply: dict[str, Any] = {"name": name, "response": response}
        if call.get("id"):
            reply["id"] = call["id"]
        parts.append({"functionResponse": reply})
    return parts


def _jsonable(value: Any) -> Any:
    import json

    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)
