"""What an attachment is: MIME types by file extension and by the bytes themselves, and YouTube links.

The names are the ones the Gemini API lists (shared/wire-media.md §1.8: ``audio/mp3``, ``video/mov``,
``video/3gpp``…, not always the IANA ones). A file is named by its extension *and* its first bytes:
the bytes win when they say something else (a PNG saved as ``.mp3`` is sent as a PNG), and the
extension wins between names of one container (``.mpg`` and ``.mpeg`` both start ``00 00 01 BA``).
"""

from __future__ import annotations

import re

__all__ = ["BY_EXTENSION", "HEAD_BYTES", "is_video", "media_type", "sniff", "youtube_url"]

HEAD_BYTES = 16  # what :func:`sniff` looks at

IMAGES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
          ".gif": "image/gif"}  # fmt: skip
AUDIO = {".wav": "audio/wav", ".mp3": "audio/mp3", ".aiff": "audio/aiff", ".aif": "audio/aiff", ".aac": "audio/aac",
         ".ogg": "audio/ogg", ".oga": "audio/ogg", ".flac": "audio/flac"}  # fmt: skip
VIDEO = {".mp4": "video/mp4", ".mpeg": "video/mpeg", ".mpg": "video/mpg", ".mov": "video/mov", ".avi": "video/avi",
         ".flv": "video/x-flv", ".webm": "video/webm", ".wmv": "video/wmv", ".3gp": "video/3gpp"}  # fmt: skip
BY_EXTENSION = {**IMAGES, ".pdf": "application/pdf", **AUDIO, **VIDEO}

_PREFIXES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"ID3", "audio/mp3"),
    (b"fLaC", "audio/flac"),
    (b"OggS", "audio/ogg"),
    (b"\x1a\x45\xdf\xa3", "video/webm"),
    (b"FLV", "video/x-flv"),
    (b"\x00\x00\x01\xba", "video/mpeg"),
    (b"\x00\x00\x01\xb3", "video/mpeg"),
    (b"\x30\x26\xb2\x75", "video/wmv"),
)
_RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/avi"}
#: Names of one container: the extension picks among them.
_SAME = ({"video/mp4", "video/mov", "video/3gpp"}, {"video/mpeg", "video/mpg"})

_YOUTUBE = re.compile(
    r"(?:https?://)?(?:(?:www|m|music)\.)?"
    r"(?:youtube\.com/(?:watch\?(?:[^#\s]*&)?v=|shorts/|live/|embed/)|youtu\.be/)"
    r"(?P<id>[A-Za-z0-9_-]{11})(?:[?&#/][^\s]*)?",
    re.IGNORECASE,
)
_YOUTUBE_HOST = re.compile(r"(?:https?://)?(?:[a-z]+\.)?(?:youtube\.com|youtu\.be)(?:/|$)", re.IGNORECASE)


def sniff(head: bytes) -> str | None:
    """The MIME type the first bytes of a file announce, or None."""
    for prefix, mime in _PREFIXES:
        if head.startswith(prefix):
            return mime
    if head[:4] == b"RIFF" and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "audio/aiff"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "video/mov" if brand == b"qt  " else "video/3gpp" if brand.startswith(b"3g") else "video/mp4"
    if len(head) > 1 and head[0] == 0xFF and head[1] in (0xF1, 0xF9):  # AAC in ADTS frames
        return "audio/aac"
    if len(head) > 2 and head[0] == 0xFF and head[1] & 0xE6 == 0xE2 and head[2] >> 4 != 15:
        return "audio/mp3"  # an MPEG layer III frame with no ID3 tag (not FF FE, a UTF-16 text's mark)
    return None


def media_type(suffix: str, head: bytes) -> str | None:
    """The type to send a file as: its bytes' type, or its extension's when the bytes say nothing
    or name the same container; None for anything else (text, or a type the API does not read)."""
    named = BY_EXTENSION.get(suffix.lower())
    found = sniff(head)
    if found is None or named == found or any({named, found} <= group for group in _SAME):
        return named
    return found


def is_video(mime: str) -> bool:
    """Video always goes through the Files API (the API reads it from there, whatever its size)."""
    return mime.startswith("video/")


def youtube_url(text: str) -> str | None:
    """``https://www.youtube.com/watch?v=ID`` for a link to one YouTube video (watch, youtu.be,
    shorts, live, embed; with or without the scheme), else None."""
    match = _YOUTUBE.fullmatch(text.strip())
    return f"https://www.youtube.com/watch?v={match.group('id')}" if match else None


def looks_like_youtube(text: str) -> bool:
    """A YouTube address that :func:`youtube_url` did not take (a playlist, a channel): worth its own error."""
    return bool(_YOUTUBE_HOST.match(text.strip()))
