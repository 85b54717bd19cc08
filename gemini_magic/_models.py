"""``%gemini models``: every model that can generate content, across all pages of the list.

``GET /v1beta/models`` pages with ``nextPageToken``; embedding, Imagen (``predict``) and Veo
models share the list, so only models whose ``supportedGenerationMethods`` include
``generateContent`` are kept (``streamGenerateContent`` is never listed, though they all stream).
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlencode

from ._client import GeminiClient
from ._settings import Settings

__all__ = ["list_models", "models_bundle"]

MAX_PAGES = 50


def list_models(client: GeminiClient, settings: Settings, *, page_size: int = 1000) -> list[dict[str, Any]]:
    models: list[dict[str, Any]] = []
    token = ""
    for _ in range(MAX_PAGES):
        query = {"pageSize": page_size, **({"pageToken": token} if token else {})}
        page = client.get(f"{settings.base_url}/v1beta/models?{urlencode(query)}", settings)
        models.extend(m for m in page.get("models") or [] if isinstance(m, dict))
        token = page.get("nextPageToken") or ""
        if not token:
            break
    return [m for m in models if "generateContent" in (m.get("supportedGenerationMethods") or [])]


def models_bundle(models: list[dict[str, Any]]) -> dict[str, str]:
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
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    head = "".join(f"<th>{h}</th>" for h in header)
    width = max((len(r[0]) for r in rows), default=10)
    text = "\n".join(f"{r[0]:<{width}}  {r[2]:>10}  {r[3]:>8}  {r[4]}" for r in rows)
    return {
        "text/html": f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table><p><small>{len(rows)} models</small></p>",
        "text/plain": f"{text}\n{len(rows)} models",
    }
