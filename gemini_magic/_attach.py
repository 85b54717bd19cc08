"""``--attach X``: notebook objects, files and YouTube links as request parts.

Images (PIL images, matplotlib figures, image bytes, .png/.jpg/.webp/.gif files), PDFs, audio (wav,
mp3, aiff, aac, ogg, flac; bytes, ``IPython.display.Audio``) and video (mp4, mpeg, mov, avi, flv,
mpg, webm, wmv, 3gp) are :class:`Media`, named by extension and first bytes (:mod:`._media`); they
go as ``inlineData`` while the request stays under 20 MB (shared/wire-media.md §1.1: the limit every
host takes), else, the largest first, through the Files API as ``fileData`` — as every video does
(read by the upload piece by piece, never whole). YouTube links go as ``fileData`` with the watch
URL. Text, CSV, JSON and source files go as text parts naming the file; pandas DataFrames as a
compact CSV table with the row cap stated in the prompt.

Only regular files are read, and never past their cap: a FIFO, a device or a socket would hang the
cell or never end, and a kernel file like ``/proc/self/environ`` says "0 bytes" but holds secrets.
"""

from __future__ import annotations

import base64
import io
import json
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from IPython.core.error import UsageError

from ._media import HEAD_BYTES, is_video, looks_like_youtube, media_type, sniff, youtube_url

__all__ = [
    "MAX_REQUEST_BYTES",
    "Media",
    "Uploader",
    "attachment_parts",
    "check_size",
    "open_regular",
    "read_regular",
]

MAX_REQUEST_BYTES = 20 * 1024 * 1024
FILES_API_LIMIT = 2 << 30  # 2 GB a file (wire-media.md §1.1)
DATAFRAME_ROWS = 200
_TEXT_LIMIT = 2 * 1024 * 1024
_PART_OVERHEAD = 100  # the JSON around one inlineData part
_KINDS = "PNG, JPEG, WebP, GIF, PDF, audio or video"


