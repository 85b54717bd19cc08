"""The Files API on the wire: the one resumable upload (a batch's JSONL input, a notebook's audio,
video or big PDF), the download of a batch's results file, and JSON GET/DELETE of ``files/…`` and
jobs (shared/wire-media.md §1, shared/wire-batch.md §4.2 and §6).

Uploads send raw bytes with ``X-Goog-Upload-*`` headers, which :class:`~._client.GeminiClient`'s
JSON methods do not, so they go through the client's own ``_request`` (its pooled session, its
key rules) with extra headers:

* the key is added by ``_KeyAuth`` on the prepared request (no frame of ours holds it as text), and
  only for the configured scheme, host and port: redirects are not followed, and an upload URL the
  server hands back on another host is refused before anything is sent to it;
* a file is read piece by piece as the socket takes it (:class:`_Piece`), never whole in memory;
* a dropped piece is resumed from what the server says it holds (``query``), not from our count;
* every failure leaves with a fresh traceback and no chained exception (see ``_client``);
* bodies are read through the client's bounded reader (``max_response_mb``).
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from ._client import (
    RETRY_STATUSES,
    GeminiClient,
    _body,
    _fresh,
    _http_error,
    _json_body,
    _kind,
    _origin,
    _read,
    _retry_delay,
    _wait,
    _where,
)
from ._errors import GeminiAPIError, GeminiConnectionError, GeminiError, GeminiStreamError
from ._settings import Settings

if TYPE_CHECKING:
    import requests

__all__ = ["CHUNK_BYTES", "JSONL_MIME", "Progress", "download_lines", "get_object", "upload"]

CHUNK_BYTES = 8 << 20  # one upload request, as the SDK sends them (a multiple of 256 KiB granules)
MAX_PIECES_PER_REQUEST = 8  # of CHUNK_BYTES, for a big file (piece_bytes)
JSONL_MIME = "application/jsonl"  # wire-batch.md §6: "jsonl" alone is refused
UPLOAD_ANSWER_BYTES = 1 << 20
READ_BLOCK = 1 << 20  # read from the file and handed to the socket at a time
RESUME_ATTEMPTS = 4  # queries after drops, for one upload
RESUME_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)  # seconds before each
_T = TypeVar("_T")
MAX_LINE = 64 << 20  # one results line; a longer one is not a response we can hold

#: Called with the bytes of the file sent so far (smaller again after a resume).
Progress = Callable[[int], None]


def upload(
    client: GeminiClient,
    settings: Settings,
    data: bytes | BinaryIO,
    mime: str,
    display_name: str,
    *,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Upload *data* (bytes, or a seekable binary file, from its start to its end, read piece by
    piece, never whole) with the resumable protocol; returns the ``File`` (its ``name`` is ``files/…``).

    After a dropped connection (or a 5xx) the server is asked what it holds (``query``) and the
    upload goes on from there, :data:`RESUME_ATTEMPTS` times at most; a 4xx (400, 413) ends it at
    once. *progress* is called with the bytes sent so far (it goes back after a resume)."""
    source: BinaryIO = io.BytesIO(data) if isinstance(data, bytes | bytearray | memoryview) else data
    total = source.seek(0, io.SEEK_END)
    start = {
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": str(total),
        "X-Goog-Upload-Header-Content-Type": mime,
        "Content-Type": "application/json",
    }
    metadata = json.dumps({"file": {"displayName": display_name}}, ensure_ascii=False).encode()
    session_url = _retrying(
        lambda: _upload_url(
            _send(client, f"{settings.base_url}/upload/v1beta/files", metadata, start, settings), settings
        ),
        settings,
    )
    if _origin(session_url) != _origin(settings.base_url) or _origin(session_url) is None:
        raise GeminiConnectionError(
            f"the upload URL the server gave is on {_where(session_url)}, not {_where(settings.base_url)}; "
            "the API key is only sent to the configured host"
        )
    offset, failures = 0, 0
    size = piece_bytes(total)
    while True:
        length = min(size, total - offset)
        last = offset + length >= total
        headers = {
            "X-Goog-Upload-Command": "upload, finalize" if last else "upload",
            "X-Goog-Upload-Offset": str(offset),
            "Content-Type": mime,
        }
        piece = _Piece(source, offset, length, progress)
        try:
            answer = _put(client, session_url, piece if length else b"", headers, settings, last)
        except GeminiError as exc:
            failure = _fresh(exc)
        else:
            if last:
                return _file_of(answer)
            offset += length
            continue
        if piece.problem:
            raise GeminiStreamError(piece.problem)
        offset, answer, failures = _resume(client, session_url, settings, failure, (offset, total, failures))
        if answer:  # the session had it all: it answered the query with the File
            return _file_of(answer)
        if progress is not None:
            progress(offset)


