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

            do_DELETE = do_PATCH = do_PUT = do_POST  # a body, if any, is read and recorded the same way

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


# ---------------------------------------------------------------- Batch API and Files upload (issue 11)


def batch_answer(request: dict[str, Any]) -> dict[str, Any]:
    """The default per-request result of :class:`BatchService`: ``A:`` + the prompt, or an error
    entry for a prompt holding ``FAIL``."""
    prompt = "".join(p.get("text", "") for turn in request.get("contents", []) for p in turn.get("parts", []))
    if "FAIL" in prompt:
        return {"error": {"code": 13, "message": "Internal error encountered."}}
    return {"response": text_events([f"A:{prompt}"])[0]}


class BatchService:
    """A responder (``server.responder = BatchService(...)``) that runs Batch API jobs and Files uploads.

    Create (``:batchGenerateContent``) answers a PENDING operation; each GET of the job moves it one
    step along *states* (the last one stays). A SUCCEEDED job carries its results inline, or, when
    the input came as a file (or *results_file* is set), in ``files/batch-{id}``, whose lines are
    written in reverse order (clients must match by key). FAILED carries *error*; ``:cancel`` makes
    the job CANCELLED; ``GET /v1beta/batches`` lists every job, *page_size* per page.
    """

    def __init__(
        self,
        states: Iterable[str] = ("PENDING", "RUNNING", "SUCCEEDED"),
        *,
        answer: Callable[[dict[str, Any]], dict[str, Any]] = batch_answer,
        results_file: bool = False,
        error: dict[str, Any] | None = None,
        page_size: int = 2,
        upload_host: str | None = None,
    ) -> None:
        self.states = list(states)
        self.answer = answer
        self.results_file = results_file
        self.error = error or {"code": 8, "message": "Enqueued token quota exceeded for this model."}
        self.page_size = page_size
        self.upload_host = upload_host  # answer uploads with a session URL on this host instead
        self.jobs: dict[str, dict[str, Any]] = {}  # id → {"step", "requests", "file", "cancelled", "model"}
        self.files: dict[str, bytes] = {}
        self._uploads: dict[str, bytearray] = {}
        self._lock = threading.Lock()

    def __call__(self, record: Recorded) -> Reply:
        with self._lock:
            return self._answer(record)

    def _answer(self, record: Recorded) -> Reply:
        path, _, query = record.path.partition("?")
        if path == "/upload/v1beta/files":
            return self._upload(record, query)
        if record.method == "POST" and path.endswith(":batchGenerateContent"):
            return self._create(record, path)
        if path == "/v1beta/batches":
            return self._list(query)
        if path.startswith("/v1beta/batches/") and path.endswith(":cancel"):
            job = self.jobs[path.removeprefix("/v1beta/batches/").removesuffix(":cancel")]
            job["cancelled"] = True
            return json_reply({})
        if path.startswith("/v1beta/batches/"):
            job_id = path.removeprefix("/v1beta/batches/")
            if job_id not in self.jobs:
                return error_reply(404, "NOT_FOUND", f"Batch {job_id} not found.")
            self.jobs[job_id]["step"] += 1
            return json_reply(self.operation(job_id))
        if path.startswith("/download/v1beta/files/") and path.endswith(":download"):
            name = path.removeprefix("/download/v1beta/").removesuffix(":download")
            return Reply([self.files[name]], content_type="application/octet-stream")
        return error_reply(404, "NOT_FOUND", f"no such path {path}")

    def _upload(self, record: Recorded, query: str) -> Reply:
        command = record.headers.get("X-Goog-Upload-Command", "")
        if command == "start":
            upload_id = f"up{len(self._uploads) + 1}"
            self._uploads[upload_id] = bytearray()
            host = self.upload_host or record.headers["Host"]
            url = f"http://{host}/upload/v1beta/files?upload_id={upload_id}&upload_protocol=resumable"
            return json_reply({}, headers={"X-Goog-Upload-URL": url, "X-Goog-Upload-Status": "active"})
        upload_id = dict(p.split("=", 1) for p in query.split("&") if "=" in p)["upload_id"]
        body = record.body if isinstance(record.body, bytes) else json.dumps(record.body).encode()
        assert int(record.headers["X-Goog-Upload-Offset"]) == len(self._uploads[upload_id]), "upload offset"
        self._uploads[upload_id] += body
        if "finalize" not in command:
            return Reply([b""], content_type="text/plain", headers={"X-Goog-Upload-Status": "active"})
        name = f"files/in-{upload_id}"
        self.files[name] = bytes(self._uploads[upload_id])
        file = {"name": name, "mimeType": "application/jsonl", "sizeBytes": str(len(self.files[name]))}
        return json_reply(
            {"file": {**file, "state": "ACTIVE", "source": "UPLOADED"}}, headers={"X-Goog-Upload-Status": "final"}
        )

    def _create(self, record: Recorded, path: str) -> Reply:
        batch = record.body["batch"]
        config = batch["inputConfig"]
        if "fileName" in config:
            lines = [json.loads(line) for line in self.files[config["fileName"]].decode().splitlines()]
            requests_ = [(line["key"], line["request"]) for line in lines]
        else:
            requests_ = [(e["metadata"]["key"], e["request"]) for e in config["requests"]["requests"]]
        job_id = f"job{len(self.jobs) + 1}"
        model = path.removeprefix("/v1beta/").removesuffix(":batchGenerateContent")
        self.jobs[job_id] = {
            "step": 0,
            "requests": requests_,
            "file": "fileName" in config or self.results_file,
            "cancelled": False,
            "model": model,
            "displayName": batch.get("displayName", ""),
        }
        return json_reply(self.operation(job_id))

    def state(self, job_id: str) -> str:
        job = self.jobs[job_id]
        return "CANCELLED" if job["cancelled"] else self.states[min(job["step"], len(self.states) - 1)]

    def operation(self, job_id: str) -> dict[str, Any]:
        """The job as the API shows it (wire-batch.md §3): counts as strings, zero counts left out."""
        job, state = self.jobs[job_id], self.state(job_id)
        total = len(job["requests"])
        done_count = {"PENDING": 0, "RUNNING": total // 2}.get(state, total)
        stats = {"requestCount": str(total), "successfulRequestCount": str(done_count)}
        if total - done_count:
            stats["pendingRequestCount"] = str(total - done_count)
        meta: dict[str, Any] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
            "model": job["model"],
            "displayName": job["displayName"],
            "createTime": "2026-11-26T07:00:00.000000Z",
            "batchStats": {k: v for k, v in stats.items() if v != "0"},
            "state": f"BATCH_STATE_{state}",
            "name": f"batches/{job_id}",
        }
        operation: dict[str, Any] = {"name": f"batches/{job_id}", "metadata": meta}
        if state in ("SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"):
            operation["done"] = True
        if state == "SUCCEEDED":
            results = [(key, self.answer(request)) for key, request in job["requests"]]
            if job["file"]:
                name = f"files/batch-{job_id}"
                lines = [json.dumps({"key": key, **result}) for key, result in reversed(results)]
                self.files[name] = ("\n".join(lines) + "\n").encode()
                output: dict[str, Any] = {"responsesFile": name}
            else:
                entries = [{**result, "metadata": {"key": key}} for key, result in results]
                output = {"inlinedResponses": {"inlinedResponses": entries}}
            meta["output"] = output
            operation["response"] = {"@type": "type.googleapis.com/…GenerateContentBatchOutput", **output}
        elif state == "FAILED":
            operation["error"] = self.error
        elif state == "CANCELLED":
            operation["error"] = {"code": 1, "message": "CANCELLED"}
        return operation

    def _list(self, query: str) -> Reply:
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        start = int(params.get("pageToken") or 0)
        ids = list(self.jobs)[start : start + self.page_size]
        page: dict[str, Any] = {"operations": [self.operation(i) for i in ids]}
        if start + self.page_size < len(self.jobs):
            page["nextPageToken"] = str(start + self.page_size)
        return json_reply(page)


