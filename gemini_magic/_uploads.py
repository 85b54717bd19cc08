"""Files API uploads for ``--attach``, reused while they live, and ``%gemini files``.

A file is uploaded once per content: its SHA-256 (streamed, and kept in memory per path, size and
mtime, so ``--each`` over a 2 GB video hashes it once) names a small JSON record in
``{cache_dir}/uploads`` (the response cache's rules: atomic writes, a corrupt record is a miss)
holding the File's name, URI, type and ``expirationTime``. A record is used while the file has more
than :data:`EXPIRY_MARGIN` to live (48 h from upload) and the server still has it (a GET; 403 or
404 means gone: upload again). New uploads go through :func:`._files.upload` (streamed from disk,
resumed after a drop) with an :class:`._upload_bar.UploadBar`, then ``files/NAME`` is polled until
``ACTIVE`` (video is ``PROCESSING`` first). Failures are one line naming the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from IPython.core.error import UsageError

from ._attach import Media, Uploader, open_regular
from ._call import _one_line_errors
from ._errors import GeminiAnswerError, GeminiAPIError, GeminiError, GeminiStreamError
from ._file_list import files_command, list_files
from ._upload_bar import UploadBar, megabytes
from ._upload_records import FILE_NAME, LIFETIME, UploadRecords, epoch, stamp

if TYPE_CHECKING:
    from ._client import GeminiClient
    from ._display import ViewFactory
    from ._settings import Settings

__all__ = [
    "EXPIRY_MARGIN",
    "POLL_DELAYS",
    "current_view",
    "files_command",
    "list_files",
    "progress_view",
    "upload_bytes",
    "upload_path",
    "uploader",
]

EXPIRY_MARGIN = 2 * 3600  # a file with less left is uploaded again: a chat may go on using it for a while
VERIFIED_FOR = 60.0  # seconds a reused file checked with the server is trusted without asking again
POLL_DELAYS: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0)  # between state checks, the last one repeated
MAX_PROCESSING = 900.0  # seconds of PROCESSING before giving up
HASH_BLOCK = 1 << 20

_digests: dict[tuple[int, int, int, int], str] = {}  # (device, inode, size, mtime) → sha256
_verified: dict[str, float] = {}  # record key → when the server last said it has the file
_locks: dict[str, threading.Lock] = {}  # one upload per content at a time (--each runs rows in threads)
_guard = threading.Lock()


#: The view kind of the call being prepared (``_api.ask`` sets it with :func:`progress_view`); unset,
#: the running shell's (widgets under a kernel, else the stderr line).
_VIEW: ContextVar[ViewFactory | None] = ContextVar("gemini_magic_upload_view", default=None)


@contextlib.contextmanager
def progress_view(new_view: ViewFactory) -> Iterator[None]:
    """Show upload bars of *new_view*'s kind (``SilentView``: none) while the call is prepared."""
    token = _VIEW.set(new_view)
    try:
        yield
    finally:
        _VIEW.reset(token)


def current_view() -> ViewFactory:
    """The view kind for an upload bar now."""
    view = _VIEW.get()
    if view is None:
        from IPython import get_ipython

        from ._display import view_factory

        view = view_factory(get_ipython())
    return view


def uploader(client: GeminiClient, settings: Settings, new_view: ViewFactory | None = None) -> Uploader:
    """What ``attachment_parts(..., upload=…)`` calls for each attachment that goes through the Files API."""

    def upload(media: Media) -> dict[str, Any]:
        if media.path is not None:
            return upload_path(client, settings, media.path, media.mime, progress=new_view, label=media.label)
        assert media.data is not None
        return upload_bytes(client, settings, media.data, media.mime, media.label, progress=new_view)

    return upload


