"""``--attach X``: notebook objects and files as request parts.

Images (PIL images, matplotlib figures, image bytes, .png/.jpg/.webp/.gif files) and PDFs go as
``inlineData``; text, CSV, JSON and source files as text parts naming the file; pandas DataFrames
as a compact CSV table with the row cap stated in the prompt. Sizes are checked before anything is
sent: an inline request may not exceed 20 MB (shared/gemini-wire.md; larger files need the Files API).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

__all__ = ["MAX_REQUEST_BYTES", "attachment_parts", "check_size"]

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
    path = Path(name).expanduser()
    if path.is_file():
        return _file_part(path)
    if path.exists():
        raise UsageError(f"--attach {name}: is a directory, not a file")
    raise UsageError(f"--attach {name}: no notebook variable and no file by that name")


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
        return _file_part(value)
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


def _file_part(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    size = path.stat().st_size
    if size > MAX_REQUEST_BYTES:
        raise UsageError(f"--attach {path}: {size / 1e6:.1f} MB is over the 20 MB an inline request may carry")
    if suffix in _BINARY:
        return _inline(_BINARY[suffix], path.read_bytes())
    if size > _TEXT_LIMIT:
        raise UsageError(f"--attach {path}: {size / 1e6:.1f} MB of text is too much to send inline")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"--attach {path}: not a text file, nor an image or PDF") from None
    fence = "csv" if suffix == ".csv" else suffix.lstrip(".")
    return {"text": f"File `{path.name}`:\n\n```{fence}\n{text}\n```"}


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
            f"the request is {body_bytes / 1e6:.1f} MB, over the 20 MB limit for inline data; attach fewer or smaller files"
        )