def piece_bytes(total: int) -> int:
    """Bytes per upload request: :data:`CHUNK_BYTES` (8 MiB, as the SDK sends), or a multiple of it
    up to 8 × for a big file, still at most a tenth of it: each request costs a round trip in
    which the socket stands idle, and a drop can cost at most one piece, should the server keep
    nothing of it (it says what it kept: ``query``)."""
    return CHUNK_BYTES * max(1, min(MAX_PIECES_PER_REQUEST, total // (10 * CHUNK_BYTES)))


def _resumable(failure: GeminiError) -> bool:
    """A drop, a timeout or a 5xx/429: the session may hold part of the piece; a 4xx will not change."""
    return isinstance(failure, GeminiConnectionError) or (
        isinstance(failure, GeminiAPIError) and failure.code in RETRY_STATUSES
    )


def _gave_up(failure: GeminiError, failures: int, offset: int, total: int) -> GeminiError:
    if not failures or not _resumable(failure):
        return failure
    where = f"{100 * offset // total} %" if total else "the start"
    return GeminiConnectionError(
        f"the upload broke off at {where} and could not resume after {failures} attempts ({failure})"
    )


def _resume(
    client: GeminiClient, url: str, settings: Settings, failure: GeminiError, state: tuple[int, int, int]
) -> tuple[int, dict[str, Any], int]:
    """After *failure*: wait, then ask the session what it holds; (offset, File answer if the
    session is already final, failures so far). A failed query is one more failed attempt."""
    offset, total, failures = state
    while True:
        if not _resumable(failure) or failures >= RESUME_ATTEMPTS:
            raise _gave_up(failure, failures, offset, total)
        failures += 1
        time.sleep(RESUME_DELAYS[min(failures, len(RESUME_DELAYS)) - 1])
        try:
            return (*_query(client, url, settings, total), failures)
        except GeminiError as exc:
            failure = _fresh(exc)


def _query(client: GeminiClient, url: str, settings: Settings, total: int) -> tuple[int, dict[str, Any]]:
    """``X-Goog-Upload-Command: query``: the bytes the session holds (the server may keep fewer than
    were sent: always ask, never trust our own count); a finished session answers with the File."""
    response = _send(client, url, b"", {"X-Goog-Upload-Command": "query"}, settings)
    status = response.headers.get("X-Goog-Upload-Status", "").strip().lower()
    if status == "final":
        return total, _json_of(response, settings)
    received = response.headers.get("X-Goog-Upload-Size-Received", "").strip()
    _done_with(response, settings)
    if status != "active" or not re.fullmatch(r"[0-9]{1,20}", received) or int(received) > total:
        raise GeminiStreamError(
            f"the upload session answered status {status[:40] or '(none)'!r} with {received[:40] or 'no'} bytes "
            "received; it cannot be resumed"
        )
    return int(received), {}


class _Piece:
    """One piece of the upload as an iterable body of known length (requests sends its
    Content-Length, urllib3 each block as it comes): read from *source* at *offset* in blocks of
    :data:`READ_BLOCK`, so no piece is ever in memory whole. A file that ends early (it changed
    since it was hashed) stops the body and leaves :attr:`problem` for the message."""

    def __init__(self, source: BinaryIO, offset: int, length: int, progress: Progress | None) -> None:
        self._source, self._offset, self._length, self._progress = source, offset, length, progress
        self.problem = ""

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        self._source.seek(self._offset)
        sent = 0
        while sent < self._length:
            block = self._source.read(min(READ_BLOCK, self._length - sent))
            if not block:
                self.problem = f"the file ended {self._length - sent:,} bytes early: it changed during the upload"
                raise ValueError(self.problem)
            sent += len(block)
            if self._progress is not None:
                self._progress(self._offset + sent)
            yield block


def _file_of(answer: dict[str, Any]) -> dict[str, Any]:
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
    pending = bytearray()  # the line so far: only each new piece is searched, so a long line costs its length once
    try:
        for piece in _body(response, settings, settings.max_response_bytes):
            start = 0
            while (end := piece.find(b"\n", start)) >= 0:
                pending += piece[start:end]
                if pending.strip():
                    yield bytes(pending)
                pending.clear()
                start = end + 1
            pending += piece[start:]
            if len(pending) > MAX_LINE:
                raise GeminiStreamError(f"a line of {file_name} is over {MAX_LINE >> 20} MB")
        if pending.strip():
            yield bytes(pending)
    except GeminiError as exc:
        raise _fresh(exc) from None
    finally:
        response.close()


def get_object(client: GeminiClient, settings: Settings, url: str, method: str = "GET") -> dict[str, Any]:
    """A GET (or DELETE) whose JSON object may hold an ``error`` field of its own: a failed job's
    Operation, or a FAILED File, is a 200 with an ``error`` beside the rest (wire-batch.md §3),
    which the client's JSON methods would take for an error body and lose the rest."""
    response = _retrying(partial(_send, client, url, None, {}, settings, method), settings)
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
    client: GeminiClient,
    url: str,
    data: bytes | _Piece | None,
    headers: dict[str, str],
    settings: Settings,
    method: str | None = None,
) -> requests.Response:
    """One POST (or GET without *data*, or *method*) to the configured host, through the client's
    own request (its session, its key rules); no redirects; an error status raised."""
    if _origin(url) != _origin(settings.base_url) or _origin(url) is None:
        raise GeminiConnectionError(f"refusing to send the API key to {_where(url)}, not the configured host")
    response = client._request(method or ("GET" if data is None else "POST"), url, data, settings, headers=headers)
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
    client: GeminiClient, url: str, piece: _Piece | bytes, headers: dict[str, str], settings: Settings, last: bool
) -> dict[str, Any]:
    """One piece of the upload; the last one answers with the File."""
    response = _send(client, url, piece, headers, settings)
    if last:
        return _json_of(response, settings)
    _done_with(response, settings)
    return {}


def _done_with(response: requests.Response, settings: Settings) -> None:
    """Read the (empty) rest of an answer, so its connection goes back to the pool for the next
    piece instead of being closed: a new connection for each 8 MB would cost a handshake each."""
    try:
        _read(response, settings, UPLOAD_ANSWER_BYTES)
    except GeminiError:
        pass  # the connection is closed instead: the next request opens one
    finally:
        response.close()


def _upload_url(response: requests.Response, settings: Settings) -> str:
    url = response.headers.get("X-Goog-Upload-URL", "")  # requests' headers ignore case
    _done_with(response, settings)
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
