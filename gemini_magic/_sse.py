"""Incremental Server-Sent Events decoder for ``streamGenerateContent?alt=sse``.

Pure and I/O-free: feed it the byte chunks as they come off the socket and it yields one
decoded JSON object per event. It is written for the traps of Gemini's stream
(see shared/gemini-wire.md §4):

* events end with CRLF CRLF from Google and LF LF from some gateways; a lone CR also ends a line,
  and a CR at the end of one read may be followed by the LF at the start of the next;
* a read can stop anywhere, including inside a multibyte UTF-8 character: lines are split as
  bytes (a newline byte never occurs inside a UTF-8 sequence) and decoded only when whole;
* one event line can be several MB (an image plus its thought signature): the buffer is only
  scanned from where the previous search stopped, so a long line costs O(n), not O(n²);
* after an HTTP 200 Google may send a raw, pretty-printed ``{"error": …}`` object that is not
  ``data:``-framed. Such lines are collected until they parse and raised as an API error.

Server bytes are hostile, so every buffer is capped: one event (``max_event``, 64 MB: an image
with its thought signature is ~8 MB) and the raw tail (64 kB; real error bodies are a few kB).
Past a cap the buffers are emptied *before* the error is raised, and the check happens before a
line is copied out, so no frame of a traceback holds the oversized bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from ._errors import GeminiAPIError, GeminiStreamError

__all__ = ["MAX_EVENT_BYTES", "SSEDecoder"]

MAX_EVENT_BYTES = 64 << 20
_NEWLINE = re.compile(rb"\r\n|\r|\n")
_RAW_TAIL_LIMIT = 64 << 10  # a non-SSE tail larger than this is not an error body


class SSEDecoder:
    """Turn a byte stream into decoded event payloads (``dict``), raising on error tails."""

    def __init__(self, max_event: int = MAX_EVENT_BYTES) -> None:
        self.max_event = max_event
        self._buf = bytearray()
        self._scan = 0  # where the next newline search starts
        self._data: list[bytes] = []  # ``data:`` lines of the event being read
        self._size = 0  # their total length
        self._raw = bytearray()  # non-SSE lines (an error tail being collected)
        self.events = 0

    def feed(self, chunk: bytes) -> Iterator[dict[str, Any]]:
        """Consume one network read; yield every event it completes."""
        if not self._buf and not self._data and not self._raw and len(chunk) <= self.max_event and _single_event(chunk):
            # The common case — one whole ``data: {...}`` event per read — without the line loop.
            self._data.append(chunk[5:].strip())
            yield from self._dispatch()
            return
        self._buf += chunk
        start = 0
        pos = self._scan
        while True:
            match = _NEWLINE.search(self._buf, pos)
            if match is None:
                pos = len(self._buf)
                break
            if match.group() == b"\r" and match.end() == len(self._buf):
                pos = match.start()  # maybe the first half of a CRLF split across reads
                break
            self._check(match.start() - start)
            line = bytes(memoryview(self._buf)[start : match.start()])
            start = pos = match.end()
            yield from self._line(line)
        del self._buf[:start]
        self._scan = pos - start
        self._check(len(self._buf))

    def close(self) -> Iterator[dict[str, Any]]:
        """The body ended: flush a final event that had no blank line after it."""
        if self._buf:
            line = bytes(self._buf)
            self._buf.clear()
            self._scan = 0
            yield from self._line(line.rstrip(b"\r"))
        yield from self._dispatch()
        if self._raw:
            self._raw_body(final=True)

    def clear(self) -> None:
        """Drop every buffer (before raising, so a traceback cannot keep them alive)."""
        self._buf.clear()
        self._scan = 0
        self._data = []
        self._size = 0
        self._raw.clear()

    def _check(self, pending: int) -> None:
        """Raise when a line being read (*pending* bytes) would take the event past ``max_event``."""
        if self._size + pending > self.max_event:
            self.clear()
            raise GeminiStreamError(
                f"an event in the stream is over the {self.max_event / (1 << 20):g} MB limit for one event"
            )

    def _line(self, line: bytes) -> Iterator[dict[str, Any]]:
        if self._raw or (line and not _is_field(line)):
            yield from self._dispatch()
            self._raw_line(line)
            return
        if not line:
            yield from self._dispatch()
        elif line.startswith(b"data:"):
            value = line[6:] if line.startswith(b"data: ") else line[5:]
            self._data.append(value)
            self._size += len(value)
        # ``event:``, ``id:``, ``retry:`` and ``:comment`` lines carry nothing Gemini uses.

    def _dispatch(self) -> Iterator[dict[str, Any]]:
        if not self._data:
            return
        payload = b"\n".join(self._data)
        self._data = []
        self._size = 0
        try:
            event = json.loads(payload.decode("utf-8"))
        except UnicodeDecodeError:
            raise GeminiStreamError(f"an event in the stream is not UTF-8: {_preview(payload)}") from None
        except (ValueError, RecursionError) as exc:
            raise GeminiStreamError(f"malformed event in the stream ({_reason(exc)}): {_preview(payload)}") from None
        if isinstance(event, dict) and "error" in event:
            raise GeminiAPIError.from_body(event, mid_stream=True)
        if not isinstance(event, dict):
            raise GeminiStreamError(f"unexpected event in the stream: {_preview(payload)}")
        self.events += 1
        yield event

    def _raw_line(self, line: bytes) -> None:
        """Collect a non-``data:`` tail until it parses as JSON, then raise what it says.

        Parsing is tried on the first line and on lines that start with a closing bracket (where
        a pretty-printed object ends), so collecting stays linear; a tail that can no longer
        become JSON, or grows past 64 kB, is reported at once.
        """
        if not self._raw and not line.strip():
            return
        first = not self._raw
        if len(self._raw) + len(line) + 1 > _RAW_TAIL_LIMIT or (first and not line.lstrip().startswith((b"{", b"["))):
            raw = bytes(self._raw[:200] if self._raw else line[:200])
            self.clear()
            raise GeminiStreamError(f"the stream held data that is not an event: {_preview(raw)}")
        if self._raw:
            self._raw += b"\n"
        self._raw += line
        if first or line[:1] in (b"}", b"]"):
            self._raw_body(final=False)

    def _raw_body(self, *, final: bool) -> None:
        """Raise the API error the raw tail holds; or, when it cannot be one, a stream error."""
        text = bytes(self._raw).decode("utf-8", "replace").rstrip()
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            if exc.pos >= len(text) and not final:
                return  # not finished yet: the next lines may complete it
            body = None
        except RecursionError:
            body = None
        self.clear()
        if body is None:
            where = "ended with" if final else "held"
            raise GeminiStreamError(f"the stream {where} data that is not an event: {_preview(text.encode())}")
        if isinstance(body, list) and body:
            body = body[0]
        raise GeminiAPIError.from_body(body, mid_stream=True)


def _single_event(chunk: bytes) -> bool:
    """One complete ``data:`` line followed by its blank line, and no other line break."""
    if not chunk.startswith(b"data:"):
        return False
    if chunk.endswith(b"\r\n\r\n"):
        return chunk.count(b"\n") == 2 and chunk.count(b"\r") == 2
    return chunk.endswith(b"\n\n") and chunk.count(b"\n") == 2 and b"\r" not in chunk


def _is_field(line: bytes) -> bool:
    return line.startswith((b"data:", b"event:", b"id:", b"retry:", b":"))


def _reason(exc: BaseException) -> str:
    return "nested too deeply" if isinstance(exc, RecursionError) else str(exc)


def _preview(raw: bytes, limit: int = 200) -> str:
    text = raw[:limit].decode("utf-8", "replace")
    return text + ("…" if len(raw) > limit else "")
