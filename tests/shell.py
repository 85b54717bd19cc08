"""An in-process IPython shell for tests: every display is recorded and a failing cell raises.

The magic runs in the test's own process (so coverage sees it) against the loopback server. Without
a ``kernel`` the shell is terminal IPython (the plain-text live view); :class:`FrontEnd` stands in for
ipykernel's kernel object, the one thing the magic asks of it being the running cell's parent message
(JupyterLab's ``cellId``), so the widget view runs too: widgets work without a front end, their
values are plain traits and ``display()`` of them reaches the publisher like any other output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import ExecutionResult, InteractiveShell
from traitlets import Type
from traitlets.config import Config


@dataclass
class Shown:
    """One ``display_pub.publish`` call."""

    data: dict[str, Any]
    metadata: dict[str, Any]
    display_id: str | None
    update: bool


class RecordingPublisher(DisplayPublisher):
    """Keeps what is published instead of printing it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shown: list[Shown] = []

    def publish(  # type: ignore[override]
        self,
        data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        source: Any = None,
        *,
        transient: dict[str, Any] | None = None,
        update: bool = False,
        **kwargs: Any,
    ) -> None:
        self.shown.append(Shown(data, metadata or {}, (transient or {}).get("display_id"), update))

    def clear_output(self, wait: bool = False) -> None:
        self.shown.clear()


class FrontEnd:
    """What the magic reads from ipykernel's ``Kernel``: the parent message of the cell being run."""

    def __init__(self) -> None:
        self.cell_id = ""

    def get_parent(self, channel: str = "shell") -> dict[str, Any]:
        return {"metadata": {"cellId": self.cell_id}} if self.cell_id else {}


class TestShell(InteractiveShell):
    """``InteractiveShell`` with a recording display publisher and no history file."""

    __test__ = False  # not a pytest test class
    display_pub_class = Type(RecordingPublisher)
    kernel: FrontEnd | None = None

    @classmethod
    def start(cls) -> TestShell:
        config = Config()
        config.HistoryManager.hist_file = ":memory:"
        cls.clear_instance()
        shell = cls.instance(config=config)
        shell.run_line_magic("load_ext", "gemini_magic")
        return shell

    def close(self) -> None:
        self.run_line_magic("unload_ext", "gemini_magic")
        type(self).clear_instance()

    @property
    def shown(self) -> list[Shown]:
        return self.display_pub.shown  # type: ignore[no-any-return]

    def run(self, code: str, cell_id: str = "") -> ExecutionResult:
        """Run *code* as a cell (input transformers and all); its error, if any, is raised."""
        if self.kernel is not None:
            self.kernel.cell_id = cell_id
        result = self.run_cell(code, store_history=True)
        error = result.error_before_exec or result.error_in_exec
        if error is not None:
            raise error
        return result

    def texts(self, mime: str = "text/plain") -> list[str]:
        """The *mime* part of every display so far (updates included), in order."""
        return [s.data[mime] for s in self.shown if mime in s.data]
