"""What was uploaded, kept so the same content is not uploaded again while the server keeps it.

One small JSON file per content in ``{cache_dir}/uploads``, named by its size and a hash of the host
and the file's SHA-256 (never the key), holding the File's name, URI, type, size and ``expirationTime``.
The response cache's rules apply (:class:`._cache.ResponseCache`: regular files only, a size cap,
atomic writes; a corrupt record is a miss with one warning line). Records older than a file's
48 h lifetime are deleted whenever a new one is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import stat
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._settings import Settings

__all__ = ["FILE_NAME", "LIFETIME", "UploadRecords", "epoch", "stamp"]

FOLDER = "uploads"  # inside the cache folder
LIFETIME = 48 * 3600  # seconds a file lives on the server
FILE_NAME = re.compile(r"^(?:files/)?([a-z0-9-]{1,40})\Z")  # files/ID, the ID as the API makes them


class UploadRecords:
    """The records of one cache folder."""

    def __init__(self, settings: Settings) -> None:
        from ._cache import ResponseCache

        self._store = ResponseCache(Path(settings.cache_dir) / FOLDER)

    @staticmethod
    def key(settings: Settings, size: int, digest: str) -> str:
        """The record's name: the size (see :meth:`has_size`), then a hash of the host and the SHA-256."""
        named = hashlib.sha256(f"{settings.base_url} {digest}".encode()).hexdigest()
        return f"{size}-{named}"

    def has_size(self, size: int) -> bool:
        """Whether any record is of content of *size* bytes: else none can be the same content."""
        try:
            return any(self._store.folder.glob(f"{size}-*.json"))
        except OSError:
            return False

    def get(self, key: str) -> dict[str, Any] | None:
        """The record for *key*, if there is a readable one that says it is for *key*."""
        record = self._store.get(key)
        return record if record is not None and record.get("key") == key else None

    def put(self, key: str, record: dict[str, Any]) -> None:
        """Keep *record* (a failure to write is one warning line: the upload still counts)."""
        self._store.put(key, {**record, "key": key})
        self._prune()

    def forget(self, key: str) -> None:
        with contextlib.suppress(OSError):
            (self._store.folder / f"{key}.json").unlink()

    def forget_name(self, name: str) -> None:
        """Forget every record of the File *name* (``%gemini files delete``)."""
        with contextlib.suppress(OSError):
            for entry in self._store.folder.glob("*.json"):
                record = self.get(entry.stem)
                if record is not None and record.get("name") == name:
                    self.forget(entry.stem)

    def _prune(self) -> None:
        with contextlib.suppress(OSError):
            for entry in self._store.folder.glob("*.json"):
                info = entry.lstat()
                if stat.S_ISREG(info.st_mode) and time.time() - info.st_mtime > LIFETIME:
                    entry.unlink()


def epoch(moment: Any) -> float:
    """Seconds since 1970 of an RFC 3339 time (nanoseconds allowed); 0 for anything else (also a
    time whose offset takes it out of the years 1-9999, which :func:`stamp` could not show)."""
    if not isinstance(moment, str):
        return 0.0
    try:
        parsed = datetime.fromisoformat(re.sub(r"(\.\d{1,6})\d*", r"\1", moment.strip()).replace("Z", "+00:00"))
        return parsed.replace(tzinfo=parsed.tzinfo or timezone.utc).astimezone(timezone.utc).timestamp()
    except (ValueError, OverflowError):
        return 0.0


def stamp(seconds: float) -> str:
    """RFC 3339 UTC, to the second."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