@dataclass(frozen=True)
class Media:
    """A binary attachment not yet placed: sent inline, or uploaded through the Files API."""

    label: str  # the --attach value, for messages
    mime: str
    size: int
    data: bytes | None = None  # a variable's bytes…
    path: Path | None = None  # …or a file, read only once it is sent

    def read(self) -> bytes:
        """The bytes, for an inline part (a file is read now, within the inline limit)."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        data: bytes = _checked(self.label, "the file is gone", lambda: read_regular(self.path or "", MAX_REQUEST_BYTES))
        return data

    @property
    def inline_cost(self) -> int:
        """Bytes it adds to the request as base64."""
        return 4 * -(-self.size // 3) + _PART_OVERHEAD


#: Sends one :class:`Media` through the Files API; returns its ``fileData`` part.
Uploader = Callable[[Media], dict[str, Any]]


def attachment_parts(
    names: tuple[str, ...],
    namespace: Mapping[str, Any],
    *,
    room: int = MAX_REQUEST_BYTES,
    upload: Uploader | None = None,
) -> list[dict[str, Any]]:
    """One part per ``--attach`` value (a variable when one is so named, else a YouTube link or a
    file path), in order. Every video, and the largest other media until the rest fits in *room*
    bytes of request, go through *upload*; without one, they are refused."""
    found = [_resolve(name, namespace) for name in names]
    media = [item for item in found if isinstance(item, Media)]
    room -= sum(len(json.dumps(item, ensure_ascii=False).encode()) for item in found if isinstance(item, dict))
    uploads = {id(item) for item in media if is_video(item.mime)}
    inline = sorted((item for item in media if id(item) not in uploads), key=lambda item: item.size)
    while inline and sum(item.inline_cost for item in inline) > room:
        uploads.add(id(inline.pop()))
    parts = []
    for item in found:
        if not isinstance(item, Media):
            parts.append(item)
        elif id(item) not in uploads:
            parts.append(_inline(item.mime, item.read()))
        elif upload is None:
            why = "video is read from the Files API" if is_video(item.mime) else "it is over the 20 MB inline limit"
            raise UsageError(f"--attach {item.label}: {why}, which this call cannot use")
        else:
            parts.append(upload(item))
    return parts


def _resolve(name: str, namespace: Mapping[str, Any]) -> dict[str, Any] | Media:
    if name.isidentifier() and name in namespace:
        return _object(name, namespace[name])
    link = youtube_url(name)
    if link:
        return {"fileData": {"fileUri": link}}
    if looks_like_youtube(name):
        raise UsageError(f"--attach {name}: not a link to one YouTube video (watch?v=…, youtu.be/…, shorts/…)")
    if name.lower().startswith(("http://", "https://")):
        raise UsageError(f"--attach {name}: only YouTube links are attached as links; download the file and attach it")
    return _file(name, Path(name).expanduser(), "no notebook variable and no file by that name")


def _inline(mime: str, data: bytes) -> dict[str, Any]:
    return {"inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode("ascii")}}


def _bytes_media(name: str, data: bytes, declared: str = "") -> Media:
    mime = sniff(data[:HEAD_BYTES]) or _AUDIO_NAMES.get(declared, "")
    if not mime:
        raise UsageError(f"--attach {name}: bytes that are not {_KINDS}")
    return Media(name, mime, len(data), data=data)


#: ``IPython.display.Audio.mimetype`` values (IANA names) as the Gemini API names them.
_AUDIO_NAMES = {"audio/mpeg": "audio/mp3", "audio/x-wav": "audio/wav", "audio/wav": "audio/wav",
                "audio/ogg": "audio/ogg", "audio/flac": "audio/flac", "audio/aac": "audio/aac"}  # fmt: skip


def _object(name: str, value: Any) -> dict[str, Any] | Media:
    if isinstance(value, bytes | bytearray | memoryview):
        return _bytes_media(name, bytes(value))
    declared = getattr(value, "mimetype", None) or getattr(value, "mime", None)
    if isinstance(declared, str) and declared.startswith(("audio/", "video/")):  # IPython Audio, our GeminiAudio
        data = getattr(value, "data", None)
        if not isinstance(data, bytes | bytearray):
            raise UsageError(f"--attach {name}: this {type(value).__name__} holds no data (only a URL?)")
        return _bytes_media(name, bytes(data), declared.split(";")[0])
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
        link = youtube_url(value)
        return {"fileData": {"fileUri": link}} if link else {"text": f"`{name}`:\n\n{value}"}
    if isinstance(value, Path):
        return _file(name, value.expanduser(), f"no file at {value}")
    raise UsageError(
        f"--attach {name}: cannot send a {type(value).__name__} "
        "(attach images, figures, audio, video, bytes, DataFrames, strings, YouTube links or file paths)"
    )


def _dataframe_text(name: str, frame: Any) -> str:
    rows = frame.shape[0]
    shape = f"{rows} rows × {frame.shape[1]} columns" if len(frame.shape) > 1 else f"{rows} rows"
    shown = frame.head(DATAFRAME_ROWS)
    cap = f"; the first {DATAFRAME_ROWS} rows are shown" if rows > DATAFRAME_ROWS else ""
    return f"DataFrame `{name}` ({shape}{cap}), as CSV:\n\n```csv\n{shown.to_csv()}```"


def _checked(name: str, missing: str, read: Callable[[], Any]) -> Any:
    """``read()``, its failures as one-line ``UsageError``s naming the attachment."""
    try:
        return read()
    except FileNotFoundError:
        raise UsageError(f"--attach {name}: {missing}") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"--attach {name}: {reason}") from None


def _head(path: Path) -> tuple[int, bytes]:
    with open_regular(path) as handle:
        return os.fstat(handle.fileno()).st_size, handle.read(HEAD_BYTES)


def _file(name: str, path: Path, missing: str) -> dict[str, Any] | Media:
    size, head = _checked(name, missing, lambda: _head(path))
    mime = media_type(path.suffix, head)
    if mime is not None:
        if size > FILES_API_LIMIT:
            raise UsageError(f"--attach {name}: is over the 2 GB limit of the Files API")
        return Media(name, mime, size, path=path)
    data = _checked(name, missing, lambda: read_regular(path, _TEXT_LIMIT))
    try:
        text = data.decode("utf-8").replace("\r\n", "\n")
    except UnicodeDecodeError:
        raise UsageError(f"--attach {name}: not a text file, nor an image, PDF, audio or video file") from None
    suffix = path.suffix.lower()
    fence = "csv" if suffix == ".csv" else suffix.lstrip(".")
    return {"text": f"File `{path.name}`:\n\n```{fence}\n{text}\n```"}


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """The regular file at *path*, opened for reading; ``ValueError`` with the reason when it is
    not one. Opened non-blocking so a FIFO cannot hang the cell; the opened file itself is checked,
    so a swapped symlink cannot slip past. ``OSError`` passes on."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ValueError("is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("is not a regular file (a device, pipe or socket)")
        return open(fd, "rb")  # the caller closes it; until then the fd is closed on error
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file at *path*, refused (``ValueError`` with the reason) when it is
    not one, is over *limit* bytes, or says it is empty but is not (a kernel pseudo-file).

    Opened non-blocking so a FIFO cannot hang the cell; the opened file itself is checked, so a
    swapped symlink cannot slip past; at most ``limit + 1`` bytes are read. ``OSError`` passes on.
    """
    over = f"is over the {limit / 2**20:g} MB limit"
    with open_regular(path) as handle:
        info = os.fstat(handle.fileno())
        if info.st_size > limit:
            raise ValueError(over)
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(over)
    if data and not info.st_size:
        raise ValueError("says it is empty but is not: a kernel pseudo-file (like /proc/self/environ)")
    return data


def check_size(body_bytes: int) -> None:
    """Refuse, before sending, a request over the inline limit."""
    if body_bytes > MAX_REQUEST_BYTES:
        raise UsageError(
            f"the request is {body_bytes / 1e6:.1f} MB, over the 20 MB limit for inline data; "
            "attach fewer or smaller files"
        )
