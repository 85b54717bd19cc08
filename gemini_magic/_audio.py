"""Speech the model returned (``--speech``): raw PCM wrapped as WAV, kept, saved and played.

A TTS answer is ``inlineData`` with ``mimeType`` ``audio/L16;codec=pcm;rate=24000``: signed 16-bit
*little-endian* samples (despite the ``L16`` name), mono, at the ``rate=`` given (shared/wire-media.md
§4). Browsers cannot play raw PCM, so it is wrapped in a 44-byte WAV header; the player is an
``<audio controls src="data:audio/wav;base64,…">``, the one form that survives saving the notebook
and exporting it (a widget or a blob URL would not). Other audio types (``audio/wav``,
``audio/mpeg``…) are kept as the API sent them.

A stream may split one recording over several parts: :class:`AudioRun` collects their base64
pieces (the same string objects the response holds, so nothing is copied while streaming) and
:func:`join_base64` joins them into one part. The decoded total is capped at
:data:`MAX_AUDIO_BYTES`.
"""

from __future__ import annotations

import base64
import html
import io
import re
import wave
from pathlib import Path
from typing import Any

from ._images import decode_base64, save_bytes

__all__ = ["MAX_AUDIO_BYTES", "AudioRun", "GeminiAudio", "audio_mime", "audio_of", "join_base64", "pcm_format"]

MAX_AUDIO_BYTES = 64 << 20  # decoded audio in one response: about 23 minutes of 24 kHz speech
_PCM_TYPES = ("audio/l16", "audio/pcm")
_EXTENSIONS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/ogg": "ogg"}
_DEFAULT_RATE = 24_000
_WORD = re.compile(r"[a-z0-9]{1,10}")


def audio_mime(part: dict[str, Any]) -> str | None:
    """The MIME type of an ``inlineData`` audio part (``audio/…``), or None for any other part."""
    inline = part.get("inlineData")
    if not isinstance(inline, dict):
        return None
    mime = str(inline.get("mimeType", ""))
    return mime if mime.lower().startswith("audio/") else None


def pcm_format(mime: str) -> tuple[int, int] | None:
    """``(rate, channels)`` of raw PCM (``audio/L16;codec=pcm;rate=24000``), or None for other types.

    Missing or unusable parameters fall back to 24000 Hz mono, what Gemini's TTS sends."""
    kind, *params = (piece.strip().lower() for piece in mime.split(";"))
    if kind not in _PCM_TYPES:
        return None
    values = dict(param.partition("=")[::2] for param in params)
    return _number(values.get("rate"), _DEFAULT_RATE, 384_000), _number(values.get("channels"), 1, 8)


def _number(text: str | None, default: int, highest: int) -> int:
    """A small decimal number from the server (ASCII digits only: ``"²".isdigit()`` is True), else *default*."""
    if not text or len(text) > 7 or not (text.isascii() and text.isdigit()):
        return default
    return int(text) if 0 < int(text) <= highest else default


def join_base64(pieces: list[str]) -> str:
    """Base64 pieces of one recording as one base64 string (each piece is padded on its own)."""
    if len(pieces) == 1:
        return pieces[0]
    return base64.b64encode(b"".join(decode_base64(piece) or b"" for piece in pieces)).decode("ascii")


def decoded_size(data: str) -> int:
    """How many bytes *data* (base64) decodes to, without decoding it."""
    return len(data) * 3 // 4 - data[-2:].count("=")


