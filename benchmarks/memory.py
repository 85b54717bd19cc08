"""gemini-magic memory under hostile bodies (issue 8, item 5). Prints one line per body.

Run:  .venv/bin/python benchmarks/memory.py [--pythonpath OTHER_CHECKOUT]

Each body comes from the loopback Gemini server in tests/ (real sockets, chunked HTTP), generated
chunk by chunk so the server side stays small, and is read by our client in a fresh child process,
so the child's peak RSS (``ru_maxrss``) belongs to that body alone. The goal: each body ends with
one error line, and peak RSS growth stays within 2 × the cap that stopped it. ``--pythonpath``
runs the children against another checkout (e.g. the commit before the fix) for comparison.
This is a measurement, not a test: it always exits 0 unless something breaks.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from gemini_server import GeminiTestServer, Reply, gzipped  # noqa: E402 - found through the path set above

MB = 1 << 20
KEY = "bench-fake-key"
EVENT_CAP_MB = 64
RESPONSE_CAP_MB = 256


def repeat(block: bytes, total: int, first: bytes = b"") -> Iterator[bytes]:
    """*first*, then *block* repeated up to *total* bytes: a huge body that never exists at once."""
    yield first
    for _ in range(total // len(block)):
        yield block


# name → (how the server answers, stream?, the cap that should stop it in MB)
BODIES = {
    "3 MB gzip expanding to 3 GB (SSE)": (
        lambda: Reply([gzipped(repeat(b"\0" * MB, 3 << 30, b"data: "))], headers={"Content-Encoding": "gzip"}),
        True,
        EVENT_CAP_MB,
    ),
    "300 MB SSE line without a newline": (
        lambda: Reply([repeat(b"a" * MB, 300 * MB, b"data: ")]),
        True,
        EVENT_CAP_MB,
    ),
    "400 MB non-stream JSON body": (
        lambda: Reply(
            [repeat(b"a" * MB, 400 * MB, b'{"candidates": [{"content": {"parts": [{"text": "')],
            content_type="application/json",
        ),
        False,
        RESPONSE_CAP_MB,
    ),
    "3 MB gzip expanding to 3 GB (non-stream JSON)": (
        lambda: Reply(
            [gzipped(repeat(b" " * MB, 3 << 30, b'{"a": "'))],
            content_type="application/json",
            headers={"Content-Encoding": "gzip"},
        ),
        False,
        RESPONSE_CAP_MB,
    ),
}


def child(base_url: str, stream: bool) -> None:
    """Read one body with our client; print the outcome and the peak RSS growth as JSON."""
    import resource

    from gemini_magic._client import GeminiClient
    from gemini_magic._options import Options
    from gemini_magic._settings import resolve_settings

    config = {"model": "m", "base_url": "", "api_key_env": "", "auth": "key", "timeout": 60.0, "max_retries": 0}
    settings = resolve_settings(Options(), config, set(), {"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": base_url})
    client = GeminiClient()
    client.session  # noqa: B018 - import requests and build the session before the baseline
    url = f"{base_url}/v1beta/models/m:" + ("streamGenerateContent?alt=sse" if stream else "generateContent")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        if stream:
            for _ in client.stream(url, {}, settings):
                pass
        else:
            client.generate(url, {}, settings)
        line = "(no error)"
    except Exception as exc:  # noqa: BLE001 - what the user would see is the measurement
        line = f"{type(exc).__name__}: {exc}"
    growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024  # ru_maxrss is in KiB on Linux
    print(json.dumps({"line": line[:300], "growth_mb": growth}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pythonpath", help="import gemini_magic from this checkout in the children")
    parser.add_argument("--child", nargs=2, metavar=("URL", "STREAM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1] == "1")
        return
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "COMETAPI_KEY")}
    env["PYTHONPATH"] = args.pythonpath or str(ROOT)
    server = GeminiTestServer().start()
    try:
        for name, (reply, stream, cap) in BODIES.items():
            server.reset()
            server.push(reply())
            started = time.perf_counter()
            result = subprocess.run(
                [sys.executable, __file__, "--child", server.url, "1" if stream else "0"],
                capture_output=True,
                text=True,
                env=env,
                cwd="/",
                timeout=600,
                check=False,
            )
            took = time.perf_counter() - started
            if result.returncode != 0:
                print(f"{name}: the child failed ({result.returncode}): {result.stderr.strip()[-300:]}")
                continue
            outcome = json.loads(result.stdout.strip().splitlines()[-1])
            verdict = "ok" if outcome["growth_mb"] <= 2 * cap else "OVER 2 × cap"
            print(
                f"{name}: {outcome['line']} — peak RSS growth {outcome['growth_mb']:.0f} MB "
                f"(cap {cap} MB; {verdict}) [{took:.1f} s]",
                flush=True,
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
