"""HTTP transport: one ``requests.Session``, auth, redirects, retries, bounded bodies, SSE decoding.

``requests`` is imported on first use, not when the extension loads (``%load_ext`` stays fast).
Retries follow the API's own advice (shared/gemini-wire.md §5): 429/500/502/503/504 are retried
with backoff honouring ``RetryInfo.retryDelay`` (or ``Retry-After``); 4xx never; a per-day quota
never (waiting minutes will not help); and nothing is retried once an answer has started to
arrive, so the user never sees a duplicated half-answer.

Server bytes are hostile, and so are the places an exception can carry them:

* the key is added by :class:`_KeyAuth` and goes only to the configured scheme, host and port:
  redirects are followed here, same-origin only, and a redirect elsewhere is an error;
* bodies are read raw, inflated here in bounded steps if the server compressed them although we
  asked for ``identity``, and counted against ``Settings.max_response_bytes``;
* every failure leaves :meth:`GeminiClient.stream`, :meth:`~GeminiClient.generate` and
  :meth:`~GeminiClient.get` with a fresh traceback and no chained exception, so no frame of
  ``requests``/``urllib3`` (whose locals hold the headers) or of the decoder (whose locals hold
  the buffers) stays reachable from ``sys.last_traceback``.
"""

from __future__ import annotations

import json
import random
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urljoin, urlsplit

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
MAX_REDIRECTS = 5
READ_SIZE = 1 << 16  # one raw read, and the most one inflate step may produce
ERROR_BODY_LIMIT = 1 << 20  # of an HTTP error body, enough for any real error message

#: Called before each retry with (attempt number, seconds to wait, the error being retried).
RetryHook = Callable[[int, float, GeminiError], None]
_Failure = TypeVar("_Failure", bound=BaseException)


