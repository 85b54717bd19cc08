"""Images the model returned (``inlineData`` parts), decoded once and easy to keep."""

from __future__ import annotations

import base64
import binascii
import struct
from pathlib import Path
from typing import Any

__all__ = ["IMAGE_TYPES", "GeminiImage", "decode_base64", "image_of", "pixel_size", "save_bytes"]

IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp", "image/gif": "gif"}


class GeminiImage:
    """A picture the model made, from ``_gemini.images``; it shows itself when it ends a cell.

    ``.save("x.png")`` writes it to a file, ``.data`` is its bytes (e.g. for
    ``PIL.Image.open(io.BytesIO(image.data))``), ``.mime_type`` its type, such as ``"image/png"``,
    ``.size`` its ``(width, height)`` in pixels (what ``--image-size 2K`` asked for).
    """

    def __init__(self, mime_type: str, data: bytes) -> None:
        self.mime_type = mime_type
        self.data = data
        self.size = pixel_size(data)

    @property
    def extension(self) -> str:
        """The usual file extension for the image type, without the dot (``"png"``, ``"jpg"``…)."""
        return IMAGE_TYPES.get(self.mime_type, "bin").replace("jpeg", "jpg")

    def save(self, path: str | Path) -> Path:
        """Write the image to *path* and return where it went; a folder or a name without suffix
        gets a file name or suffix from the image type."""
        return save_bytes(self.data, path, f"gemini-image.{self.extension}")

    def base64(self) -> str:
        """The bytes as base64 text, e.g. for a ``data:`` URL or to send the image back to a model."""
        return base64.b64encode(self.data).decode("ascii")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {self.mime_type: self.data, "text/plain": repr(self)}

    def __repr__(self) -> str:
        size = f"{self.size[0]}×{self.size[1]}, " if self.size else ""
        return f"GeminiImage({self.mime_type}, {size}{len(self.data):,} bytes)"


def save_bytes(data: bytes, path: str | Path, default_name: str) -> Path:
    """Write *data* to *path*: into a folder as *default_name*, and a name without a suffix gets
    *default_name*'s suffix. Returns where it went."""
    target = Path(path)
    if target.is_dir():
        target = target / default_name
    elif not target.suffix:
        target = target.with_suffix(Path(default_name).suffix)
    target.write_bytes(data)
    return target


def pixel_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` read from a PNG, GIF, WebP or JPEG header (no imaging library); None if unknown."""
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return width, height
        if data[:6] in (b"GIF87a", b"GIF89a"):
            width, height = struct.unpack("<HH", data[6:10])
            return width, height
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_size(data)
        if data[:2] == b"\xff\xd8":
            return _jpeg_size(data)
    except struct.error:  # a header cut short
        return None
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Walk the JPEG segments to the first start-of-frame marker, which holds the size."""
    position = 2
    while position + 9 < len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            position += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return None


def decode_base64(raw: str) -> bytes | None:
    """Standard base64, or the URL-safe unpadded kind proto3 JSON also allows; None if neither."""
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        try:
            return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        except (binascii.Error, ValueError):
            return None


def image_of(part: dict[str, Any]) -> GeminiImage | None:
    """The image in an ``inlineData`` part, or None (not an image type, or not valid base64)."""
    inline = part.get("inlineData")
    if not isinstance(inline, dict):
        return None
    mime = str(inline.get("mimeType", "")).lower()
    if mime not in IMAGE_TYPES:
        return None
    data = decode_base64(str(inline.get("data", "")))
    return GeminiImage(mime, data) if data else None