class GeminiAudio:
    """Audio the model made (``--speech``), from ``_gemini.audio``; it shows a player when it ends a cell.

    ``.save("x.wav")`` writes it, ``.data`` is the playable file's bytes (WAV for Gemini's raw
    PCM), ``.pcm`` the raw 16-bit samples, ``.rate`` the sample rate, ``.duration`` its length in
    seconds, ``.mime`` the type of ``.data``.
    """

    def __init__(self, data: bytes, mime: str) -> None:
        """*data* as the API sent it (decoded from base64), *mime* its type: raw PCM is wrapped as WAV."""
        self.source_mime = mime
        found = pcm_format(mime)
        self.rate: int | None = None
        self.channels = 1
        self._width = 2  # bytes per sample
        if found is not None:
            self.rate, self.channels = found
            self.mime = "audio/wav"
            self.data = wav_bytes(data, self.rate, self.channels)
            self._pcm_start = 44
            return
        self.mime = mime.split(";")[0].strip().lower()
        self.data = data
        self._pcm_start = -1
        if self.mime in ("audio/wav", "audio/x-wav", "audio/wave"):
            self._read_wav_header()

    def _read_wav_header(self) -> None:
        try:
            with wave.open(io.BytesIO(self.data)) as reader:
                self.rate, self.channels = reader.getframerate(), reader.getnchannels()
                self._width = reader.getsampwidth()
                self._pcm_start = len(self.data) - reader.getnframes() * self._width * self.channels
        except (wave.Error, EOFError):
            self._pcm_start = -1

    @property
    def pcm(self) -> bytes | None:
        """The raw samples (16-bit little-endian for speech) when known; None for compressed audio (mp3…)."""
        return self.data[self._pcm_start :] if self._pcm_start >= 0 else None

    @property
    def duration(self) -> float | None:
        """Length in seconds (samples / rate); None when the type does not tell (compressed audio)."""
        pcm = self.pcm
        if pcm is None or not self.rate:
            return None
        return len(pcm) / (self._width * self.channels * self.rate)

    @property
    def extension(self) -> str:
        """The usual file extension of ``.mime``, without the dot (``"wav"``, ``"mp3"``…); ``"bin"`` when
        the type's name is not a plain word (it comes from the server and ends up in a file name)."""
        subtype = self.mime.partition("/")[2]
        return _EXTENSIONS.get(self.mime) or (subtype if _WORD.fullmatch(subtype) else "bin")

    def save(self, path: str | Path) -> Path:
        """Write the audio to *path* and return where it went; a folder or a name without suffix
        gets a file name or suffix from the type (``speech.wav``)."""
        return save_bytes(self.data, path, f"gemini-speech.{self.extension}")

    def base64(self) -> str:
        """``.data`` as base64 text (for a ``data:`` URL)."""
        return base64.b64encode(self.data).decode("ascii")

    def player_html(self) -> str:
        """An ``<audio controls>`` player holding the sound itself, so saved and exported notebooks play it."""
        return f'<audio controls src="data:{html.escape(self.mime)};base64,{self.base64()}"></audio>'

    def summary(self) -> str:
        """``"1.0 s of audio, 24000 Hz (audio/wav)"``: what a text-only front end shows instead of the player."""
        duration, rate = self.duration, self.rate
        length = f"{duration:.1f} s" if duration is not None else f"{len(self.data):,} bytes"
        return f"{length} of audio" + (f", {rate} Hz" if rate else "") + f" ({self.mime})"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        from ._sanitize import sanitize

        return {"text/html": sanitize(self.player_html()), "text/plain": repr(self)}

    def __repr__(self) -> str:
        duration = "" if self.duration is None else f"{self.duration:.2f} s, "
        rate = "" if self.rate is None else f"{self.rate} Hz, "
        return f"GeminiAudio({self.mime}, {duration}{rate}{len(self.data):,} bytes)"


def wav_bytes(pcm: bytes, rate: int, channels: int = 1) -> bytes:
    """16-bit PCM samples behind a 44-byte WAV header (what ``<audio>`` and every player read)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(pcm)
    return buffer.getvalue()


def audio_of(part: dict[str, Any]) -> GeminiAudio | None:
    """The audio in an ``inlineData`` part, or None (not audio, or not valid base64)."""
    mime = audio_mime(part)
    if mime is None:
        return None
    data = decode_base64(str(part["inlineData"].get("data", "")))
    return GeminiAudio(data, mime) if data else None


class AudioRun:
    """One recording as it streams: its parts' base64 pieces, joined only when it is shown at the end.

    *name* is how the user reaches it (``_gemini.audio[0]``), for the notes in text outputs.
    """

    def __init__(self, mime: str, name: str) -> None:
        self.mime = mime
        self.name = name
        self.pieces: list[str] = []
        self.size = 0  # decoded bytes so far
        self._audio: GeminiAudio | None = None

    def take(self, part: dict[str, Any]) -> bool:
        """Add *part* if it continues this recording (raw PCM of the same type); False otherwise."""
        if audio_mime(part) != self.mime or (self.pieces and pcm_format(self.mime) is None):
            return False
        data = str(part["inlineData"].get("data", ""))
        self.pieces.append(data)
        self.size += decoded_size(data)
        self._audio = None
        return True

    def audio(self) -> GeminiAudio | None:
        """The whole recording (decoded once), or None if nothing valid arrived."""
        if self._audio is None:
            self._audio = audio_of({"inlineData": {"mimeType": self.mime, "data": join_base64(self.pieces)}})
        return self._audio

    def live_html(self) -> str:
        """Progress while it streams: "🔊 speaking… 2.4 s"."""
        found = pcm_format(self.mime)
        heard = f"{self.size / (2 * found[1] * found[0]):.1f} s" if found else f"{self.size:,} bytes"
        return f"<p><i>🔊 speaking… {heard}</i></p>"

    @property
    def html(self) -> str:
        """The player and a caption saying how to keep the sound."""
        audio = self.audio()
        if audio is None:
            return "<p><i>🔊 (audio that could not be decoded)</i></p>"
        what, keep = self._note()
        caption = html.escape(f"🔊 {what} · {keep}")
        return f"<p>{audio.player_html()}<br><small>{caption}</small></p>"

    @property
    def markdown(self) -> str:
        """A note for front ends without HTML: what it is and how to keep it (the type is escaped)."""
        from ._markdown import markdown_text

        what, keep = self._note()
        return f"*🔊 {markdown_text(what)}:* `{keep}` keeps it"

    def note(self) -> str:
        """One line of plain text: length, rate, and the call that saves it."""
        what, keep = self._note()
        return f"🔊 {what}: {keep} keeps it"

    def _note(self) -> tuple[str, str]:
        audio = self.audio()
        if audio is None:
            return "audio that could not be decoded", f"{self.name}.save('speech')"
        return audio.summary(), f"{self.name}.save('speech.{audio.extension}')"
