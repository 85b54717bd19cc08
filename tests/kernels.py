"""One way to drive a real IPython kernel, for the tests and the benchmarks.

:meth:`Kernel.run` executes a cell as a notebook front end does (nbclient: outputs in a notebook,
display updates applied, widget state kept with the notebook); :meth:`Kernel.execute` and
:meth:`Kernel.messages` give the raw iopub messages as they arrive, for whoever watches a cell while
it runs (streaming, Ctrl-C, latency) or sends JupyterLab's ``cellId``. The raw side is a second,
blocking client of the same kernel, so it needs no event loop of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import nbformat
from jupyter_client.blocking import BlockingKernelClient
from nbclient import NotebookClient

Message = dict[str, Any]
KEY_VARIABLES = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "COMETAPI_KEY")  # where the magic may find a key


def kernel_env(base_url: str, key: str, **extra: str) -> dict[str, str]:
    """This process's environment, with only *key* as the Gemini key and *base_url* as the host."""
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARIABLES}
    env.update(GEMINI_API_KEY=key, GEMINI_BASE_URL=base_url, PYTHONUNBUFFERED="1", **extra)
    return env


class Kernel:
    """A live kernel that runs one cell at a time and keeps them all in a notebook."""

    def __init__(self, env: dict[str, str], *, timeout: float = 60) -> None:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        self.client = NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3")
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(self.client.setup_kernel(env=env))
        self.nb = self.client.nb
        self.reply: dict[str, Any] = {}
        self.client.on_cell_executed = self._executed
        assert self.client.km is not None
        self.raw = BlockingKernelClient()
        self.raw.load_connection_info(self.client.km.get_connection_info())
        self.raw.start_channels()
        self.raw.wait_for_ready(timeout=timeout)
        self._stack.callback(self.raw.stop_channels)

    def _executed(self, cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
        self.reply = execute_reply["content"]

    def close(self) -> None:
        """Stop the clients and shut the kernel down."""
        self._stack.close()

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- as a notebook front end

    def run(self, source: str) -> list[dict[str, Any]]:
        """Execute one cell; its execute_reply content is left in :attr:`reply`."""
        cell = nbformat.v4.new_code_cell(source)
        self.nb.cells.append(cell)
        self.client.execute_cell(cell, len(self.nb.cells) - 1)
        return cell.outputs  # type: ignore[no-any-return]

    def usage_error(self, source: str) -> str:
        """Run a cell that must fail as a user error: one stderr line, the cell marked failed."""
        outputs = self.run(source)
        assert self.reply["status"] == "error", "the cell did not fail, so Run All would go on"
        assert self.reply["ename"] == "UsageError", self.reply
        assert [o["output_type"] for o in outputs] == ["stream"], outputs
        text = outputs[0]["text"]
        assert text.startswith("UsageError: ") and text.count("\n") == 1, text
        return text  # type: ignore[no-any-return]

    def saved(self) -> str:
        """The notebook as it would be written to disk."""
        return nbformat.writes(self.nb)

    # ---- message by message

    def execute(self, code: str, cell_id: str = "") -> str:
        """Send an execute_request (with JupyterLab's ``cellId`` when given); return its msg_id."""
        content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False}
        msg = self.raw.session.msg("execute_request", content, metadata={"cellId": cell_id} if cell_id else {})
        self.raw.shell_channel.send(msg)
        return msg["header"]["msg_id"]  # type: ignore[no-any-return]

    def messages(self, msg_id: str, timeout: float = 60) -> Iterator[Message]:
        """iopub messages of one execution, as they arrive, until the kernel goes idle."""
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            try:
                msg = self.raw.get_iopub_msg(timeout=0.5)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            yield msg
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return
        raise AssertionError("the execution did not finish in time")

    def late_messages(self, seconds: float) -> list[str]:
        """The types of the iopub messages that arrive in the next *seconds*, whatever their parent."""
        late = []
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            with contextlib.suppress(queue.Empty):
                late.append(self.raw.get_iopub_msg(timeout=0.2)["msg_type"])
        return late

    def printed(self, code: str, on_message: Callable[[Message], None] | None = None, timeout: float = 120) -> str:
        """Execute *code*; return what it printed and the text of any error (*on_message* sees every message)."""
        out: list[str] = []
        for msg in self.messages(self.execute(code), timeout):
            if on_message is not None:
                on_message(msg)
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append("\n".join(msg["content"]["traceback"]))
        return "".join(out)

    def interrupt(self) -> None:
        """Ctrl-C, as the front end's stop button sends it (from any thread)."""
        km = self.client.km
        assert km is not None
        # nbclient's manager is the async one; run it on a loop of its own, not on nbclient's
        worker = threading.Thread(target=lambda: asyncio.run(km.interrupt_kernel()))
        worker.start()
        worker.join(30)

    @property
    def pid(self) -> int:
        """The kernel's process id."""
        assert self.client.km is not None
        return self.client.km.provisioner.process.pid  # type: ignore[attr-defined,no-any-return]
