"""Prompt interpolation: ``{name}`` and ``{name.attr}`` from the notebook namespace.

Unlike ``str.format_map`` (which breaks on every brace of code or JSON in a prompt, jupyter-ai#27,
#967), only a brace pair holding a dotted identifier whose first name is *defined* is replaced.
Everything else — ``{"a": 1}``, ``{}``, ``{{name}}``, ``{undefined}`` — is sent as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from IPython.core.error import UsageError

__all__ = ["interpolate"]

# {name} or {name.attr.attr}; {{name}} is kept literally (templates often use it), see below.
_FIELD = re.compile(r"\{([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*)*)\}")


def interpolate(prompt: str, namespace: Mapping[str, Any]) -> str:
    """Replace ``{name}``/``{name.attr}`` whose ``name`` is defined; leave every other brace alone."""

    def replace(match: re.Match[str]) -> str:
        name, attrs = match.group(1), match.group(2)
        start, end = match.span()
        doubled = prompt[start - 1 : start] == "{" and prompt[end : end + 1] == "}"
        if doubled or name not in namespace:
            return match.group(0)
        value = namespace[name]
        try:
            for attr in attrs.split(".")[1:]:
                value = getattr(value, attr)
            return str(value)
        except Exception as exc:  # noqa: BLE001 - a failing property or __str__ is the user's to see, briefly
            raise UsageError(f"{match.group(0)} in the prompt: {_one_line(exc)}") from None

    return _FIELD.sub(replace, prompt)


def _one_line(exc: Exception) -> str:
    """``Type: message`` on one short line (a message may span lines or be huge)."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 200 else text[:199] + "…"
