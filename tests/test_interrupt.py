"""Ctrl-C while the server holds back its answer: one line, and the key nowhere.

The interrupt lands inside requests/urllib3 (waiting for the status line), whose frames hold the
request headers, key included. ``%xmode Verbose`` prints every frame's locals, so a plain
KeyboardInterrupt trace would print the key into the notebook.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from conftest import FAKE_KEY, Kernel, error_of, output_text
from test_live import REACHABLE


class SilentServer:
    """Accepts connections and reads the request, then sends nothing until :meth:`stop`."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.received = threading.Event()
        self.done = threading.Event()
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.requests.append(conn.recv(65536))
                self.received.set()
                self.done.wait(30)

    def stop(self) -> None:
        self.done.set()
        self.sock.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.stop()


def test_interrupt_while_waiting_for_headers_is_one_line_and_keyless(kernel: Kernel, silent: SilentServer) -> None:
    kernel.run("%xmode Verbose")

    def interrupt() -> None:
        if silent.received.wait(30):
            threading.Event().wait(0.3)  # the kernel is now blocked reading the status line
            kernel.interrupt()

    threading.Thread(target=interrupt, daemon=True).start()
    outputs = kernel.run(f"%%gemini --base-url {silent.url}\nHello")
    assert silent.requests and FAKE_KEY.encode() in silent.requests[0]  # the key was really sent
    assert FAKE_KEY not in output_text(outputs)
    error = error_of(outputs)
    assert error["ename"] == "GeminiInterrupted"
    assert len(error["traceback"]) == 1 and "stopped by the user" in error["traceback"][0], error["traceback"]
    assert "stopped by the user" in output_text(outputs)
    reachable = kernel.run(REACHABLE)[0]["text"].split()
    assert reachable[0] == "True", reachable  # still a KeyboardInterrupt for `except KeyboardInterrupt`
    assert not [name for name in reachable if name.startswith(("requests", "urllib3", "http.", "socket"))], reachable
    assert FAKE_KEY not in kernel.saved()
