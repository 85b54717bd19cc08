"""Context caches (``cachedContents``): make, list and delete them, and find one by a short name.

The API names a cache ``cachedContents/4d7w1hx9jq2m``; people remember "lecture". So
``%gemini context create lecture --attach big.pdf`` sets the cache's ``displayName`` (refusing a
name already in use, so a name means one cache), and ``--cached-content lecture`` finds the id
through the list (all pages). What was found is kept per client — one per magic, so per kernel
session — with the cache's expiry: an expired entry is looked up again instead of being sent stale,
and nothing outlives the session. A ``--dry-run`` sends nothing, so it uses only what is kept.

A request must use the cache's model (shared/wire-media.md §3): when the cell names no model with
``-m``, the cache's own is used, so ``%%gemini --cached-content lecture`` works whatever the
default model is.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlencode
from weakref import WeakKeyDictionary

from IPython.core.error import UsageError

from ._call import _one_line_errors
from ._errors import GeminiAPIError, GeminiStreamError
from ._options import Options, split_line
from ._shapes import _check

if TYPE_CHECKING:
    from ._bundles import Bundle
    from ._client import GeminiClient
    from ._magics import GeminiMagic
    from ._settings import Settings

__all__ = ["contexts_command", "expires_text", "list_caches", "parse_ttl", "resolve_cached_content", "use_cache"]

PREFIX = "cachedContents/"
MAX_PAGES = 50
_CACHE = {"name": str, "displayName": str, "model": str, "expireTime": str, "usageMetadata": {"totalTokenCount": int}}
_PAGE = {"cachedContents": [_CACHE], "nextPageToken": str}
_ID = re.compile(r"^cachedContents/[\w-]{1,128}\Z")  # \Z: "$" would let a trailing newline in
_MODEL = re.compile(r"^(models|tunedModels)/[A-Za-z0-9][\w.-]*\Z")
_TTL = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?$")
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")
USAGE = "usage: %gemini context create NAME --attach X [--attach Y …] [--system TEXT] [--ttl 1h] [-m MODEL]"

# client → {(base URL, short name): the cache as listed}: what this session found or made
_known: WeakKeyDictionary[GeminiClient, dict[tuple[str, str], dict[str, Any]]] = WeakKeyDictionary()


@_one_line_errors
def contexts_command(magic: GeminiMagic, rest: str) -> None:
    """``%gemini contexts``, ``%gemini context create NAME …`` and ``%gemini context delete NAME``."""
    from ._bundles import text_bundle
    from ._display import show

    words = split_line(rest)
    if not words:
        settings = magic.settings(Options())
        caches = list_caches(magic.client, settings)
        magic.namespace["_gemini_contexts"] = caches
        show(contexts_bundle(caches) if caches else text_bundle(f"No context caches yet. {USAGE}"))
    elif words[0] == "delete" and len(words) == 2:
        settings = magic.settings(Options())
        name = resolve_cached_content(words[1], magic.client, settings)
        _explained(
            lambda: magic.client._json("DELETE", f"{settings.base_url}/v1beta/{name}", None, settings, None), gone=True
        )
        _forget(magic.client, settings, name)
        show(text_bundle(f"Context cache {words[1]!r} ({name}) deleted."))
    elif words[0] == "create" and len(words) > 1:
        cache = create(magic, words[1:])
        show(text_bundle(f"Context cache {cache.get('displayName')!r} made: {_summary(cache)}"))
    else:
        raise UsageError(f"{USAGE}; %gemini contexts; %gemini context delete NAME")


class _Parser(argparse.ArgumentParser):
    """argparse whose mistakes are one-line ``UsageError``s instead of an exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"%gemini context create: {message} ({USAGE})")


def _create_parser() -> _Parser:
    parser = _Parser(prog="%gemini context create", add_help=False)
    parser.add_argument("name")
    parser.add_argument("--attach", action="append", required=True, metavar="X")
    parser.add_argument("--system", metavar="TEXT")
    parser.add_argument("--ttl", default="1h")
    parser.add_argument("-m", "--model")
    return parser


