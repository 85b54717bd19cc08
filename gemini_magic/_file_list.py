"""``%gemini files``: the Files API's files of this key, every page, as a table (also in
``_gemini_files``); ``%gemini files delete NAME`` and ``delete --all``. A deleted file's upload
record is forgotten too, so the next ``--attach`` of that content uploads it again.
"""

from __future__ import annotations

import re
import shlex
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from IPython.core.error import UsageError

from ._call import _one_line_errors
from ._errors import GeminiStreamError
from ._upload_bar import megabytes
from ._upload_records import FILE_NAME, UploadRecords, epoch, stamp

if TYPE_CHECKING:
    from ._client import GeminiClient
    from ._magics import GeminiMagic
    from ._settings import Settings

__all__ = ["files_command", "list_files"]

MAX_PAGES = 100  # 10,000 files at 100 a page


def list_files(client: GeminiClient, settings: Settings, page_size: int = 100) -> list[dict[str, Any]]:
    """Every page of ``GET /v1beta/files``."""
    files: list[dict[str, Any]] = []
    token = ""
    for _ in range(MAX_PAGES):
        query = {"pageSize": page_size, **({"pageToken": token} if token else {})}
        page = client.get(f"{settings.base_url}/v1beta/files?{urlencode(query)}", settings)
        items, token = page.get("files", []), page.get("nextPageToken", "")
        if not isinstance(items, list) or not isinstance(token, str):
            raise GeminiStreamError("malformed file list: files is not a list or nextPageToken not a string")
        files += [item for item in items if isinstance(item, dict)]
        if not token:
            break
    return files


@_one_line_errors
def files_command(magic: GeminiMagic, rest: str) -> None:
    """``%gemini files`` (a table, also in ``_gemini_files``), ``%gemini files delete NAME|--all``."""
    from ._bundles import table_bundle, text_bundle
    from ._display import show
    from ._options import Options

    words = shlex.split(rest)
    if words and (words[0] != "delete" or len(words) != 2):
        raise UsageError("usage: %gemini files | %gemini files delete NAME | %gemini files delete --all")
    settings = magic.settings(Options())
    if not words:
        files = list_files(magic.client, settings)
        magic.namespace["_gemini_files"] = files
        show(table_bundle(_HEADER, [_row(f) for f in files], _caption(len(files))))
        return
    names = [str(f.get("name")) for f in list_files(magic.client, settings)] if words[1] == "--all" else [words[1]]
    for name in names:
        _delete(magic.client, settings, name)
    show(text_bundle(f"Deleted {len(names)} file{'s' if len(names) != 1 else ''}: {', '.join(names)[:300]}"))


_HEADER = ("name", "display name", "type", "size", "state", "expires (UTC)")


def _caption(count: int) -> str:
    files = f"{count} file{'s' if count != 1 else ''}"
    return f"{files} · deleted automatically 48 h after upload · %gemini files delete NAME"


def _row(file: dict[str, Any]) -> tuple[str, ...]:
    size = str(file.get("sizeBytes", ""))
    expires = epoch(file.get("expirationTime"))
    left = f" (in {max(0, expires - time.time()) / 3600:.0f} h)" if expires else ""
    return (
        str(file.get("name", "")),
        str(file.get("displayName", ""))[:60],
        str(file.get("mimeType", "")),
        megabytes(int(size)) if re.fullmatch(r"[0-9]{1,20}", size) else "",
        str(file.get("state", "")),
        (stamp(expires)[:16].replace("T", " ") + left) if expires else "",
    )


def _delete(client: GeminiClient, settings: Settings, name: str) -> None:
    from ._files import get_object

    match = FILE_NAME.match(name)
    if not match:
        raise UsageError(f"{name[:80]!r} is not a file name (files/… as %gemini files lists them)")
    get_object(client, settings, f"{settings.base_url}/v1beta/files/{match.group(1)}", "DELETE")
    UploadRecords(settings).forget_name(f"files/{match.group(1)}")
