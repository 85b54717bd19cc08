"""``--attach X``: notebook objects and files as request parts.

Images (PIL images, matplotlib figures, image bytes, .png/.jpg/.webp/.gif files) and PDFs go as
``inlineData``; text, CSV, JSON and source files as text parts naming the file; pandas DataFrames
as a compact CSV table with the row cap stated in the prompt. Sizes are checked before anything is
sent: an inline request may not exceed 20 MB (shared/gemini-wire.md; larger files need the Files API).
Only regular files are read, and never past their cap: a FIFO, a device or a socket would hang the
cell or never end, and a kernel file like ``/proc/self/environ`` says "0 bytes" but holds secrets.
"""

from __future__ import annotations

import base64
import io
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

__all__ = ["MAX_REQUEST_BYTES", "attachment_parts", "check_size", "read_regular"]

MAX_REQUEST_BYTES = 20 * 1024 * 1024
DATAFRAME_ROWS = 200
_BINARY = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
           ".gif": "image/gif", ".pdf": "application/pdf"}  # fmt: skip
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"),
          (b"%PDF-", "application/pdf"))  # fmt: skip
_TEXT_LIMIT = 2 * 1024 * 1024


def attachment_parts(names: tuple[str, ...], namespace: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One part per ``--attach`` value: a variable when one is so named, else a file path."""
    return [_part(name, namespace) for name in names]


def _part(name: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    if name.isidentifier() and name in namespace:
        return _object_part(name, namespace[name])
    return _file_part(name, Path(name).expanduser(), "no notebook variable and no file by that name")


def _inline(mime: str, data: bytes) -> dict[str, Any]:
    return {"inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode("ascii")}}


def _object_part(name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        mime = _sniff(data)
        if mime is None:
            raise UsageError(f"--attach {name}: bytes that are not PNG, JPEG, WebP, GIF or PDF")
        return _inline(mime, data)
    if hasattr(value, "savefig"):  # a matplotlib Figure
        buffer = io.BytesIO()
        value.savefig(buffer, format="png", bbox_inches="tight")
        return _inline("image/png", buffer.getvalue())
    if hasattr(value, "save") and hasattr(value, "mode") and hasattr(value, "size"):  # a PIL Image
        buffer = io.BytesIO()
        image = value if value.mode in ("RGB", "RGBA", "L", "LA", "P") else value.convert("RGBA")
        image.save(buffer, format="PNG")
        return _inline("image/png", buffer.getvalue())
    if hasattr(value, "to_csv") and hasattr(value, "shape"):  # a pandas DataFrame (or Series)
        return {"text": _dataframe_text(name, value)}
    if isinstance(value, str):
        return {"text": f"`{name}`:\n\n{value}"}
    if isinstance(value, Path):
        return _file_part(name, value.expanduser(), f"no file at {value}")
    raise UsageError(
        f"--attach {name}: cannot send a {type(value).__name__} "
        "(attach images, figures, bytes, DataFrames, strings or file paths)"
    )


def _dataframe_text(name: str, frame: Any) -> str:
    rows = frame.shape[0]
    shape = f"{rows} rows × {frame.shape[1]} columns" if len(frame.shape) > 1 else f"{rows} rows"
    shown = frame.head(DATAFRAME_ROWS)
    cap = f"; the first {DATAFRAME_ROWS} rows are shown" if rows > DATAFRAME_ROWS else ""
    return f"DataFrame `{name}` ({shape}{cap}), as CSV:\n\n```csv\n{shown.to_csv()}```"


def _file_part(name: str, path: Path, missing: str) -> dict[str, Any]:
    suffix = path.suffix.lower()
    try:
        data = read_regular(path, MAX_REQUEST_BYTES if suffix in _BINARY else _TEXT_LIMIT)
    except FileNotFoundError:
        raise UsageError(f"--attach {name}: {missing}") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"--attach {name}: {reason}") from None
    if suffix in _BINARY:
        return _inline(_BINARY[suffix], data)
    try:
        text = data.decode("utf-8").replace("\r\n", "\n")
    except UnicodeDecodeError:
        raise UsageError(f"--attach {name}: not a text file, nor an image or PDF") from None
    fence = "csv" if suffix == ".csv" else suffix.lstrip(".")
    return {"text": f"File `{path.name}`:\n\n```{fence}\n{text}\n```"}


def read_regular(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file at *path*, refused (``ValueError`` with the reason) when it is
    not one, is over *limit* bytes, or says it is empty but is not (a kernel pseudo-file).

    Opened non-blocking so a FIFO cannot hang the cell; the opened file itself is checked, so a
    swapped symlink cannot slip past; at most ``limit + 1`` bytes are read. ``OSError`` passes on.
    """
    over = f"is over the {limit / 2**20:g} MB limit"
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ValueError("is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("is not a regular file (a device, pipe or socket)")
        if info.st_size > limit:
            raise ValueError(over)
        handle = open(fd, "rb")  # noqa: SIM115 - closed just below; until then the fd is closed on error
    except BaseException:
        os.close(fd)
        raise
    with handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(over)
    if data and not info.st_size:
        raise ValueError("says it is empty but is not: a kernel pseudo-file (like /proc/self/environ)")
    return data


def _sniff(data: bytes) -> str | None:
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_size(body_bytes: int) -> None:
    """Refuse, before sending, a request over the inline limit."""
    if body_bytes > MAX_REQUEST_BYTES:
        raise UsageError(
            f"the request is {body_bytes / 1e6:.1f} MB, over the 20 MB limit for inline data; "
            "attach fewer or smaller files"
        )