class GeminiClient:
    """Sends requests for the magic; keeps one pooled session so later cells reuse the connection."""

    def __init__(self) -> None:
        self._session: requests.Session | None = None

    @property
    def session(self) -> requests.Session:
        """The pooled ``requests.Session``, made (and ``requests`` imported) on first use."""
        if self._session is None:
            import requests

            from . import __version__

            self._session = requests.Session()
            self._session.headers["User-Agent"] = f"gemini-magic/{__version__}"
            self._session.headers["Accept-Encoding"] = "identity"  # a compressed body could expand without bound
        return self._session

    def close(self) -> None:
        """Close the pooled connections; the next request opens a new session."""
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
            except (GeminiError, KeyboardInterrupt) as exc:
                failure = _fresh(exc)
            delay = None if started else _retry_delay(failure, attempt, settings.max_retries)
            if delay is None or not isinstance(failure, GeminiError):  # only API errors are ever retried
                raise failure
            attempt += 1
            _wait(attempt, delay, failure, on_retry)

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
    ) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                response = self._send(method, url, body, settings)
                try:
                    data = _json_body(response, settings)
                finally:
                    response.close()
                if not isinstance(data, dict):
                    raise GeminiStreamError(f"the server answered with {_kind(data)} where a JSON object belongs")
                return data
            except (GeminiError, KeyboardInterrupt) as exc:
                failure = _fresh(exc)
            delay = _retry_delay(failure, attempt, settings.max_retries)
            if delay is None or not isinstance(failure, GeminiError):  # only API errors are ever retried
                raise failure
            attempt += 1
            _wait(attempt, delay, failure, on_retry)

    def _stream_once(self, url: str, body: dict[str, Any], settings: Settings) -> Iterator[dict[str, Any]]:
        response = self._send("POST", url, body, settings, sse=True)
        decoder = SSEDecoder()
        try:
            if response.headers.get("Content-Type", "").startswith("application/json"):
                # A gateway that ignored alt=sse: one JSON object or a JSON array of them.
                data = _json_body(response, settings)
                events = data if isinstance(data, list) else [data]
                if not all(isinstance(event, dict) for event in events):
                    raise GeminiStreamError(f"the server answered with {_kind(data)} where JSON objects belong")
                yield from events
                return
            for chunk in _body(response, settings, settings.max_response_bytes, lambda: decoder.events):
                yield from decoder.feed(chunk)
            yield from decoder.close()
        finally:
            response.close()  # also on Ctrl-C: the server sees the connection close at once

    def _send(
        self, method: str, url: str, body: dict[str, Any] | None, settings: Settings, *, sse: bool = False
    ) -> requests.Response:
        """Send, following same-origin redirects only: the key never goes to another host."""
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        origin = _origin(url)
        for _ in range(MAX_REDIRECTS + 1):
            response = self._request(method, url, data, settings, sse)
            location = response.headers.get("Location") if response.is_redirect else None
            if not location:
                break
            response.close()
            target = urljoin(url, location)
            if _origin(target) != origin or origin is None:
                raise GeminiConnectionError(
                    f"{_where(url)} redirected to {target[:200]!r}, another host; the API key is only sent to "
                    "the configured one (set --base-url or GeminiMagic.base_url there if you trust it)"
                )
            if response.status_code in (301, 302, 303):  # 307 and 308 keep the method and the body
                method, data = "GET", None
            url = target
        else:
            raise GeminiConnectionError(f"{_where(url)} redirected more than {MAX_REDIRECTS} times")
        if response.status_code >= 300:
            try:
                raise _http_error(response, settings)
            finally:
                response.close()
        return response

    def _request(
        self,
        method: str,
        url: str,
        data: Any,
        settings: Settings,
        sse: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One exchange; anything ``requests`` raises (even ValueError, OverflowError) is ours.

        *data* is bytes or a file-like body (a Files API upload streams one); *headers* are added
        to (or replace) the JSON defaults. The key is still only put on by :class:`_KeyAuth`."""
        base = {"Accept": "text/event-stream"} if sse else {}
        if data is not None:
            base["Content-Type"] = "application/json"
        headers = {**base, **(headers or {})}
        try:
            response = self.session.request(
                method,
                url,
                data=data,
                headers=headers,
                auth=_KeyAuth(settings),
                timeout=(min(CONNECT_TIMEOUT, settings.timeout), settings.timeout),
                stream=True,
                allow_redirects=False,
            )
        except Exception as exc:  # noqa: BLE001 - ValueError, OverflowError, LocationParseError… are all transport
            raise _connection_error(exc, url, settings) from None
        response.request.headers.pop(settings.auth_header(), None)  # the response outlives the call
        return response


class _KeyAuth:
    """Puts the key on the prepared request, so no dict of ours holds it; the repr shows no key."""

    __slots__ = ("_settings",)

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.update(self._settings.headers())
        return request

    def __repr__(self) -> str:
        return f"<{self._settings.auth_header()}: {self._settings.masked_key()}>"


def _fresh(exc: _Failure) -> _Failure:
    """*exc* without its traceback and chained exceptions: they reach into frames whose locals hold
    the headers (key included) or the buffers, and ``sys.last_traceback`` would keep them."""
    exc.__traceback__ = exc.__context__ = exc.__cause__ = None
    return exc


def _body(
    response: requests.Response, settings: Settings, limit: int, events: Callable[[], int | None] = lambda: None
) -> Iterator[bytes]:
    """The body in pieces of at most READ_SIZE, inflated here if compressed, *limit* bytes at most.

    Raw reads (``decode_content=False``) and ``zlib`` with ``max_length``: a 3 MB gzip body that
    expands to 3 GB never exists in memory at once. *events* says how far a stream had got, for
    the message when the connection drops.
    """
    inflate = _inflater(response.headers.get("Content-Encoding", ""))
    total = 0
    while True:
        try:
            raw = response.raw.read1(READ_SIZE, decode_content=False)
        except Exception as exc:  # noqa: BLE001 - whatever the socket, http.client or urllib3 raise
            raise _connection_error(exc, response.url, settings, events=events()) from None
        for piece in inflate(raw):
            total += len(piece)
            if total > limit:
                raise GeminiStreamError(
                    f"the response passed the {limit / (1 << 20):g} MB limit "
                    "(raise it with %config GeminiMagic.max_response_mb = …)"
                )
            yield piece
        if not raw:
            return


def _inflater(encoding: str) -> Callable[[bytes], Iterator[bytes]]:
    """Decode one Content-Encoding in bounded steps; ``b""`` marks the end of the body."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return lambda raw: iter((raw,) if raw else ())
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise GeminiStreamError(f"the server compressed the body as {encoding[:40]!r}, which is not supported")
    state = [zlib.decompressobj(zlib.MAX_WBITS | 32)]  # 32: a gzip or zlib header, found by zlib

    def inflate(raw: bytes) -> Iterator[bytes]:
        end = not raw
        try:
            while True:
                piece = state[0].decompress(raw, READ_SIZE)
                raw = state[0].unconsumed_tail
                if state[0].eof and state[0].unused_data:  # a gzip body may hold several members
                    raw, state[0] = state[0].unused_data + raw, zlib.decompressobj(zlib.MAX_WBITS | 32)
                if piece:
                    yield piece
                if not raw and len(piece) < READ_SIZE:
                    break
            if end and (piece := state[0].flush()):
                yield piece
        except zlib.error as exc:
            raise GeminiStreamError(f"the {encoding} body could not be decompressed ({exc})") from None

    return inflate


def _read(response: requests.Response, settings: Settings, limit: int) -> bytearray:
    """The whole body, *limit* bytes at most (past it, the error from :func:`_body`); not copied
    into ``bytes``, so a large body is in memory once before parsing."""
    data = bytearray()
    for piece in _body(response, settings, limit):
        data += piece
    return data


def _json_body(response: requests.Response, settings: Settings) -> Any:
    raw = _read(response, settings, settings.max_response_bytes)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        text = raw[:200].decode("utf-8", "replace")
        raise GeminiStreamError(f"the server sent a body that is not JSON: {text!r}") from None
    first = data[0] if isinstance(data, list) and data else data
    if isinstance(first, dict) and "error" in first:
        raise GeminiAPIError.from_body(first, response.status_code)
    return data


def _kind(data: Any) -> str:
    """What a JSON value is, for a message: ``null``, ``a number``, ``a list holding a string``…"""
    if isinstance(data, list):
        odd = next((item for item in data if not isinstance(item, dict)), None)
        return "an empty list" if not data else f"a list holding {_kind(odd)}" if odd is not None else "a list"
    names = {dict: "an object", str: "a string", bool: "true/false", int: "a number", float: "a number"}
    return "null" if data is None else names.get(type(data), type(data).__name__)


def _http_error(response: requests.Response, settings: Settings) -> GeminiAPIError:
    """The API's error body as our exception; a non-JSON body (a proxy's HTML page) summarised."""
    try:
        raw = _read(response, settings, ERROR_BODY_LIMIT)
    except GeminiStreamError:
        raw = bytearray(b"(an error body over 1 MB, not shown)")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        text = " ".join(raw.decode("utf-8", "replace").split())[:200]
        error = GeminiAPIError(response.status_code, response.reason or "", text or "(empty body)")
    else:
        if isinstance(body, list) and body:
            body = body[0]
        error = GeminiAPIError.from_body(body, response.status_code)
    retry_after = response.headers.get("Retry-After", "")
    if retry_after.replace(".", "", 1).isdigit():
        error.retry_after = float(retry_after)
    return error


def _retry_delay(exc: BaseException, attempt: int, max_retries: int) -> float | None:
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


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) — what must match for the key to be sent; None for a URL that has none."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return (parts.scheme.lower(), (parts.hostname or "").lower(), port) if parts.hostname else None