def create(magic: GeminiMagic, argv: list[str]) -> dict[str, Any]:
    """POST ``cachedContents`` with the attachments as contents; the new cache, remembered."""
    from ._attach import MAX_REQUEST_BYTES, attachment_parts, check_size
    from ._display import view_factory
    from ._uploads import uploader

    args = _create_parser().parse_args(argv)
    if not re.match(r"^[\w.-]{1,128}$", args.name) or args.name.startswith(PREFIX):
        raise UsageError(f"%gemini context create: {args.name!r} is not a name (letters, digits, _ . -)")
    ttl = parse_ttl(args.ttl)
    settings = magic.settings(Options(model=args.model))
    taken = _listed(magic.client, settings).get(args.name)
    if taken is not None:
        raise UsageError(
            f"a context named {args.name!r} exists ({_summary(taken)}): "
            f"%gemini context delete {args.name} first, or pick another name"
        )
    body: dict[str, Any] = {"model": _model_path(settings.model), "displayName": args.name}
    body["contents"] = [{"role": "user", "parts": []}]
    if args.system:
        body["systemInstruction"] = {"parts": [{"text": args.system}]}
    body["ttl"] = ttl
    # what a cache is for is big: what would take the request past the inline limit is uploaded
    room = MAX_REQUEST_BYTES - len(json.dumps(body, ensure_ascii=False).encode())
    upload = uploader(magic.client, settings, view_factory(magic.shell))
    body["contents"][0]["parts"] = attachment_parts(tuple(args.attach), magic.namespace, room=room, upload=upload)
    encoded = json.dumps(body, ensure_ascii=False)
    check_size(len(encoded.encode()))
    if len(settings.api_key) >= 16 and settings.api_key in encoded:  # as _prepare: e.g. --attach .env
        raise UsageError("the cache would hold your API key (from an attachment); nothing was sent")
    url = f"{settings.base_url}/v1beta/cachedContents"
    once = replace(settings, max_retries=0)  # not idempotent: a retry could make a second cache
    cache = _explained(lambda: magic.client.generate(url, body, once))
    _checked(cache, "the new cache")
    _remember(magic.client, settings, [cache], complete=False)
    return cache


def list_caches(client: GeminiClient, settings: Settings) -> list[dict[str, Any]]:
    """Every page of ``GET /v1beta/cachedContents``; what this session knows is brought up to date."""
    caches: list[dict[str, Any]] = []
    token = ""
    for _ in range(MAX_PAGES):
        query = {"pageSize": 1000, **({"pageToken": token} if token else {})}
        page = client.get(f"{settings.base_url}/v1beta/cachedContents?{urlencode(query)}", settings)
        _check(page, _PAGE, "")
        caches += [
            _checked(c, f"cachedContents[{len(caches) + i}]") for i, c in enumerate(page.get("cachedContents", []))
        ]
        token = page.get("nextPageToken", "")
        if not token:
            break
    _remember(client, settings, caches, complete=True)
    return caches


def _checked(cache: dict[str, Any], where: str) -> dict[str, Any]:
    """*cache* once its fields have their types and its name and model the API's form: they go
    into request URLs and bodies."""
    _check(cache, _CACHE, "")
    model = cache.get("model")
    if not _ID.match(str(cache.get("name", ""))) or (model is not None and not _MODEL.match(model)):
        raise GeminiStreamError(f"malformed response: {where} has no cachedContents/ID name or models/… model")
    return cache


def resolve_cached_content(name: str, client: GeminiClient, settings: Settings) -> str:
    """``cachedContents/…`` as given; a short name (a cache's ``displayName``, or a bare id) → its
    ``cachedContents/…`` id, from what this session knows or else the list."""
    return name if name.startswith(PREFIX) else _find(name, client, settings)["name"]


def use_cache(options: Options, settings: Settings, client: GeminiClient | None) -> tuple[Options, Settings]:
    """The options with ``--cached-content`` as the API names it, and the settings with the cache's
    model unless the cell chose one. A ``--dry-run`` sends nothing: only what this session already
    knows is used, and a short name unknown so far stays as typed."""
    name = options.cached_content
    if not name:
        return options, settings
    if client is None:  # a caller that passes none: the loaded magic's, so what it found is kept
        from ._api import _magic

        client = _magic().client
    if name.startswith(PREFIX):
        cache = next((c for c in _memory(client, settings).values() if c["name"] == name), None)
    else:
        cache = _recall(client, settings, name) if options.dry_run else _find(name, client, settings)
    if cache is None:
        return options, settings
    model = str(cache.get("model", "")).removeprefix("models/")
    if model and settings.sources.get("model") != "cell option" and _model_path(settings.model) != cache["model"]:
        settings = replace(settings, model=model, sources={**settings.sources, "model": f"context {name}"})
    return replace(options, cached_content=cache["name"]), settings


def _find(name: str, client: GeminiClient, settings: Settings) -> dict[str, Any]:
    cache = _recall(client, settings, name)
    if cache is not None:
        return cache
    listed = _listed(client, settings)
    if name in listed:
        return listed[name]
    by_id = {c["name"]: c for c in listed.values()}
    if PREFIX + name in by_id:  # a bare id, as --cached-content took before short names
        return by_id[PREFIX + name]
    known = ", ".join(sorted(listed)) or "none yet: %gemini context create NAME --attach FILE makes one"
    raise UsageError(f"--cached-content: no context cache named {name!r}; known: {known}")


def _listed(client: GeminiClient, settings: Settings) -> dict[str, dict[str, Any]]:
    """Short name → cache, for every live cache (the list is fetched)."""
    list_caches(client, settings)
    return {short: cache for (_, short), cache in _memory(client, settings).items()}


def _memory(client: GeminiClient, settings: Settings) -> dict[tuple[str, str], dict[str, Any]]:
    return {k: v for k, v in _known.setdefault(client, {}).items() if k[0] == settings.base_url}


