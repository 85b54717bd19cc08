"""A throw-away JupyterLab (or Notebook 7) server for browser tests (recipe: ../shared/e2e-notes.md).

Isolated config/data/runtime dirs in a temp folder, 127.0.0.1 on a free port with a random token,
and a shutdown that escalates (API, SIGTERM, SIGKILL) by the server's own PID. The server is told
to die with the test process (PR_SET_PDEATHSIG) so a killed pytest leaves nothing behind.

``Lab(root, env, app="notebook")`` runs Notebook 7 instead (``notebook_url`` knows its page), and
``set_theme`` picks the theme the next page load shows ("JupyterLab Light" / "JupyterLab Dark"):
both front ends read it from the same user settings folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CHROMIUM = os.environ.get("GEMINI_MAGIC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


# Run in the child before it becomes JupyterLab: PR_SET_PDEATHSIG survives exec, so the server
# gets SIGTERM when the test process dies (no preexec_fn: unsafe with the test server's threads).
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys; ctypes.CDLL('libc.so.6').prctl(1, signal.SIGTERM); "
    "os.execv(sys.executable, [sys.executable, '-m', sys.argv[1], *sys.argv[2:]])"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    def __init__(self, root: Path, env: dict[str, str], *, app: str = "jupyterlab", theme: str = "") -> None:
        self.root = root
        self.app = app  # "jupyterlab" or "notebook" (Notebook 7)
        self.port = free_port()
        self.token = secrets.token_hex(16)
        home = root / ".jupyter-test"
        dirs = {
            "JUPYTER_CONFIG_DIR": home / "config",
            "JUPYTER_DATA_DIR": home / "data",
            "JUPYTER_RUNTIME_DIR": home / "runtime",
            "JUPYTERLAB_SETTINGS_DIR": home / "settings",
            "JUPYTERLAB_WORKSPACES_DIR": home / "workspaces",
        }
        for path in dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        (dirs["JUPYTER_CONFIG_DIR"] / "labconfig").mkdir(exist_ok=True)
        (dirs["JUPYTER_CONFIG_DIR"] / "labconfig" / "page_config.json").write_text(
            json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
        )
        self.env = {**env, **{k: str(v) for k, v in dirs.items()}}
        self.settings_dir = dirs["JUPYTERLAB_SETTINGS_DIR"]
        self.process: subprocess.Popen[bytes] | None = None
        if theme:
            self.set_theme(theme)

    def set_theme(self, theme: str) -> None:
        """The theme pages loaded from now on show (the user's setting, as the Settings menu writes it)."""
        folder = self.settings_dir / "@jupyterlab" / "apputils-extension"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "themes.jupyterlab-settings").write_text(json.dumps({"theme": theme}))

    def notebook_url(self, name: str) -> str:
        """The page that opens notebook *name* (in JupyterLab, or in Notebook 7's own page)."""
        route = "notebooks" if self.app == "notebook" else "lab/tree"
        return f"{self.url}/{route}/{name}?token={self.token}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, method: str, path: str) -> object:
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def start(self) -> Lab:
        args = [
            sys.executable,
            "-c",
            _DIE_WITH_PARENT,
            self.app,
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--ServerApp.open_browser=False",
            "--ServerApp.allow_root=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.news_url=None",
            "--LabApp.extension_manager=readonly",
        ]
        log = open(self.root / f"{self.app}.log", "wb")  # noqa: SIM115 - kept open for the server's life
        self.process = subprocess.Popen(args, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.api("GET", "/api/status")
                return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError((self.root / f"{self.app}.log").read_text()) from None
                time.sleep(0.2)
        raise RuntimeError(f"{self.app} did not start in 60 s")

    def kernel_pids(self) -> list[int]:
        import psutil

        if self.process is None:
            return []
        try:
            return [child.pid for child in psutil.Process(self.process.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop_sessions(self) -> None:
        for session in self.api("GET", "/api/sessions") or []:  # type: ignore[union-attr]
            self.api("DELETE", f"/api/sessions/{session['id']}")

    def stop(self) -> None:
        if self.process is None:
            return
        children = self.kernel_pids()
        try:
            self.api("POST", "/api/shutdown")
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process = None