def _where(url: str) -> str:
    origin = _origin(url)
    return f"{origin[1]}:{origin[2]}" if origin else repr(url[:100])


def _connection_error(
    exc: BaseException, url: str, settings: Settings | None, *, events: int | None = None
) -> GeminiConnectionError:
    """A one-sentence message for a network failure; *events* says how far a stream had got."""
    import requests
    import urllib3.exceptions

    where = _where(url)
    timeout = f"{settings.timeout:g}" if settings else "?"
    if isinstance(exc, requests.ConnectTimeout):
        message = f"timed out connecting to {where}; check the base URL and your network"
    elif isinstance(exc, requests.ReadTimeout | urllib3.exceptions.ReadTimeoutError) or "Read timed out" in str(exc):
        message = f"{where} sent nothing for {timeout} s (read timeout; raise it with --timeout)"
    elif events or isinstance(exc, requests.exceptions.ChunkedEncodingError | urllib3.exceptions.ProtocolError):
        where_in = f"mid-stream after {events} events" if events is not None else "before the response ended"
        message = f"the connection to {where} dropped {where_in}"
    else:
        reason = _reason(exc)
        message = f"could not connect to {where} ({reason}); check the base URL and your network"
    return GeminiConnectionError(message)


def _reason(exc: BaseException) -> str:
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