@_one_line_errors
def upload_path(
    client: GeminiClient,
    settings: Settings,
    path: Path,
    mime: str,
    *,
    progress: ViewFactory | None = None,
    label: str = "",
) -> dict[str, Any]:
    """The ``fileData`` part for the file at *path*: a live upload of the same content, else a
    new one streamed from disk; *progress* is the view kind for the bar (None: no bar)."""
    label = label or path.name
    try:
        handle = open_regular(path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--attach {label}: {exc.strerror if isinstance(exc, OSError) else exc}") from None
    with handle:
        info = os.fstat(handle.fileno())
        identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
        content = _Content(handle, info.st_size, _digests.get(identity, ""), mime, label, identity)
        return _place(client, settings, content, progress)


@_one_line_errors
def upload_bytes(
    client: GeminiClient, settings: Settings, data: bytes, mime: str, label: str, *, progress: ViewFactory | None = None
) -> dict[str, Any]:
    """:func:`upload_path` for bytes already in memory (a variable)."""
    content = _Content(io.BytesIO(data), len(data), hashlib.sha256(data).hexdigest(), mime, label)
    return _place(client, settings, content, progress)


class _Content(NamedTuple):
    """What is uploaded: the open file (or bytes), its size and SHA-256, its type and name."""

    source: BinaryIO
    size: int
    digest: str  # "" until known: a file of a size never uploaded is hashed beside its upload
    mime: str
    label: str
    identity: tuple[int, int, int, int] | None = None  # (device, inode, size, mtime): its digest is kept

    def known(self, digest: str) -> _Content:
        if self.identity is not None:
            _digests[self.identity] = digest
        return self._replace(digest=digest)


def _place(client: GeminiClient, settings: Settings, content: _Content, progress: ViewFactory | None) -> dict[str, Any]:
    """Reuse or upload. Only content of a size uploaded before can be a reuse, so a file of a new
    size goes up at once, hashed by a thread beside the upload, not before it (the hash would add
    its whole time to the upload's: at 1.4 GB/s, as long as a fast link takes to send it)."""
    records = UploadRecords(settings)
    label = content.label
    with _guard:
        lock = _locks.setdefault(f"{settings.base_url}\n{content.size}", threading.Lock())
    with lock:
        if not content.digest and records.has_size(content.size):
            content = content.known(_digest(content.source))
        key = records.key(settings, content.size, content.digest) if content.digest else ""
        file = _reusable(client, settings, key) if key else None
        if file is None or file.get("state") not in ("ACTIVE", None):
            with UploadBar(label, content.size, progress) as bar:
                if file is None:
                    file, key = _upload(client, settings, content, bar)
                file = _until_active(client, settings, file, label, bar)
                state = file.get("state", "ACTIVE")
                bar.done(f"↑ {label}: {megabytes(content.size)} uploaded as {file.get('name')} ({state})")
        if key:
            _verified[key] = time.monotonic()
    uri = file.get("uri")
    if not isinstance(uri, str) or not uri:
        raise GeminiStreamError(f"the Files API gave no uri for {label} ({file.get('name')!r:.60})")
    return {"fileData": {"mimeType": content.mime, "fileUri": uri}}


def _digest(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    handle.seek(0)
    while block := handle.read(HASH_BLOCK):
        digest.update(block)
    return digest.hexdigest()


class _Hasher(threading.Thread):
    """SHA-256 of an open file, read with ``pread`` (its own offsets) while the upload reads the
    same file; hashlib lets go of the GIL, so the two run side by side."""

    def __init__(self, fd: int, size: int) -> None:
        super().__init__(name="gemini-magic-hash", daemon=True)
        self.fd, self.size, self.digest = fd, size, ""
        self.stop = threading.Event()

    def run(self) -> None:
        digest, offset = hashlib.sha256(), 0
        while offset < self.size and not self.stop.is_set():
            block = os.pread(self.fd, min(HASH_BLOCK, self.size - offset), offset)
            if not block:
                return  # shorter than it was: nothing to record
            digest.update(block)
            offset += len(block)
        if offset == self.size:
            self.digest = digest.hexdigest()


def _upload(client: GeminiClient, settings: Settings, content: _Content, bar: UploadBar) -> tuple[dict[str, Any], str]:
    """Upload, record (when the digest is known), and return the File and its record key."""
    hasher = None if content.digest else _Hasher(content.source.fileno(), content.size)
    if hasher is not None:
        hasher.start()
    done = False
    try:
        file = _send_file(client, settings, content, bar)
        done = True
    finally:
        if hasher is not None:
            if not done:
                hasher.stop.set()
            hasher.join()
    if hasher is not None and hasher.digest:
        content = content.known(hasher.digest)
    if not content.digest:
        return file, ""
    records = UploadRecords(settings)
    key = records.key(settings, content.size, content.digest)
    record = {"sha256": content.digest, "size": content.size, "base_url": settings.base_url}
    record.update({k: file[k] for k in ("name", "uri", "mimeType", "displayName") if k in file})
    record["expirationTime"] = file.get("expirationTime") or stamp(time.time() + LIFETIME)
    records.put(key, record)
    return file, key


def _send_file(client: GeminiClient, settings: Settings, content: _Content, bar: UploadBar) -> dict[str, Any]:
    from ._files import upload

    label = content.label
    try:
        return upload(client, settings, content.source, content.mime, label[-512:], progress=bar.sent)
    except GeminiAPIError as exc:
        raise GeminiAPIError(exc.code, exc.status, f"uploading {label}: {exc.message}", exc.details) from None
    except GeminiError as exc:
        raise type(exc)(f"uploading {label}: {exc}") from None


def _until_active(
    client: GeminiClient, settings: Settings, file: dict[str, Any], label: str, bar: UploadBar
) -> dict[str, Any]:
    """Poll ``files/NAME`` while it is PROCESSING; FAILED is one line with the server's reason."""
    from ._files import get_object

    started = time.monotonic()
    polls = 0
    while file.get("state") not in ("ACTIVE", "FAILED", None):
        waited = time.monotonic() - started
        if waited > MAX_PROCESSING:
            raise GeminiStreamError(f"{label} was still {file.get('state')} after {MAX_PROCESSING / 60:g} min")
        bar.status(f"{str(file.get('state'))[:20]} {waited:.0f} s")
        time.sleep(POLL_DELAYS[min(polls, len(POLL_DELAYS) - 1)])
        polls += 1
        file = get_object(client, settings, f"{settings.base_url}/v1beta/{file.get('name')}")
    if file.get("state") == "FAILED":
        error = file["error"] if isinstance(file.get("error"), dict) else {}
        raise GeminiAnswerError(f"the Files API could not process {label}: {error.get('message') or 'no reason given'}")
    return file


def _reusable(client: GeminiClient, settings: Settings, key: str) -> dict[str, Any] | None:
    """The recorded File for this content, if it lives long enough yet and the server still has it."""
    from ._files import get_object

    records = UploadRecords(settings)
    record = records.get(key)
    if record is None or not FILE_NAME.match(str(record.get("name", ""))):
        return None
    if epoch(record.get("expirationTime")) - time.time() < EXPIRY_MARGIN:
        return None
    if time.monotonic() - _verified.get(key, float("-inf")) < VERIFIED_FOR:
        return record
    try:
        file = get_object(client, settings, f"{settings.base_url}/v1beta/{record['name']}")
    except GeminiAPIError as exc:
        if exc.code not in (403, 404):  # else: deleted, expired, or another key's project
            raise
        file = {"state": "FAILED"}
    if file.get("state") == "FAILED":
        records.forget(key)
        _verified.pop(key, None)
        return None
    return {**record, **file}
