"""``%gemini models``: every model that can generate content, across all pages of the list.

``GET /v1beta/models`` pages with ``nextPageToken``; embedding, Imagen (``predict``) and Veo
models share the list, so only models whose ``supportedGenerationMethods`` include
``generateContent`` are kept (``streamGenerateContent`` is never listed, though they all stream).
Every field the table reads is type-checked first: a page of the wrong shape is a
``GeminiStreamError`` naming the field, not a ``TypeError`` from deep in the formatting.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from ._bundles import Bundle, table_bundle
from ._client import GeminiClient, _kind
from ._errors import GeminiStreamError
from ._settings import Settings

__all__ = ["list_models", "models_bundle"]

MAX_PAGES = 50


# What each field the table reads must be, checked before it is read.
_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "name": ((str,), "a string"),
    "displayName": ((str,), "a string"),
    "inputTokenLimit": ((int,), "a whole number"),
    "outputTokenLimit": ((int,), "a whole number"),
    "thinking": ((bool,), "true or false"),
    "supportedGenerationMethods": ((list,), "a list of strings"),
}


def list_models(client: GeminiClient, settings: Settings, *, page_size: int = 1000) -> list[dict[str, Any]]:
    """Every page of ``/v1beta/models``; only the models that can ``generateContent``."""
    models: list[dict[str, Any]] = []
    token = ""
    for _ in range(MAX_PAGES):
        query = {"pageSize": page_size, **({"pageToken": token} if token else {})}
        page = client.get(f"{settings.base_url}/v1beta/models?{urlencode(query)}", settings)
        listed = _field(page, "models", (list,), "a list", [])
        models += [_model(m, f"models[{len(models) + i}]") for i, m in enumerate(listed)]
        token = _field(page, "nextPageToken", (str,), "a string", "")
        if not token:
            break
    return [m for m in models if "generateContent" in m.get("supportedGenerationMethods", [])]


def _model(model: Any, where: str) -> dict[str, Any]:
    if not isinstance(model, dict):
        raise GeminiStreamError(f"the model list has {_kind(model)} at {where}, where a model object belongs")
    for name, (types, expected) in _FIELDS.items():
        _field(model, name, types, expected, None, where=f"{where}.")
    cleaned: dict[str, Any] = {str(k): v for k, v in model.items() if v is not None}  # null reads as absent
    if any(not isinstance(m, str) for m in cleaned.get("supportedGenerationMethods", [])):
        raise GeminiStreamError(
            f"the model list has a {where}.supportedGenerationMethods that is not a list of strings"
        )
    return cleaned


def _field(
    obj: dict[str, Any], name: str, types: tuple[type, ...], expected: str, default: Any, where: str = ""
) -> Any:
    """``obj[name]`` if it is one of *types* (a bool is not a number); *default* when absent or null."""
    value = obj.get(name)
    if value is None:
        return default
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise GeminiStreamError(f"the model list has {where}{name} as {_kind(value)}; expected {expected}")
    return value


def models_bundle(models: list[dict[str, Any]]) -> Bundle:
    """A table (HTML and text): name, display name, input/output token limits, thinking."""
    rows = [
        (
            str(m.get("name", "")).removeprefix("models/"),
            str(m.get("displayName", "")),
            f"{m.get('inputTokenLimit', 0):,}",
            f"{m.get('outputTokenLimit', 0):,}",
            "yes" if m.get("thinking") else "—",
        )
        for m in models
    ]
    header = ("model", "name", "input tokens", "output tokens", "thinking")
    return table_bundle(header, rows, f"{len(rows)} models")
