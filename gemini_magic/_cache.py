"""``--cache``: answers kept on disk, keyed by the full request, so re-runs are free and offline.

The key is a SHA-256 of the endpoint path (model and method), the host and the canonical JSON body
— never the API key, which is not part of the request body or URL. Entries are the merged response
as JSON, written atomically. The default folder, ``.gemini-cache`` beside the notebook, can travel
with a class notebook so students re-run it without a key.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["ResponseCache"]


class ResponseCache:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).expanduser()

    @staticmethod
    def key(url: str, body: dict[str, Any]) -> str:
        parts = urlsplit(url)
        # streaming or not gives the same answer: the method is left out of the key
        path = parts.path.replace(":streamGenerateContent", ":generateContent")
        canonical = json.dumps({"host": parts.netloc, "path": path, "body": body}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def put(self, key: str, response: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(response, handle, ensure_ascii=False)
        os.replace(temp, self._path(key))

    def clear(self) -> int:
        """Delete every entry; returns how many there were."""
        count = 0
        if self.folder.is_dir():
            for entry in self.folder.glob("*.json"):
                entry.unlink()
                count += 1
        return count