def prompt_of(record: Recorded) -> str:
    """The text of a generateContent request's last user turn ("" for anything else)."""
    body = record.body if isinstance(record.body, dict) else {}
    turns = body.get("contents") or [{}]
    return "".join(str(part.get("text", "")) for part in turns[-1].get("parts") or [])


def row_answer(record: Recorded, *, size: int = 0) -> Reply:
    """A ``generateContent`` answer that quotes the prompt ("answer to: …"), padded to *size* characters."""
    text = f"answer to: {prompt_of(record)}"
    text += "." * max(0, size - len(text))
    return json_reply(
        {
            "candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 4, "totalTokenCount": 9},
            "modelVersion": "gemini-test-001",
        }
    )


class RateLimited:
    """A responder with a quota: *rate* requests per second (a token bucket holding *burst*), each
    answered after *latency* seconds by *answer*; past the quota a 429 whose RetryInfo says when a
    request will be accepted again, as Google's does. Counts what it accepted and refused."""

    def __init__(
        self,
        rate: float,
        latency: float = 0.0,
        answer: Callable[[Recorded], Reply] = row_answer,
        burst: float = 2.0,
    ) -> None:
        self.rate, self.latency, self.answer, self.burst = rate, latency, answer, burst
        self.tokens = burst
        self.accepted = 0
        self.refused = 0
        self.answered: list[Recorded] = []  # the requests accepted, in order
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def __call__(self, record: Recorded) -> Reply:
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self._last) * self.rate)
            self._last = now
            accepted = self.tokens >= 1
            if accepted:
                self.tokens -= 1
                self.accepted += 1
                self.answered.append(record)
            else:
                self.refused += 1
                wait = (1 - self.tokens) / self.rate
        if not accepted:
            retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{wait:.3f}s"}
            return error_reply(429, "RESOURCE_EXHAUSTED", "Quota exceeded: requests per second", [retry])
        reply = self.answer(record)
        return Reply(reply.steps, reply.status, reply.content_type, reply.headers, [self.latency, *reply.before])


def without_nagle(server: GeminiTestServer) -> GeminiTestServer:
    """Send each write at once (TCP_NODELAY), as real servers do: with Nagle's algorithm the last
    chunk of a small answer waits for the client's delayed ACK, ~40 ms per request, which would
    measure the test server's socket, not the client (the benchmarks call this)."""
    assert server._httpd is not None
    server._httpd.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
    return server
