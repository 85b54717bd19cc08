"""The Files API, as much as a batch job needs: a resumable upload of its JSONL input, and the
download of its results file (shared/wire-batch.md §4.2 and §6).

Both send raw bytes with ``X-Goog-Upload-*`` headers, which :class:`~._client.GeminiClient`'s JSON
methods do not, so the requests are made here on the client's pooled session, with the client's
own safety rules:

* the key is added by ``_KeyAuth`` on the prepared request (no frame of ours holds it as text), and
  only for the configured scheme, host and port: redirects are not followed, and an upload URL the
  server hands back on another host is refused before anything is sent to it;
* every failure leaves with a fresh traceback and no chained exception (see ``_client``);
* bodies are read through the client's bounded reader (``max_response_mb``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from ._client import (
    CONNECT_TIMEOUT,
    GeminiClient,
    _body,
    _connection_error,
    _fresh,
    _http_error,
    _json_body,
    _KeyAuth,
    _kind,
    _origin,
    _read,
    _retry_delay,
    _wait,
    _where,
)
from ._errors import GeminiConnectionError, GeminiError, GeminiStreamError
from ._settings import Settings

if TYPE_CHECKING:
    import requests

__all__ = ["CHUNK_BYTES", "JSONL_MIME", "download_lines", "get_object", "upload"]

CHUNK_BYTES = 8 << 20  # one upload request, as the SDK sends them
JSONL_MIME = "application/jsonl"  # wire-batch.md §6: "jsonl" alone is refused
UPLOAD_ANSWER_BYTES = 1 << 20
_T = TypeVar("_T")
MAX_LINE = 64 << 20  # one results line; a longer one is not a response we can hold


def upload(client: GeminiClient, settings: Settings, data: bytes, mime: str, display_name: str) -> dict[str, Any]:
    """Upload *data* with the resumable protocol; returns the ``File`` (its ``name`` is ``files/…``)."""
    start = {
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": str(len(data)),
        "X-Goog-Upload-Header-Content-Type": mime,
        "Content-Type": "application/json",
    }
    metadata = json.dumps({"file": {"displayName": display_name}}, ensure_ascii=False).encode()
    session_url = _retrying(
        lambda: _upload_url(_send(client, f"{settings.base_url}/upload/v1beta/files", metadata, start, settings)),
        settings,
    )
    if _origin(session_url) != _origin(settings.base_url) or _origin(session_url) is None:
        raise GeminiConnectionError(
            f"the upload URL the server gave is on {_where(session_url)}, not {_where(settings.base_url)}; "
            "the API key is only sent to the configured host"
        )
    answer: dict[str, Any] = {}
    for offset in range(0, max(len(data), 1), CHUNK_BYTES):
        piece = data[offset : offset + CHUNK_BYTES]
        last = offset + CHUNK_BYTES >= len(data)
        headers = {
            "X-Goog-Upload-Command": "upload, finalize" if last else "upload",
            "X-Goog-Upload-Offset": str(offset),
            "Content-Type": mime,
        }
        answer = _retrying(partial(_put, client, session_url, piece, headers, settings, last), settings)
    file = answer.get("file")
    if not isinstance(file, dict):
        raise GeminiStreamError("malformed upload answer: file is missing or not an object")
    name = file.get("name")
    if not isinstance(name, str) or not name.startswith("files/"):
        raise GeminiStreamError(f"malformed upload answer: file.name is {name!r:.80}, expected 'files/…'")
    return file


def download_lines(client: GeminiClient, settings: Settings, file_name: str) -> Iterator[bytes]:
    """The lines of a generated file (a batch's results), streamed: ``/download/v1beta/{file}:download``."""
    if not file_name.startswith("files/") or "?" in file_name or "#" in file_name:
        raise GeminiStreamError(f"malformed job: the results file is {file_name[:80]!r}, expected 'files/…'")
    url = f"{settings.base_url}/download/v1beta/{file_name}:download?alt=media"
    response = _retrying(lambda: _send(client, url, None, {}, settings), settings)
    pending = bytearray()
    try:
        for piece in _body(response, settings, settings.max_response_bytes):
            pending += piece
            *lines, rest = pending.split(b"\n")
            if len(rest) > MAX_LINE:
                raise GeminiStreamError(f"a line of {file_name} is over {MAX_LINE >> 20} MB")
            pending = bytearray(rest)
            yield from (bytes(line) for line in lines if line.strip())
        if pending.strip():
            yield bytes(pending)
    except GeminiError as exc:
        raise _fresh(exc) from None
    finally:
        response.close()


def get_object(client: GeminiClient, settings: Settings, url: str) -> dict[str, Any]:
    """A GET whose JSON object may hold an ``error`` field of its own: a failed or cancelled job's
    Operation is a 200 with ``done``, ``metadata`` *and* ``error`` (wire-batch.md §3), which the
    client's JSON methods would take for an error body and lose the rest."""
    response = _retrying(partial(_send, client, url, None, {}, settings), settings)
    try:
        raw = _read(response, settings, settings.max_response_bytes)
    except GeminiError as exc:
        raise _fresh(exc) from None
    finally:
        response.close()
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise GeminiStreamError(
            f"the server sent a body that is not JSON: {raw[:200].decode('utf-8', 'replace')!r}"
        ) from None
    if not isinstance(data, dict):
        raise GeminiStreamError(f"the server answered with {_kind(data)} where a JSON object belongs")
    return data


def _retrying(attempt: Callable[[], _T], settings: Settings) -> _T:
    """``attempt()``, retried as the client retries (429/5xx, RetryInfo), each failure made fresh."""
    tries = 0
    while True:
        try:
            return attempt()
        except (GeminiError, KeyboardInterrupt) as exc:
            failure = _fresh(exc)
        delay = _retry_delay(failure, tries, settings.max_retries)
        if delay is None or not isinstance(failure, GeminiError):
            raise failure
        tries += 1
        _wait(tries, delay, failure, None)


def _send(
    client: GeminiClient, url: str, data: bytes | None, headers: dict[str, str], settings: Settings
) -> requests.Response:
    """One POST (or GET without *data*) to the configured host; no redirects; an error status raised."""
    if _origin(url) != _origin(settings.base_url) or _origin(url) is None:
        raise GeminiConnectionError(f"refusing to send the API key to {_where(url)}, not the configured host")
    try:
        response = client.session.request(
            "GET" if data is None else "POST",
            url,
            data=data,
            headers=headers,
            auth=_KeyAuth(settings),
            timeout=(min(CONNECT_TIMEOUT, settings.timeout), settings.timeout),
            stream=True,
            allow_redirects=False,
        )
    except Exception as exc:  # noqa: BLE001 - as in _client: anything requests raises is a transport failure
        raise _connection_error(exc, url, settings) from None
    response.request.headers.pop(settings.auth_header(), None)
    if response.is_redirect:
        response.close()
        raise GeminiConnectionError(f"{_where(url)} redirected a Files API request; redirects are not followed here")
    if response.status_code >= 300:
        try:
            raise _http_error(response, settings)
        finally:
            response.close()
    return response


def _put(
    client: GeminiClient, url: str, piece: bytes, headers: dict[str, str], settings: Settings, last: bool
) -> dict[str, Any]:
    """One piece of the upload; the last one answers with the File."""
    response = _send(client, url, piece, headers, settings)
    if last:
        return _json_of(response, settings)
    response.close()
    return {}


def _upload_url(response: requests.Response) -> str:
    try:
        url = response.headers.get("X-Goog-Upload-URL", "")  # requests' headers ignore case
    finally:
        response.close()
    if not url:
        raise GeminiStreamError("the upload start answer has no X-Goog-Upload-URL header")
    return url


def _json_of(response: requests.Response, settings: Settings) -> dict[str, Any]:
    """The JSON object of an upload answer (a small File: 1 MB at most); an ``{"error": …}`` body is
    raised even with a 200 (wire-batch.md §6)."""
    try:
        data = _json_body(response, replace(settings, max_response_bytes=UPLOAD_ANSWER_BYTES))
    finally:
        response.close()
    if not isinstance(data, dict):
        raise GeminiStreamError("malformed upload answer: the body is not a JSON object")
    return data
