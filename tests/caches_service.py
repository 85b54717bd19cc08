"""A loopback responder for context caches and token counts (shared/wire-media.md §2 and §3).

``server.responder = CachesService()`` answers ``cachedContents`` create / list (``pageToken``) /
get / patch / delete, ``:countTokens``, and generate requests (streamed or not) that name a cache,
whose ``usageMetadata`` then carries ``cachedContentTokenCount``. Tokens are counted the same way
everywhere (a text part: a token per 4 characters; inline data: one per 100 base64 characters), so a
test can predict them. A cache smaller than *min_tokens* is refused with the API's 400, a request
naming an unknown cache with its 403, one whose model is not the cache's with a 400.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from gemini_server import BatchService, Recorded, Reply, error_reply, json_reply, sse, text_events

_MODALITIES = {"image": "IMAGE", "audio": "AUDIO", "video": "VIDEO", "application": "DOCUMENT", "text": "TEXT"}


def part_tokens(part: dict[str, Any]) -> tuple[str, int]:
    """(modality, tokens) of one part, the way this server counts."""
    if "text" in part:
        return "TEXT", max(1, len(part["text"]) // 4)
    data = part.get("inlineData") or part.get("fileData") or {}
    modality = _MODALITIES.get(str(data.get("mimeType", "text/")).split("/")[0], "TEXT")
    return modality, max(1, len(data.get("data", "")) // 100) if "inlineData" in part else 258


def count(contents: list[dict[str, Any]], system: dict[str, Any] | None = None) -> dict[str, int]:
    """Tokens per modality of *contents* (and a system instruction, counted as text)."""
    totals: dict[str, int] = {}
    for turn in [*contents, *([system] if system else [])]:
        for part in turn.get("parts", []):
            modality, tokens = part_tokens(part)
            totals[modality] = totals.get(modality, 0) + tokens
    return totals


def rfc3339(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"  # nanoseconds, as Google writes them


class CachesService:
    """Context caches and countTokens on the loopback server; *page_size* caches per list page."""

    def __init__(
        self,
        *,
        page_size: int = 100,
        min_tokens: int = 0,
        answer: str = "From the cache.",
        fallback: Callable[[Recorded], Reply] | None = None,
    ) -> None:
        self.fallback = fallback  # answers every other path (e.g. Files uploads)
        self.page_size = page_size
        self.min_tokens = min_tokens
        self.answer = answer
        self.caches: dict[str, dict[str, Any]] = {}  # id → the CachedContent as the API shows it
        self.tokens: dict[str, dict[str, int]] = {}  # id → tokens per modality
        self._made = 0
        self._lock = threading.Lock()

    def __call__(self, record: Recorded) -> Reply:
        with self._lock:
            return self._answer(record)

    def add(self, display_name: str, model: str = "models/gemini-2.5-flash", **fields: Any) -> dict[str, Any]:
        """A cache made elsewhere (another notebook, the console), as the API would list it."""
        cache = self._make({"model": model, "displayName": display_name, "ttl": "3600s"}, {"TEXT": 2048})
        cache.update(fields)  # e.g. an expireTime in the past, another usageMetadata
        return cache

    def _answer(self, record: Recorded) -> Reply:
        path, _, query = record.path.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        body = record.body if isinstance(record.body, dict) else {}
        if path == "/v1beta/cachedContents" and record.method == "POST":
            return self._create(body)
        if path == "/v1beta/cachedContents" and record.method == "GET":
            return self._list(int(params.get("pageToken") or 0), int(params.get("pageSize") or 100))
        if path.startswith("/v1beta/cachedContents/"):
            cache_id = path.removeprefix("/v1beta/")
            if cache_id not in self.caches:
                return error_reply(403, "PERMISSION_DENIED", "CachedContent not found (or permission denied)")
            if record.method == "DELETE":
                del self.caches[cache_id]
                return json_reply({})
            if record.method == "PATCH":
                expire = datetime.now(timezone.utc) + timedelta(seconds=float(body["ttl"].rstrip("s")))
                self.caches[cache_id]["expireTime"] = rfc3339(expire)
            return json_reply(self.caches[cache_id])
        if path.endswith(":countTokens"):
            return self._count(body["generateContentRequest"], path)
        if ":generateContent" in path or ":streamGenerateContent" in path:
            return self._generate(body, path, stream="alt=sse" in query)
        return self.fallback(record) if self.fallback else error_reply(404, "NOT_FOUND", f"no such path {path}")

    def _make(self, body: dict[str, Any], tokens: dict[str, int]) -> dict[str, Any]:
        self._made += 1
        name = f"cachedContents/c{self._made}x"
        now = datetime.now(timezone.utc)
        cache = {
            "name": name,
            "model": body["model"],
            "createTime": rfc3339(now),
            "updateTime": rfc3339(now),
            "expireTime": rfc3339(now + timedelta(seconds=float(body["ttl"].rstrip("s")))),
            "usageMetadata": {"totalTokenCount": sum(tokens.values())},
        }
        if body.get("displayName"):
            cache["displayName"] = body["displayName"]
        self.caches[name], self.tokens[name] = cache, tokens
        return cache

    def _create(self, body: dict[str, Any]) -> Reply:
        if not str(body.get("model", "")).startswith("models/"):
            return error_reply(400, "INVALID_ARGUMENT", "model must be of the form models/{model}")
        tokens = count(body.get("contents", []), body.get("systemInstruction"))
        total = sum(tokens.values())
        if total < self.min_tokens:
            message = f"Cached content is too small. total_token_count={total}, min_total_token_count={self.min_tokens}"
            return error_reply(400, "INVALID_ARGUMENT", message)
        return json_reply(self._make({"ttl": "3600s", **body}, tokens))

    def _list(self, start: int, size: int) -> Reply:
        size = min(size, self.page_size)
        names = list(self.caches)[start : start + size]
        page: dict[str, Any] = {"cachedContents": [self.caches[n] for n in names]} if names else {}
        if start + size < len(self.caches):
            page["nextPageToken"] = str(start + size)
        return json_reply(page)

    def _cache_of(self, request: dict[str, Any], path: str) -> tuple[dict[str, int], Reply | None]:
        """The tokens of the cache the request names (none: empty), or the API's refusal."""
        name = request.get("cachedContent")
        if not name:
            return {}, None
        if name not in self.caches:
            return {}, error_reply(403, "PERMISSION_DENIED", "CachedContent not found (or permission denied)")
        model = path.removeprefix("/v1beta/").split(":")[0]
        if self.caches[name]["model"] != model:
            message = f"Model used by GenerateContent request ({model}) and CachedContent ({name}) has to be the same."
            return {}, error_reply(400, "INVALID_ARGUMENT", message)
        return self.tokens[name], None

    def _count(self, request: dict[str, Any], path: str) -> Reply:
        cached, refused = self._cache_of(request, path)
        if refused is not None:
            return refused
        prompt = count(request.get("contents", []), request.get("systemInstruction"))
        answer: dict[str, Any] = {
            "totalTokens": sum(prompt.values()) + sum(cached.values()),
            "promptTokensDetails": [{"modality": m, "tokenCount": n} for m, n in prompt.items()],
        }
        if cached:
            answer["cachedContentTokenCount"] = sum(cached.values())
            answer["cacheTokensDetails"] = [{"modality": m, "tokenCount": n} for m, n in cached.items()]
        return json_reply(answer)

    def _generate(self, request: dict[str, Any], path: str, *, stream: bool) -> Reply:
        cached, refused = self._cache_of(request, path)
        if refused is not None:
            return refused
        event = text_events([self.answer])[0]
        prompt = sum(count(request.get("contents", [])).values()) + sum(cached.values())
        usage = {"promptTokenCount": prompt, "candidatesTokenCount": 4, "totalTokenCount": prompt + 4}
        if cached:
            usage["cachedContentTokenCount"] = sum(cached.values())
        event["usageMetadata"] = usage
        return sse([event]) if stream else json_reply(event)


