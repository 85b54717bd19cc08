"""HTTP transport: one ``requests.Session``, auth headers, retries, and SSE decoding.

``requests`` is imported on first use, not when the extension loads (``%load_ext`` stays fast).
Retries follow the API's own advice (shared/gemini-wire.md §5): 429/500/502/503/504 are retried
with backoff honouring ``RetryInfo.retryDelay`` (or ``Retry-After``); 4xx never; a per-day quota
never (waiting minutes will not help); and nothing is retried once an answer has started to
arrive, so the user never sees a duplicated half-answer.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._errors import GeminiAPIError, GeminiConnectionError, GeminiError, GeminiStreamError
from ._settings import Settings
from ._sse import SSEDecoder

if TYPE_CHECKING:
    import requests

__all__ = ["RETRY_STATUSES", "GeminiClient"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_WAIT = 60.0  # a longer RetryInfo delay is reported instead of blocking the cell
CONNECT_TIMEOUT = 10.0
BACKOFF_BASE = 1.0

#: Called before each retry with (attempt number, seconds to wait, the error being retried).
RetryHook = Callable[[int, float, GeminiError], None]


class GeminiClient:
    """Sends requests for the magic; keeps one pooled session so later cells reuse the connection."""

    def __init__(self) -> None:
        self._session: requests.Session | None = None

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            import requests

            from . import __version__

            self._session = requests.Session()
            self._session.headers["User-Agent"] = f"gemini-magic/{__version__}"
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def stream(
        self, url: str, body: dict[str, Any], settings: Settings, on_retry: RetryHook | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield each decoded event of ``:streamGenerateContent?alt=sse`` as it arrives."""
        attempt = 0
        while True:
            started = False
            try:
                for event in self._stream_once(url, body, settings):
                    started = True
                    yield event
                return
            except GeminiError as exc:
                error = exc
                delay = None if started else _retry_delay(exc, attempt, settings.max_retries)
                if delay is None:
                    raise
            attempt += 1
            _wait(attempt, delay, error, on_retry)

    def generate(
        self, url: str, body: dict[str, Any], settings: Settings, on_retry: RetryHook | None = None
    ) -> dict[str, Any]:
        """One ``:generateContent`` call; returns the decoded response."""
        return self._json("POST", url, body, settings, on_retry)

    def get(self, url: str, settings: Settings, on_retry: RetryHook | None = None) -> dict[str, Any]:
        """A GET (``/v1beta/models``) with the same auth, errors and retries."""
        return self._json("GET", url, None, settings, on_retry)

    def _json(
        self, method: str, url: str, body: dict[str, Any] | None, settings: Settings, on_retry: RetryHook | None
    ) -> Any:
        attempt = 0
        while True:
            try:
                response = self._send(method, url, body, settings, stream=False)
                try:
                    return _json_body(response)
                finally:
                    response.close()
            except GeminiError as exc:
                error = exc
                delay = _retry_delay(exc, attempt, settings.max_retries)
                if delay is None:
                    raise
            attempt += 1
            _wait(attempt, delay, error, on_retry)

    def _stream_once(self, url: str, body: dict[str, Any], settings: Settings) -> Iterator[dict[str, Any]]:
        import requests

        response = self._send("POST", url, body, settings, stream=True)
        decoder = SSEDecoder()
        try:
            if response.headers.get("Content-Type", "").startswith("application/json"):
                # A gateway that ignored alt=sse: one JSON object or a JSON array of them.
                data = _json_body(response)
                yield from (data if isinstance(data, list) else [data])
                return
            try:
                for chunk in response.iter_content(chunk_size=None):
                    yield from decoder.feed(chunk)
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                raise _connection_error(exc, url, settings, events=decoder.events) from None
            yield from decoder.close()
        finally:
            response.close()  # also on Ctrl-C: the server sees the connection close at once

    def _send(
        self, method: str, url: str, body: dict[str, Any] | None, settings: Settings, *, stream: bool
    ) -> requests.Response:
        import requests

        headers = {"Content-Type": "application/json", **settings.headers()} if body is not None else settings.headers()
        if stream:
            headers["Accept"] = "text/event-stream"
        try:
            response = self.session.request(
                method,
                url,
                data=None if body is None else json.dumps(body, ensure_ascii=False).encode(),
                headers=headers,
                timeout=(min(CONNECT_TIMEOUT, settings.timeout), settings.timeout),
                stream=stream,
            )
        except requests.RequestException as exc:
            raise _connection_error(exc, url, settings) from None
        if response.status_code >= 400:
            try:
                raise _http_error(response)
            finally:
                response.close()
        return response


