"""A loopback HTTP server that speaks Gemini's wire format, for tests.

Real sockets, HTTP/1.1 with chunked transfer encoding, SSE bodies with CRLF (or LF) framing,
JSON error bodies, raw error tails after a 200, pauses, gates the test opens, and dropped
connections. Each POST takes the next scripted :class:`Reply` from a queue and the request is
recorded (path, headers, decoded body) for assertions.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def _find_fixtures() -> Path:
    """$GEMINI_MAGIC_FIXTURES, else ../shared/fixtures beside the checkout (as CI lays it out),
    else beside the repository a local clone was made from (only for a git checkout: a plain copy
    must not pick up the origin of whatever repository it happens to sit in)."""
    if os.environ.get("GEMINI_MAGIC_FIXTURES"):
        return Path(os.environ["GEMINI_MAGIC_FIXTURES"])
    repo = Path(__file__).resolve().parents[1]
    beside = repo.parent / "shared" / "fixtures"
    if beside.is_dir() or not (repo / ".git").exists():
        return beside
    import subprocess

    origin = subprocess.run(
        ["git", "-C", str(repo), "config", "remote.origin.url"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if origin and Path(origin).is_dir():
        candidate = Path(origin).resolve().parent / "shared" / "fixtures"
        if candidate.is_dir():
            return candidate
    return beside


FIXTURES = _find_fixtures()

DROP = object()  # close the socket without ending the chunked body


@dataclass
class Reply:
    """One scripted answer: status, headers, and the body as a list of steps.

    A step is ``bytes`` (sent as one HTTP chunk), a ``float`` (pause, seconds), a
    ``threading.Event`` (wait until the test sets it), :data:`DROP`, a callable (called
    when reached, e.g. to take the time just before a chunk is sent), or an iterator of ``bytes``
    (each sent as one chunk as it is produced, so a huge body never exists at once).
    """

    steps: list[Any]
    status: int = 200
    content_type: str = "text/event-stream"
    headers: dict[str, str] = field(default_factory=dict)
    #: Steps run before the status line is sent (e.g. an Event: the client waits for the headers).
    before: list[Any] = field(default_factory=list)
    #: False: the body is written as is, without chunked framing, and the connection closed after it.
    chunked: bool = True


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    outcome: str = "open"  # then "completed", or "disconnected" when the client went away mid-body


def sse(events: list[dict[str, Any]], *, newline: str = "\r\n", pause: float = 0.0) -> Reply:
    """Each event as its own chunk, framed as Google frames them."""
    steps: list[Any] = []
    for event in events:
        steps.append(f"data: {json.dumps(event, ensure_ascii=False)}{newline}{newline}".encode())
        if pause:
            steps.append(pause)
    return Reply(steps)


def text_events(pieces: list[str], *, finish: str = "STOP", model: str = "gemini-test-001") -> list[dict[str, Any]]:
    """A plain text answer cut into events, with usage snapshots and a finishReason on the last."""
    events = []
    for number, piece in enumerate(pieces, 1):
        candidate: dict[str, Any] = {"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}
        if number == len(pieces) and finish:
            candidate["finishReason"] = finish
        events.append(
            {
                "candidates": [candidate],
                "usageMetadata": {
                    "promptTokenCount": 7,
                    "candidatesTokenCount": number * 3,
                    "totalTokenCount": 7 + number * 3,
                },
                "modelVersion": model,
                "responseId": "resp-test-1",
            }
        )
    return events


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_sse(name: str) -> Reply:
    """A recorded SSE body replayed byte for byte, one HTTP chunk per recorded event."""
    raw = fixture_bytes(name)
    separator = b"\r\n\r\n" if b"\r\n\r\n" in raw else b"\n\n"
    steps: list[Any] = [block + separator for block in raw.split(separator) if block.strip()]
    return Reply(steps)


def json_reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    data = body if isinstance(body, bytes) else json.dumps(body, indent=2).encode()
    return Reply([data], status=status, content_type="application/json; charset=UTF-8", headers=headers or {})


def error_reply(status: int, status_name: str, message: str, details: list[Any] | None = None) -> Reply:
    error: dict[str, Any] = {"code": status, "message": message, "status": status_name}
    if details:
        error["details"] = details
    return json_reply({"error": error}, status)


class GeminiTestServer:
    """Start with :meth:`start`; script with :meth:`push`; read :attr:`requests`."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[Recorded] = []
        #: Answers requests when no scripted reply is queued (e.g. tests/scenarios.answer).
        self.responder: Callable[[Recorded], Reply] | None = None
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def push(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def reset(self) -> None:
        self.replies.clear()
        self.requests.clear()
        self.responder = None

    def start(self) -> GeminiTestServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                self._serve(None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
                self._serve(body)

            def _serve(self, body: Any) -> None:
                record = Recorded(self.command, self.path, dict(self.headers), body)
                with server._lock:
                    server.requests.append(record)
                    reply = server.replies.popleft() if server.replies else None
                if reply is None and server.responder is not None:
                    reply = server.responder(record)
                if reply is None:
                    reply = error_reply(599, "TEST_NOT_SCRIPTED", f"no scripted reply for {self.command} {self.path}")
                for step in reply.before:
                    self._pause(step)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header(
                    "Transfer-Encoding" if reply.chunked else "Connection", "chunked" if reply.chunked else "close"
                )
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    for step in reply.steps:
                        if step is DROP:
                            self.wfile.flush()
                            self.connection.shutdown(socket.SHUT_RDWR)
                            self.close_connection = True
                            return
                        if isinstance(step, bytes | bytearray):
                            self._chunk(step, reply.chunked)
                        elif isinstance(step, Iterator):
                            for piece in step:
                                self._chunk(piece, reply.chunked)
                        else:
                            self._pause(step)
                    if reply.chunked:
                        self.wfile.write(b"0\r\n\r\n")
                    else:
                        self.close_connection = True
                    record.outcome = "completed"
                except (BrokenPipeError, ConnectionResetError):
                    record.outcome = "disconnected"
                    self.close_connection = True

            def _chunk(self, data: bytes, chunked: bool) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)

            def _pause(self, step: Any) -> None:
                if isinstance(step, float | int):
                    time.sleep(step)
                elif isinstance(step, threading.Event):
                    step.wait(30)
                else:
                    step()

            def handle(self) -> None:
                try:
                    super().handle()
                except ConnectionResetError:  # the client closed a body it stopped reading: what it should do
                    self.close_connection = True

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()


def gzipped(pieces: Iterable[bytes], *, level: int = 9) -> Iterator[bytes]:
    """*pieces* gzip-compressed as they are produced: a body that expands to gigabytes stays small here."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    for piece in pieces:
        out = compressor.compress(piece)
        if out:
            yield out
    yield compressor.flush()
