"""Images the model returned (``inlineData`` parts), decoded once and easy to keep."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

__all__ = ["IMAGE_TYPES", "GeminiImage", "image_of"]

IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp", "image/gif": "gif"}


class GeminiImage:
    """A picture the model made, from ``_gemini.images``; it shows itself when it ends a cell.

    ``.save("x.png")`` writes it to a file, ``.data`` is its bytes (e.g. for
    ``PIL.Image.open(io.BytesIO(image.data))``), ``.mime_type`` its type, such as ``"image/png"``.
    """

    def __init__(self, mime_type: str, data: bytes) -> None:
        self.mime_type = mime_type
        self.data = data

    @property
    def extension(self) -> str:
        """The usual file extension for the image type, without the dot (``"png"``, ``"jpg"``…)."""
        return IMAGE_TYPES.get(self.mime_type, "bin").replace("jpeg", "jpg")

    def save(self, path: str | Path) -> Path:
        """Write the image to *path* and return where it went; a folder or a name without suffix
        gets a file name or suffix from the image type."""
        target = Path(path)
        if target.is_dir():
            target = target / f"gemini-image.{self.extension}"
        elif not target.suffix:
            target = target.with_suffix(f".{self.extension}")
        target.write_bytes(self.data)
        return target

    def base64(self) -> str:
        """The bytes as base64 text, e.g. for a ``data:`` URL or to send the image back to a model."""
        return base64.b64encode(self.data).decode("ascii")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {self.mime_type: self.data, "text/plain": repr(self)}

    def __repr__(self) -> str:
        return f"GeminiImage({self.mime_type}, {len(self.data):,} bytes)"


def image_of(part: dict[str, Any]) -> GeminiImage | None:
    """The image in an ``inlineData`` part, or None (not an image type, or not valid base64)."""
    inline = part.get("inlineData")
    if not isinstance(inline, dict):
        return None
    mime = str(inline.get("mimeType", "")).lower()
    if mime not in IMAGE_TYPES:
        return None
    raw = str(inline.get("data", ""))
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        try:  # proto3 JSON also allows URL-safe, unpadded base64
            data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        except (binascii.Error, ValueError):
            return None
    return GeminiImage(mime, data) if data else None
