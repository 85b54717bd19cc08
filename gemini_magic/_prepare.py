"""One call, assembled: the frozen :class:`Call` that every later stage reads.

Everything that reads the notebook namespace to build a request lives here: the user turn with its
attachments, the chat history, tools, the schema, the URL and the settings. It is all checked (sizes,
names, no API key inside the body) before anything is sent, and then passed on as one object, so
the exchange, the call and the display read the same options instead of copies of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from ._attach import MAX_REQUEST_BYTES, Uploader, attachment_parts, check_size
from ._cache import ResponseCache
from ._options import Options
from ._request import build_body, endpoint, user_turn
from ._settings import Settings

if TYPE_CHECKING:
    from ._client import GeminiClient

__all__ = ["Call", "prepare", "resolve"]


@dataclass(frozen=True)
class Call:
    """Everything one ``%%gemini`` (or :func:`gemini_magic.generate`) call asks for."""

    options: Options  # the validated options: what to ask, and how to show the answer
    settings: Settings  # where to send it, resolved from option > %config > environment > default
    user: dict[str, Any]  # this call's turn: attachments, then the prompt
    history: list[dict[str, Any]] = field(default_factory=list)  # earlier turns of a --chat
    config: dict[str, Any] = field(default_factory=dict)  # the request body without its contents
    tools: Mapping[str, Callable[..., Any]] = field(default_factory=dict)  # the functions offered, by name

    @property
    def url(self) -> str:
        """``…:streamGenerateContent?alt=sse`` (or ``:generateContent`` with ``--no-stream``) on the host."""
        return endpoint(self.settings.base_url, self.settings.model, stream=self.options.stream)

    @property
    def cache(self) -> ResponseCache | None:
        """The on-disk cache when ``--cache`` / ``GeminiMagic.cache`` is on."""
        return ResponseCache(self.settings.cache_dir) if self.settings.cache else None

    def body(self, turns: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The request body: the history, then *turns* (this call's user turn by default)."""
        return {**self.config, "contents": [*self.history, *(turns or [self.user])]}


def prepare(
    options: Options,
    prompt: str,
    namespace: Mapping[str, Any],
    history: list[dict[str, Any]],
    settings: Settings,
    client: GeminiClient | None = None,
) -> Call:
    """Build and check the request for one call (*client* looks up a ``--cached-content`` short name,
    and uploads through the Files API the attachments too big to go inline, and video)."""
    if options.cached_content:  # its final name, and the cache's model unless the cell names one
        from ._caches import use_cache

        options, settings = use_cache(options, settings, client)
    room = MAX_REQUEST_BYTES - len(json.dumps(build_body(options, [*history, user_turn(prompt, [])])).encode())
    upload = _uploader(options, settings, client) if options.attach else None
    user = user_turn(prompt, attachment_parts(options.attach, namespace, room=room, upload=upload))
    tools: dict[str, Callable[..., Any]] = {}
    functions = None
    if options.tools:
        from ._tools import declaration, resolve_tools

        tools = resolve_tools(options.tools, namespace)
        functions = [declaration(name, func) for name, func in tools.items()]
    body = build_body(options, [*history, user], _schema(options, namespace), functions)
    encoded = json.dumps(body, ensure_ascii=False)
    check_size(len(encoded.encode()))
    if len(settings.api_key) >= 16 and settings.api_key in encoded:
        # e.g. --attach .env or {os.environ}: it would be sent, kept in _gemini.request and cached
        # (a shorter "key", say for a local proxy, would match ordinary words)
        raise UsageError("the request holds your API key (from an attachment or the prompt); nothing was sent")
    config = {k: v for k, v in body.items() if k != "contents"}
    return Call(options, settings, user, list(history), config, tools)


def _uploader(options: Options, settings: Settings, client: GeminiClient | None) -> Uploader:
    """Files API uploads: none in a dry run (a placeholder names what would go), else on the
    host's client (a caller that passes none gets the loaded magic's: the same pooled session),
    with the progress bar of the call's view kind (:func:`._uploads.progress_view`)."""
    if options.dry_run:
        return lambda media: {"fileData": {"mimeType": media.mime, "fileUri": _PENDING.format(m=media)}}
    from ._uploads import current_view, uploader

    if client is None:
        from ._api import _magic

        client = _magic().client
    return uploader(client, settings, current_view())


_PENDING = "(uploaded through the Files API when sent: {m.label}, {m.size:,} bytes)"


def resolve(namespace: Mapping[str, Any], dotted: str, option: str) -> Any:
    """The notebook value *dotted* names (``df`` or ``data.frame``); a missing one is a one-line error."""
    name, *attrs = dotted.split(".")
    if name not in namespace:
        raise UsageError(f"{option}: no variable named {name!r} in the notebook")
    value = namespace[name]
    for attr in attrs:
        if not hasattr(value, attr):
            raise UsageError(f"{option}: {name} has no attribute {attr!r}")
        value = getattr(value, attr)
    return value


def _schema(options: Options, namespace: Mapping[str, Any]) -> dict[str, Any] | None:
    """Look up ``--schema VAR``: a JSON Schema dict, or a class with ``model_json_schema()``."""
    if options.schema is None:
        return None
    value = resolve(namespace, options.schema, "--schema")
    if hasattr(value, "model_json_schema"):
        value = value.model_json_schema()
    if not isinstance(value, dict):
        raise UsageError(f"--schema: {options.schema} is a {type(value).__name__}, expected a JSON Schema dict")
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--schema: {options.schema} is not JSON-serialisable ({exc})") from None
    return value
