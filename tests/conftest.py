"""Shared fixtures: the loopback Gemini server, an in-process test shell, and a real IPython kernel."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import kernels
from gemini_server import FIXTURES, GeminiTestServer
from kernels import Kernel
from shell import FrontEnd, TestShell

# Looks like a real key so a leak would be noticed; it is not one.
FAKE_KEY = "AIzaSyTEST-fake-key-never-real-0123456789"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_fixtures: reads the recorded responses (GEMINI_MAGIC_FIXTURES)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Without the recordings (a bare clone) the tests that read them skip and the rest run; on CI
    (``CI`` set, as every CI service does) a missing folder is a setup fault and fails the run."""
    if FIXTURES.is_dir():
        return
    reason = f"recorded fixtures not found at {FIXTURES}: set GEMINI_MAGIC_FIXTURES to their folder"
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        raise pytest.UsageError(f"CI: {reason}")
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if item.get_closest_marker("needs_fixtures"):
            item.add_marker(skip, append=False)  # before an empty-parameter-set skip, so this reason shows


@pytest.fixture(scope="session", autouse=True)
def private_data_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The user's data folder (where the exchange log goes) is a temporary one for the whole run:
    set in this process, so the in-process shells and every kernel and child process inherit it."""
    old = os.environ.get("XDG_DATA_HOME")
    folder = tmp_path_factory.mktemp("data")
    os.environ["XDG_DATA_HOME"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("XDG_DATA_HOME", None)
    else:
        os.environ["XDG_DATA_HOME"] = old


@pytest.fixture(scope="session")
def server() -> Iterator[GeminiTestServer]:
    srv = GeminiTestServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def gemini(server: GeminiTestServer) -> Iterator[GeminiTestServer]:
    """The server, emptied before and after each test."""
    server.reset()
    yield server
    server.reset()


@pytest.fixture
def shell(gemini: GeminiTestServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[TestShell]:
    """Terminal IPython in this process, the extension loaded, talking to the loopback server; its
    working folder (where the cache goes) is the test's own."""
    for name in kernels.KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("GEMINI_BASE_URL", gemini.url)
    monkeypatch.chdir(tmp_path)
    ip = TestShell.start()
    yield ip
    ip.close()


@pytest.fixture
def notebook(shell: TestShell) -> TestShell:
    """The in-process shell as a notebook sees it: a kernel, so the live view is widgets."""
    shell.kernel = FrontEnd()
    return shell


def kernel_env(server: GeminiTestServer, **extra: str) -> dict[str, str]:
    """The environment of a kernel (or any child process) that talks to *server* with the fake key."""
    return kernels.kernel_env(server.url, FAKE_KEY, **extra)


@pytest.fixture(scope="module")
def kernel(server: GeminiTestServer) -> Iterator[Kernel]:
    with Kernel(kernel_env(server)) as k:
        k.run("%load_ext gemini_magic")
        yield k


def terminal_ipython(code: str, server: GeminiTestServer) -> subprocess.CompletedProcess[str]:
    """Run *code* in terminal IPython (no kernel, no widgets) against the loopback server."""
    return subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=nocolor", "-c", code],
        env=kernel_env(server),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def output_text(outputs: list[dict[str, Any]]) -> str:
    """Everything the outputs show, as one string (for 'is X visible anywhere' checks)."""
    return json.dumps([dict(o) for o in outputs], ensure_ascii=False)


def error_of(outputs: list[dict[str, Any]]) -> dict[str, Any]:
    errors = [o for o in outputs if o["output_type"] == "error"]
    assert errors, f"expected an error output, got {outputs}"
    return errors[0]


def displays(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in outputs if o["output_type"] in ("display_data", "execute_result")]


def printed(outputs: list[dict[str, Any]]) -> str:
    """What the cell printed to stdout."""
    return "".join(o["text"] for o in outputs if o["output_type"] == "stream" and o["name"] == "stdout")


class _Elements(HTMLParser):
    """Every element and attribute a browser would build from an HTML fragment."""

    def __init__(self, fragment: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(fragment)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


DANGEROUS_TAGS = {"script", "style", "form", "input", "svg", "object", "embed", "math", "base", "meta", "link"}
SAFE_STYLES = ("text-align:", "color:", "font-style:", "font-weight:")


def assert_inert(fragment: str, *, iframes: int = 0) -> None:
    """No element that runs code, no event handler, no unsafe URL; sandboxed iframes only; no
    ``<style>`` but our own stylesheet (exactly as ``_theme`` writes it)."""
    from gemini_magic._theme import is_ours

    fragment = re.sub(
        r"<style>(.*?)</style>", lambda m: "" if is_ours(m.group(1)) else m.group(0), fragment, flags=re.S
    )
    seen_iframes = 0
    for tag, attrs in _Elements(fragment).found:
        assert tag not in DANGEROUS_TAGS, (tag, fragment)
        if tag == "iframe":
            seen_iframes += 1
            assert "sandbox" in attrs and "allow-scripts" not in (attrs["sandbox"] or ""), attrs
            assert "allow-same-origin" not in (attrs["sandbox"] or ""), attrs
            assert "src" not in attrs, attrs
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, fragment)
            if name == "style" and tag != "iframe":
                assert all(d.strip().startswith(SAFE_STYLES) for d in (value or "").split(";") if d.strip()), value
            if name in ("href", "src", "action", "formaction"):
                assert (value or "").startswith(("https://", "http://", "mailto:")), (tag, name, value)
    assert seen_iframes <= iframes, fragment