def _remember(client: GeminiClient, settings: Settings, caches: list[dict[str, Any]], *, complete: bool) -> None:
    """Keep the caches by short name; a *complete* list replaces what was kept for this host. Of two
    caches with one name (made elsewhere), the one that lives longest wins."""
    memory = _known.setdefault(client, {})
    if complete:
        for key in [k for k in memory if k[0] == settings.base_url]:
            del memory[key]
    for cache in sorted(caches, key=lambda c: str(c.get("expireTime", ""))):
        short = cache.get("displayName") or cache["name"].removeprefix(PREFIX)
        memory[(settings.base_url, short)] = cache


def _recall(client: GeminiClient, settings: Settings, name: str) -> dict[str, Any] | None:
    """The cache this session knows by *name*, unless it has expired since."""
    cache = _known.get(client, {}).get((settings.base_url, name))
    if cache is None or name.startswith(PREFIX):
        return None
    expiry = _parse_time(str(cache.get("expireTime", "")))
    return None if expiry is not None and expiry <= datetime.now(timezone.utc) else cache


def _forget(client: GeminiClient, settings: Settings, name: str) -> None:
    memory = _known.get(client, {})
    for key in [k for k, c in memory.items() if k[0] == settings.base_url and c["name"] == name]:
        del memory[key]


def _explained(send: Callable[[], dict[str, Any]], *, gone: bool = False) -> dict[str, Any]:
    """*send*'s answer; a refusal the API words tersely gets the likely cause added, its message kept
    (*gone*: a 403/404 means the cache has expired or was deleted)."""
    try:
        answer = send()
    except GeminiAPIError as exc:
        hint = ""
        text = exc.message.lower()
        if exc.code == 400 and "token" in text and ("min" in text or "small" in text):
            hint = " — a context cache needs at least 1,024 tokens (Flash) or 4,096 (Pro): attach more"
        elif gone and exc.code in (403, 404):
            hint = " — the cache may have expired or been deleted (%gemini contexts lists the live ones)"
        if not hint:
            raise
        raise GeminiAPIError(exc.code, exc.status, exc.message + hint, exc.details) from None
    return answer


def parse_ttl(text: str) -> str:
    """``1h``, ``30m``, ``3600s`` or ``90`` (seconds) → the API's Duration, ``"3600s"``."""
    match = _TTL.match(text.strip().lower())
    seconds = float(match.group(1)) * _UNITS[match.group(2)] if match else 0
    if seconds <= 0:
        raise UsageError(f"--ttl: expected a time to live like 1h, 30m or 3600s, got {text!r}")
    return f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"


def _parse_time(text: str) -> datetime | None:
    """An RFC 3339 time (up to nanoseconds, ``Z`` or an offset) as an aware datetime; None if not one."""
    match = _TIME.match(text)
    if match is None:
        return None
    base, fraction, zone = match.groups()
    try:  # a day, hour or offset out of range is not a time either
        parsed = datetime.fromisoformat(base + (fraction or "")[:7] + ("+00:00" if zone == "Z" else zone))
        utc = parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None
    return utc if 1 < utc.year < 9999 else None  # else local time (expires_text) could pass year 1 or 9999


def expires_text(expire_time: str, now: datetime | None = None) -> str:
    """``14:05 (in 52 min)`` in local time (with the date when not today), or ``expired``."""
    when = _parse_time(expire_time)
    if when is None:
        return expire_time or "?"
    now = now or datetime.now(timezone.utc)
    local = when.astimezone()
    shown = local.strftime("%H:%M" if local.date() == now.astimezone().date() else "%Y-%m-%d %H:%M")
    seconds = int((when - now).total_seconds())
    if seconds <= 0:
        return f"{shown} (expired)"
    minutes = -(-seconds // 60)  # rounded up: "in 1 min" until it has gone
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    span = f"{days} d {hours} h" if days else f"{hours} h {minutes} min" if hours else f"{minutes} min"
    return f"{shown} (in {span})"


def _model_path(model: str) -> str:
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"


def _row(cache: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """Short name, id, model, expiry and tokens, as shown."""
    return (
        str(cache.get("displayName", "")),
        str(cache.get("name", "")),
        str(cache.get("model", "")).removeprefix("models/"),
        expires_text(str(cache.get("expireTime", ""))),
        f"{(cache.get('usageMetadata') or {}).get('totalTokenCount', 0):,}",
    )


def _summary(cache: dict[str, Any]) -> str:
    _, name, model, expires, tokens = _row(cache)
    return f"{name} · {model} · {tokens} tokens · expires {expires}"


def contexts_bundle(caches: list[dict[str, Any]]) -> Bundle:
    """The table of ``%gemini contexts``: short name, id, model, expiry, tokens."""
    from ._bundles import table_bundle

    rows = [_row(cache) for cache in sorted(caches, key=lambda c: str(c.get("expireTime", "")))]
    caption = f"{len(rows)} context caches · use one with %%gemini --cached-content NAME"
    return table_bundle(("name", "id", "model", "expires", "tokens"), rows, caption)
