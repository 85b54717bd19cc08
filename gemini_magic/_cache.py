"""``--cache``: answers kept on disk, keyed by the full request, so re-runs are free and offline.

The key is a SHA-256 of the endpoint path (model and method), the host and the canonical JSON body
— never the API key, which is not part of the request body or URL. Entries are the merged response
as JSON, written atomically. The default folder, ``.gemini-cache`` beside the notebook, can travel
with a class notebook so students re-run it without a key.

The cache only ever saves work: an entry that is not a regular file, too large or not a JSON
object is a miss, and a folder that cannot be written (read-only, full disk) leaves the answer
shown and no temporary file behind. Either is one line on stderr.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ._attach import read_regular
from ._errors import warn_line

__all__ = ["MAX_ENTRY_BYTES", "ResponseCache"]

MAX_ENTRY_BYTES = 64 * 1024 * 1024  # far above any real answer (inline images included)
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def _warn(message: str) -> None:
    warn_line(f"gemini-magic: {message}")


def _warn_miss(path: Path, reason: str) -> None:
    _warn(f"cache entry {path}: {reason}; treated as a miss")


class ResponseCache:
    """The ``--cache`` folder: one JSON file per request key; reading it never fails a call."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).expanduser()

    @staticmethod
    def key(url: str, body: dict[str, Any]) -> str:
        """The entry name for a request: SHA-256 of host, model path and body (never the API key)."""
        parts = urlsplit(url)
        # streaming or not gives the same answer: the method is left out of the key
        path = parts.path.replace(":streamGenerateContent", ":generateContent")
        canonical = json.dumps({"host": parts.netloc, "path": path, "body": body}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored response, or None: a missing, unreadable or corrupt entry is a miss."""
        path = self._path(key)
        try:
            raw = read_regular(path, MAX_ENTRY_BYTES)
        except (FileNotFoundError, NotADirectoryError):  # nothing cached (a bad folder is reported by put)
            return None
        except (OSError, ValueError) as exc:
            _warn_miss(path, exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc))
            return None
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            _warn_miss(path, "is not valid JSON")
            return None
        if isinstance(data, dict):
            return data
        _warn_miss(path, "is not a JSON object")
        return None

    def put(self, key: str, response: dict[str, Any]) -> None:
        """Save atomically; a failure to save is reported, never raised (the answer is already shown).

        The entry is written to a temporary file named for this key, process and thread (no two
        writers share one, so no random names are needed) and renamed into place: a reader, or a
        kernel that dies mid-write, sees the whole entry or none. The folder is made on the first
        write that finds it missing, not checked on every one (a ``--each`` job writes thousands).
        """
        data = json.dumps(response, ensure_ascii=False).encode()
        if len(data) > MAX_ENTRY_BYTES:
            _warn(f"answer not cached: {len(data) / 2**20:.0f} MB is over the {MAX_ENTRY_BYTES >> 20} MB limit")
            return
        temp = self.folder / f"{key}.{os.getpid()}.{threading.get_ident()}.tmp"
        made = False  # the temporary file exists, and is ours to remove
        try:
            try:
                fd = os.open(temp, _WRITE_FLAGS, 0o600)
            except FileNotFoundError:
                self.folder.mkdir(parents=True, exist_ok=True)
                fd = os.open(temp, _WRITE_FLAGS, 0o600)
            made = True
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temp, self._path(key))
            made = False
        except OSError as exc:
            _warn(f"answer not cached in {self.folder}: {exc.strerror or exc}")
        finally:
            if made:
                with contextlib.suppress(OSError):
                    os.unlink(temp)

    def clear(self) -> int:
        """Delete every entry (regular files only); returns how many there were."""
        count = 0
        if self.folder.is_dir():
            for entry in self.folder.glob("*.json"):
                if stat.S_ISREG(entry.lstat().st_mode):
                    entry.unlink()
                    count += 1
        return count