def _json_body(response: requests.Response) -> Any:
    import requests

    try:
        data = json.loads(response.content)
    except requests.RequestException as exc:
        raise _connection_error(exc, response.url, None) from None
    except ValueError:
        raise GeminiStreamError(f"the server sent a body that is not JSON: {response.text[:200]!r}") from None
    first = data[0] if isinstance(data, list) and data else data
    if isinstance(first, dict) and "error" in first:
        raise GeminiAPIError.from_body(first, response.status_code)
    return data


def _http_error(response: requests.Response) -> GeminiAPIError:
    """The API's error body as our exception; a non-JSON body (a proxy's HTML page) summarised."""
    try:
        body = response.json()
    except ValueError:
        text = " ".join(response.text.split())[:200]
        error = GeminiAPIError(response.status_code, response.reason or "", text or "(empty body)")
    else:
        if isinstance(body, list) and body:
            body = body[0]
        error = GeminiAPIError.from_body(body, response.status_code)
    retry_after = response.headers.get("Retry-After", "")
    if retry_after.replace(".", "", 1).isdigit():
        error.retry_after = float(retry_after)
    return error


def _retry_delay(exc: GeminiError, attempt: int, max_retries: int) -> float | None:
    """Seconds to wait before retrying *exc*, or None when it must not be retried."""
    if attempt >= max_retries or not isinstance(exc, GeminiAPIError) or exc.code not in RETRY_STATUSES:
        return None
    if exc.is_daily_quota():
        return None
    delay = exc.retry_delay()
    if delay is None:
        delay = min(BACKOFF_BASE * 2**attempt, 30.0) * random.uniform(0.8, 1.2)
    return delay if delay <= MAX_RETRY_WAIT else None


def _wait(attempt: int, delay: float, error: GeminiError, on_retry: RetryHook | None) -> None:
    if on_retry is not None:
        on_retry(attempt, delay, error)
    time.sleep(delay)


def _where(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def _connection_error(exc: Exception, url: str, settings: Settings | None, *, events: int = 0) -> GeminiConnectionError:
    import requests

    where = _where(url)
    timeout = f"{settings.timeout:g}" if settings else "?"
    if isinstance(exc, requests.ConnectTimeout):
        message = f"timed out connecting to {where}; check the base URL and your network"
    elif isinstance(exc, requests.ReadTimeout) or "Read timed out" in str(exc):
        message = f"{where} sent nothing for {timeout} s (read timeout; raise it with --timeout)"
    elif events or isinstance(exc, requests.exceptions.ChunkedEncodingError):
        message = f"the connection to {where} dropped mid-stream after {events} events"
    else:
        reason = _reason(exc)
        message = f"could not connect to {where} ({reason}); check the base URL and your network"
    return GeminiConnectionError(message)


def _reason(exc: Exception) -> str:
    text = str(exc)
    for needle, reason in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "host name not found"),
        ("nodename nor servname", "host name not found"),
        ("Temporary failure in name resolution", "host name not found"),
        ("No route to host", "no route to host"),
        ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted"),
        ("Connection reset", "connection reset"),
        ("RemoteDisconnected", "the server closed the connection"),
    ):
        if needle in text:
            return reason
    return type(exc).__name__