class Uploads(BatchService):
    """The loopback resumable upload of :class:`BatchService`, its File given the ``uri`` a prompt
    (or a cache) names it by, so ``--attach`` can send big files through it; the Files it made
    answer ``GET /v1beta/files/ID`` (403 once gone, as Google's), the list, and ``DELETE``."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.made: dict[str, dict[str, Any]] = {}  # "files/ID" → the File as the API shows it

    def __call__(self, record: Recorded) -> Reply:
        path = record.path.partition("?")[0]
        if path.startswith("/v1beta/files"):
            with self._lock:
                return self._file(record.method, path.removeprefix("/v1beta/"))
        reply = super().__call__(record)
        if reply.headers.get("X-Goog-Upload-Status") != "final":
            return reply
        answer = json.loads(reply.steps[0])
        name = answer["file"]["name"]
        answer["file"].update(uri=f"http://{record.headers['Host']}/v1beta/{name}", mimeType="application/pdf")
        answer["file"]["expirationTime"] = rfc3339(datetime.now(timezone.utc) + timedelta(hours=48))
        self.made[name] = answer["file"]
        return json_reply(answer, headers=reply.headers)

    def _file(self, method: str, name: str) -> Reply:
        if name == "files":  # the list, one page: the notebooks hold a few files
            return json_reply({"files": list(self.made.values())} if self.made else {})
        if name not in self.made:
            message = (
                f"You do not have permission to access the File {name.removeprefix('files/')} or it may not exist."
            )
            return error_reply(403, "PERMISSION_DENIED", message)
        if method == "DELETE":
            del self.made[name]
            return json_reply({})
        return json_reply(self.made[name])
