"""The ``%gemini`` line magic's subcommands: models, config, chats, chat, cache."""

from __future__ import annotations

import html
import shlex
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from ._options import Options
from ._sanitize import sanitize

if TYPE_CHECKING:
    from ._magics import GeminiMagic

__all__ = ["cache", "chat", "chats", "config", "models"]


def _show(bundle: dict[str, str]) -> None:
    from IPython.display import display

    display(bundle, raw=True)


def models(magic: GeminiMagic) -> None:
    from ._model_list import list_models, models_bundle

    found = list_models(magic.client, magic.settings(Options()))
    magic.namespace["_gemini_models"] = found
    _show(models_bundle(found))


def config(magic: GeminiMagic) -> None:
    """Effective settings and where each one came from; the key only described."""
    settings = magic.settings(Options(), need_key=False)
    rows = [
        ("model", settings.model, settings.sources["model"]),
        ("base_url", settings.base_url, settings.sources["base_url"]),
        ("api key", settings.masked_key(), settings.sources["api_key"]),
        ("auth", settings.auth, settings.sources["auth"]),
        ("timeout", f"{settings.timeout:g} s", settings.sources["timeout"]),
        ("max_retries", str(settings.max_retries), settings.sources["max_retries"]),
        ("cache", f"{magic.cache} ({magic.cache_dir})", "%config GeminiMagic.cache / --cache"),
        ("max_tool_rounds", str(magic.max_tool_rounds), "%config GeminiMagic.max_tool_rounds"),
        ("max_response", f"{settings.max_response_bytes / (1 << 20):g} MB", settings.sources["max_response_mb"]),
        ("remote_images", str(magic.remote_images), "%config GeminiMagic.remote_images"),
    ]
    body = "".join(
        f"<tr><td>{n}</td><td><code>{html.escape(v)}</code></td><td>{html.escape(s)}</td></tr>" for n, v, s in rows
    )
    _show(
        {
            "text/html": sanitize(
                f"<table><thead><tr><th>setting</th><th>value</th><th>from</th></tr></thead><tbody>{body}</tbody></table>"
            ),
            "text/plain": "\n".join(f"{n:<16} {v}  ({s})" for n, v, s in rows),
        }
    )


def chats(magic: GeminiMagic) -> None:
    if not magic.chats:
        _show({"text/plain": "No conversations yet: add --chat (or --chat NAME) to a %%gemini cell."})
        return
    lines = [f"{name}: {len(c.exchanges)} exchanges, {len(c.turns())} turns" for name, c in magic.chats.items()]
    _show({"text/plain": "\n".join(lines)})


def chat(magic: GeminiMagic, rest: str) -> None:
    words = shlex.split(rest)
    names = [w for w in words if not w.startswith("-")]
    flags = {w for w in words if w.startswith("-")} - {"--reset"}
    if len(names) != 1 or flags:
        raise UsageError("usage: %gemini chat NAME [--reset]")
    name = names[0]
    if name not in magic.chats:
        raise UsageError(f"no conversation named {name!r} (see %gemini chats)")
    if "--reset" in words:
        del magic.chats[name]
        _show({"text/plain": f"Conversation {name!r} cleared."})
        return
    _show(_transcript(magic.chats[name].turns()))


def _transcript(turns: list[dict[str, Any]]) -> dict[str, str]:
    from ._errors import printable
    from ._markdown import render_markdown, safe_markdown
    from ._parts import part_markdown

    blocks_md = []
    for turn in turns:
        pieces = [p["text"] for p in turn.get("parts", []) if "text" in p and not p.get("thought")]
        pieces += [part_markdown(p) for p in turn.get("parts", []) if "text" not in p]
        blocks_md.append(f"**{turn.get('role', 'user')}:** " + "\n\n".join(pieces))
    markdown = "\n\n---\n\n".join(blocks_md)
    return {
        "text/html": sanitize(f'<div class="gemini-magic">{render_markdown(markdown)}</div>'),
        "text/markdown": safe_markdown(markdown),
        "text/plain": printable(markdown),
    }


def cache(magic: GeminiMagic, rest: str) -> None:
    if rest.strip() != "clear":
        raise UsageError("usage: %gemini cache clear")
    from ._cache import ResponseCache

    removed = ResponseCache(magic.cache_dir).clear()
    _show({"text/plain": f"Removed {removed} cached responses from {magic.cache_dir}."})
