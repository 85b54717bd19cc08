"""A loopback Files API (shared/wire-media.md §1) with a Gemini endpoint beside it, for tests and benchmarks.

Real sockets, HTTP/1.1 keep-alive. Its own server rather than a ``GeminiTestServer`` responder,
because an upload must be read as it arrives: a piece is hashed block by block (kept whole only with
``keep=True``), and :attr:`FilesService.drop_at` closes the connection once that share of the file has
arrived, in the middle of a piece, with no answer. It serves:

* ``POST /upload/v1beta/files``: ``start`` (the session URL on the Host the client used; *refuse*
  answers it with an error instead), then ``upload`` / ``upload, finalize`` pieces at the offset the
  session holds (another offset is a 400), and ``query`` (``X-Goog-Upload-Size-Received``). With
  *granule* the session keeps only whole granules of a broken piece, as Google's may;
* ``GET /v1beta/files/ID``: the File; video stays ``PROCESSING`` for *processing_polls* GETs, then
  ``ACTIVE`` (or ``FAILED`` with *fail*); a missing file is 403, as Google answers;
* ``GET /v1beta/files?pageSize=&pageToken=``: *page_size* files a page at most; ``DELETE /v1beta/files/ID``;
* ``POST …:generateContent`` / ``…:streamGenerateContent?alt=sse``: an answer that names the parts it
  got (``fileData`` URIs must name ACTIVE files, else 400/403 as the API would).

Every request is in :attr:`FilesService.log` (headers, the JSON body, or the byte count of a piece),
and :attr:`FilesService.received` counts every upload byte read, broken pieces included.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gemini_server import GeminiTestServer

BLOCK = 1 << 16
LIFETIME = 48 * 3600


@dataclass
class Logged:
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None  # the decoded JSON, or for an upload piece the number of bytes read


@dataclass
class Session:
    total: int
    mime: str
    display_name: str
    received: int = 0
    digest: Any = field(default_factory=hashlib.sha256)
    data: bytearray | None = None
    file: dict[str, Any] | None = None


def _stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + ".123456789Z"


class FilesService(GeminiTestServer):
    """``FilesService().start()``; ``.url`` is the base URL; ``.stop()`` at the end (the Gemini
    test server's; its scripted replies are not used here)."""

    def __init__(
        self,
        *,
        keep: bool = True,
        page_size: int = 100,
        processing_polls: int = 0,
        fail: str = "",
        drop_at: float | None = None,
        drops: int = 1,
        granule: int = 0,
        refuse: tuple[int, str, str] | None = None,
        lifetime: float = LIFETIME,
        pause: float = 0.0,
        lose_final: bool = False,
    ) -> None:
        self.keep, self.page_size, self.processing_polls, self.fail = keep, page_size, processing_polls, fail
        self.drop_at, self.drops, self.granule, self.refuse = drop_at, drops, granule, refuse
        self.lifetime, self.pause = lifetime, pause  # pause: seconds before answering each piece
        self.lose_final = lose_final  # finalize, then close the connection instead of answering (once)
        self.log: list[Logged] = []
        self.files: dict[str, dict[str, Any]] = {}  # "files/ID" → File (with "_polls", "_data")
        self.sessions: dict[str, Session] = {}
        self.received = 0
        self.lock = threading.Lock()
        super().__init__()

    # ---------------------------------------------------------------- what tests read

    def uploads(self) -> list[Logged]:
        """The requests to the upload endpoint (start, pieces, queries)."""
        return [entry for entry in self.log if entry.path.startswith("/upload/")]

    def generates(self) -> list[Logged]:
        return [entry for entry in self.log if "enerateContent" in entry.path]

    def data(self, name: str) -> bytes:
        return bytes(self.files[name]["_data"])

    def public(self, file: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in file.items() if not k.startswith("_")}

    # ---------------------------------------------------------------- serving

    def start(self) -> FilesService:
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                service._route(self, None)

            def do_DELETE(self) -> None:
                service._route(self, None)

            def do_POST(self) -> None:
                if self.path.startswith("/upload/") and "upload_id=" in self.path:
                    service._session_request(self)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                service._route(self, json.loads(raw) if raw else None)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def _record(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        with self.lock:
            self.log.append(Logged(handler.command, handler.path, dict(handler.headers), body))

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=UTF-8")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _error(self, handler: BaseHTTPRequestHandler, status: int, name: str, message: str) -> None:
        self._send(handler, status, {"error": {"code": status, "message": message, "status": name}})

    def _route(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        self._record(handler, body)
        path, _, query = handler.path.partition("?")
        if path == "/upload/v1beta/files":
            self._start(handler, body)
        elif path == "/v1beta/files" and handler.command == "GET":
            self._list(handler, parse_qs(query))
        elif path.startswith("/v1beta/files/"):
            self._file(handler, path.removeprefix("/v1beta/"))
        elif path.endswith(("generateContent", "GenerateContent")):
            self._generate(handler, body, stream="streamGenerateContent" in path)
        else:
            self._error(handler, 404, "NOT_FOUND", f"no such path {path}")

    def _start(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        headers = handler.headers
        assert headers["X-Goog-Upload-Protocol"] == "resumable" and headers["X-Goog-Upload-Command"] == "start"
        if self.refuse:
            self._error(handler, *self.refuse)
            return
        with self.lock:
            upload_id = f"up{len(self.sessions) + 1}"
            self.sessions[upload_id] = Session(
                int(headers["X-Goog-Upload-Header-Content-Length"]),
                headers["X-Goog-Upload-Header-Content-Type"],
                ((body or {}).get("file") or {}).get("displayName", ""),
                data=bytearray() if self.keep else None,
            )
        url = f"http://{headers['Host']}/upload/v1beta/files?upload_id={upload_id}&upload_protocol=resumable"
        self._send(handler, 200, None, {"X-Goog-Upload-URL": url, "X-Goog-Upload-Status": "active"})

    def _session_request(self, handler: BaseHTTPRequestHandler) -> None:
        """A piece or a query: read the piece as it arrives (and maybe drop the connection in it)."""
        upload_id = parse_qs(urlsplit(handler.path).query)["upload_id"][0]
        session = self.sessions[upload_id]
        command = handler.headers.get("X-Goog-Upload-Command", "")
        length = int(handler.headers.get("Content-Length") or 0)
        entry = Logged("POST", handler.path, dict(handler.headers), 0)
        with self.lock:
            self.log.append(entry)
        if command == "query":
            handler.rfile.read(length)
            status = "final" if session.file else "active"
            body = {"file": self.public(session.file)} if session.file else None
            self._send(handler, 200, body, {"X-Goog-Upload-Status": status,
                                             "X-Goog-Upload-Size-Received": str(session.received)})  # fmt: skip
            return
        offset = int(handler.headers["X-Goog-Upload-Offset"])
        if offset != session.received:
            handler.rfile.read(length)
            self._error(handler, 400, "INVALID_ARGUMENT", f"offset {offset} but {session.received} received")
            return
        point = int(self.drop_at * session.total) if self.drop_at is not None else -1
        drop = self.drops > 0 and session.received <= point < session.received + length
        want = point - session.received if drop else length
        kept = bytearray() if session.data is not None else None
        got = 0
        digest = session.digest.copy()
        while got < want:
            block = handler.rfile.read(min(BLOCK, want - got))
            if not block:
                break
            got += len(block)
            digest.update(block)
            if kept is not None:
                kept += block
        entry.body = got
        with self.lock:
            self.received += got
        if drop or got < want:
            if drop:
                self.drops -= 1
            self._keep(session, kept, got, digest, whole=False)
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        self._keep(session, kept, got, digest, whole=True)
        time.sleep(self.pause)
        if "finalize" not in command:
            self._send(handler, 200, None, {"X-Goog-Upload-Status": "active"})
            return
        if session.received != session.total:
            self._error(handler, 400, "INVALID_ARGUMENT", f"{session.received} of {session.total} bytes received")
            return
        session.file = self._new_file(upload_id, session)
        if self.lose_final:
            self.lose_final = False
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(handler, 200, {"file": self.public(session.file)}, {"X-Goog-Upload-Status": "final"})

    def _keep(self, session: Session, kept: bytearray | None, got: int, digest: Any, *, whole: bool) -> None:
        """What a session holds of a piece: all of it, or of a broken one only whole granules (if set)."""
        keep = got if whole or not self.granule else got - (session.received + got) % self.granule
        keep = max(0, keep)
        if keep == got:
            session.digest = digest
        else:
            session.digest.update(bytes(kept[:keep]) if kept is not None else b"")
        if session.data is not None and kept is not None:
            session.data += kept[:keep]
        session.received += keep

    def _new_file(self, upload_id: str, session: Session) -> dict[str, Any]:
        now = time.time()
        file_id = f"f{upload_id}x{int(now * 1000) % 100000}"
        video = session.mime.startswith("video/") and self.processing_polls > 0
        file = {
            "name": f"files/{file_id}",
            "displayName": session.display_name,
            "mimeType": session.mime,
            "sizeBytes": str(session.total),
            "createTime": _stamp(now),
            "updateTime": _stamp(now),
            "expirationTime": _stamp(now + self.lifetime),
            "sha256Hash": session.digest.hexdigest(),
            "uri": f"{self.url}/v1beta/files/{file_id}",
            "state": "PROCESSING" if video else "ACTIVE",
            "source": "UPLOADED",
            "_polls": 0,
            "_data": session.data,
        }
        with self.lock:
            self.files[file["name"]] = file
        return file

    def _file(self, handler: BaseHTTPRequestHandler, name: str) -> None:
        file = self.files.get(name)
        if file is None:
            message = (
                f"You do not have permission to access the File {name.removeprefix('files/')} or it may not exist."
            )
            self._error(handler, 403, "PERMISSION_DENIED", message)
            return
        if handler.command == "DELETE":
            with self.lock:
                del self.files[name]
            self._send(handler, 200, {})
            return
        if file["state"] == "PROCESSING":
            file["_polls"] += 1
            if file["_polls"] >= self.processing_polls:
                file["state"] = "FAILED" if self.fail else "ACTIVE"
                if self.fail:
                    file["error"] = {"code": 3, "message": self.fail}
        self._send(handler, 200, self.public(file))

    def _list(self, handler: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
        size = min(int(query.get("pageSize", ["10"])[0]), self.page_size)
        start = int(query.get("pageToken", ["0"])[0])
        names = sorted(self.files)
        page: dict[str, Any] = {"files": [self.public(self.files[n]) for n in names[start : start + size]]}
        if start + size < len(names):
            page["nextPageToken"] = str(start + size)
        self._send(handler, 200, page if names else {})

    def _generate(self, handler: BaseHTTPRequestHandler, body: Any, *, stream: bool) -> None:
        seen = []
        for turn in body.get("contents", []):
            for part in turn.get("parts", []):
                if "fileData" in part:
                    uri = part["fileData"]["fileUri"]
                    name = "files/" + uri.rsplit("/files/", 1)[-1]
                    file = self.files.get(name)
                    if "youtube.com" not in uri and file is None:
                        self._error(handler, 403, "PERMISSION_DENIED", f"You do not have permission to access {name}")
                        return
                    if file is not None and file["state"] != "ACTIVE":
                        self._error(handler, 400, "FAILED_PRECONDITION", f"{name} is not in an ACTIVE state")
                        return
                    seen.append(f"fileData {part['fileData'].get('mimeType', '-')} {uri}")
                else:
                    seen.append("inlineData" if "inlineData" in part else "text")
        event = {
            "candidates": [{"content": {"parts": [{"text": "Seen: " + "; ".join(seen)}], "role": "model"},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3, "totalTokenCount": 8},
            "modelVersion": "gemini-test-001",
        }  # fmt: skip
        if not stream:
            self._send(handler, 200, event)
            return
        data = f"data: {json.dumps(event)}\r\n\r\n".encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
