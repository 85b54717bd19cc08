"""The ``%gemini`` line magic's subcommands: models, config, chats, chat, cache.

Each builds its output with :mod:`._bundles` and shows it with :func:`._display.show`.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from IPython.core.error import UsageError

from ._bundles import table_bundle, text_bundle, transcript_bundle
from ._display import show
from ._options import Options

if TYPE_CHECKING:
    from ._magics import GeminiMagic

__all__ = ["cache", "chat", "chats", "config", "models"]


def models(magic: GeminiMagic) -> None:
    """Every model that can generate content (also kept in ``_gemini_models``)."""
    from ._model_list import list_models, models_bundle

    found = list_models(magic.client, magic.settings(Options()))
    magic.namespace["_gemini_models"] = found
    show(models_bundle(found))


def config(magic: GeminiMagic) -> None:
    """Effective settings and where each one came from; the key only described."""
    settings = magic.settings(Options(), need_key=False)
    shown = {
        "model": settings.model,
        "base_url": settings.base_url,
        "api_key": settings.masked_key(),
        "auth": settings.auth,
        "timeout": f"{settings.timeout:g} s",
        "max_retries": str(settings.max_retries),
        "max_response_mb": f"{settings.max_response_bytes / (1 << 20):g} MB",
        "cache": str(settings.cache),
        "cache_dir": settings.cache_dir,
        "max_tool_rounds": str(settings.max_tool_rounds),
        "remote_images": str(settings.remote_images),
    }
    rows = [(name, value, settings.sources[name]) for name, value in shown.items()]
    show(table_bundle(("setting", "value", "from"), rows))


def chats(magic: GeminiMagic) -> None:
    """The conversations of this session, with their sizes."""
    if not magic.chats:
        show(text_bundle("No conversations yet: add --chat (or --chat NAME) to a %%gemini cell."))
        return
    lines = [f"{name}: {len(c.exchanges)} exchanges, {len(c.turns())} turns" for name, c in magic.chats.items()]
    show(text_bundle("\n".join(lines)))


def chat(magic: GeminiMagic, rest: str) -> None:
    """``%gemini chat NAME``: the transcript; ``--reset`` forgets it."""
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
        show(text_bundle(f"Conversation {name!r} cleared."))
        return
    show(transcript_bundle(magic.chats[name].turns()))


def cache(magic: GeminiMagic, rest: str) -> None:
    """``%gemini cache clear``: empty the response cache."""
    if rest.strip() != "clear":
        raise UsageError("usage: %gemini cache clear")
    from ._cache import ResponseCache

    folder = magic.settings(Options(), need_key=False).cache_dir
    removed = ResponseCache(folder).clear()
    show(text_bundle(f"Removed {removed} cached responses from {folder}."))
