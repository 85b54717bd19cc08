"""gemini-magic benchmarks: load time, stream throughput, kernel CPU, latency. Prints figures.

Run:  .venv/bin/pip install -e '.[test,bench]' && .venv/bin/python benchmarks/bench.py [--runs N]

Everything talks to the loopback Gemini server from tests/ (real sockets, chunked SSE); nothing
leaves the machine. Figures are medians of --runs runs; the goals are those of the project's
issue 3 and are printed next to each figure. This is a measurement, not a test: it always exits 0
unless something breaks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from gemini_server import GeminiTestServer, sse  # noqa: E402 - tests/ is on the path only now
from kernels import Kernel, kernel_env  # noqa: E402

CHUNKS = 2000
KEY = "bench-fake-key"


def answer_text(size: int = 200_000, *, code: bool = True) -> str:
    """~200 kB of chat-style Markdown: headings, paragraphs, lists, tables and (by default) a
    highlighted code block in every section — a deliberately heavy answer to render."""
    blocks = []
    i = 0
    while sum(map(len, blocks)) < size:
        i += 1
        blocks.append(
            f"## Section {i}\n\nThis paragraph explains point {i} with **bold**, *emphasis* and `code`; "
            "it goes on for a while so that it looks like a real answer written by a model.\n\n"
            f"* item {i}.1 with a [link](https://example.com/{i})\n  * nested {i}.2\n* item {i}.3\n\n"
            f"| key | value |\n|---|---:|\n| a{i} | {i * 3} |\n| b{i} | {i * 7} |\n\n"
            + (f"```python\ndef f{i}(x):\n    return x * {i}\n```\n\n" if code else "More prose follows here.\n\n")
        )
    return "".join(blocks)[:size]


def stream_events(text: str, chunks: int = CHUNKS) -> list[dict[str, Any]]:
    step = -(-len(text) // chunks)
    pieces = [text[i : i + step] for i in range(0, len(text), step)]
    events = []
    for n, piece in enumerate(pieces, 1):
        candidate: dict[str, Any] = {"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}
        if n == len(pieces):
            candidate["finishReason"] = "STOP"
        events.append(
            {
                "candidates": [candidate],
                "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": n * 25, "totalTokenCount": 9 + n * 25},
                "modelVersion": "bench-model",
                "responseId": "bench",
            }
        )
    return events


def median(values: list[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def verdict(ok: bool) -> str:
    return "goal met" if ok else "GOAL MISSED"


# ---------------------------------------------------------------------------------------------
# 1. %load_ext in a fresh process

LOAD_CODE = """
import time, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
{prepare}
t = time.perf_counter()
{action}
print(time.perf_counter() - t)
"""


def fresh_process_time(action: str, prepare: str = "", python: str = sys.executable) -> float | None:
    """Seconds *action* takes in a new interpreter, with bytecode caches as a pip install leaves them."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    code = LOAD_CODE.format(action=action, prepare=prepare)
    result = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False, timeout=120, env=env)
    if result.returncode != 0:
        return None
    return float(result.stdout.strip().splitlines()[-1])


def bench_load(runs: int, jupyter_ai_python: str | None) -> None:
    print("1. %load_ext in a fresh process (IPython already imported, as in a kernel)")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "gemini_magic")], check=False)
    ours = [fresh_process_time('shell.run_line_magic("load_ext", "gemini_magic")') for _ in range(runs)]
    figure = median([t for t in ours if t is not None])
    print(f"   %load_ext gemini_magic        {ms(figure)}   goal ≤ 20 ms: {verdict(figure <= 0.020)}")
    sdk = [fresh_process_time("from google import genai") for _ in range(runs)]
    if all(t is not None for t in sdk):
        print(f"   from google import genai      {ms(median(sdk))}   (the official SDK, for comparison)")
    else:
        print("   from google import genai      not installed (pip install google-genai)")
    if jupyter_ai_python:
        jai = [
            fresh_process_time('shell.run_line_magic("load_ext", "jupyter_ai_magics")', python=jupyter_ai_python)
            for _ in range(runs)
        ]
        if all(t is not None for t in jai):
            print(f"   %load_ext jupyter_ai_magics   {ms(median(jai))}   (jupyter-ai, for comparison)")


# ---------------------------------------------------------------------------------------------
# 2. One 2000-chunk / 200 kB stream consumed three ways


def raw_requests(server: GeminiTestServer, url: str) -> tuple[float, str]:
    import requests

    started = time.perf_counter()
    pieces = []
    with requests.post(url, json={"contents": []}, headers={"x-goog-api-key": KEY}, stream=True, timeout=60) as r:
        for line in r.iter_lines():
            if line.startswith(b"data:"):
                event = json.loads(line[5:])
                for part in event["candidates"][0]["content"]["parts"]:
                    pieces.append(part.get("text", ""))
    return time.perf_counter() - started, "".join(pieces)


def sdk_stream(server: GeminiTestServer) -> float:
    from google import genai
    from google.genai import types

    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=server.url))
    started = time.perf_counter()
    pieces = [chunk.text or "" for chunk in client.models.generate_content_stream(model="bench-model", contents="Hi")]
    elapsed = time.perf_counter() - started
    assert "".join(pieces), "the SDK received nothing"
    return elapsed


MAGIC_TIMED = (
    "import time as _t\n_s = _t.perf_counter()\n"
    "get_ipython().run_cell_magic('gemini', '-m bench-model', 'Hi')\n"
    "print(_t.perf_counter() - _s)"
)


def bench_stream(server: GeminiTestServer, kernel: Kernel, runs: int) -> None:
    from gemini_magic._markdown import render_markdown

    print(f"\n2. One {CHUNKS}-chunk / 200 kB stream, unpaced, consumed three ways (median of {runs})")
    text = answer_text()
    events = stream_events(text)
    url = f"{server.url}/v1beta/models/bench-model:streamGenerateContent?alt=sse"
    raw_times, render_times, sdk_times, magic_times = [], [], [], []
    for _ in range(runs):
        server.push(sse(events))
        elapsed, got = raw_requests(server, url)
        assert got == text
        raw_times.append(elapsed)
        started = time.perf_counter()
        render_markdown(got)
        render_times.append(time.perf_counter() - started)
        try:
            server.push(sse(events))
            sdk_times.append(sdk_stream(server))
        except ImportError:
            server.reset()
        server.push(sse(events))
        magic_times.append(float(kernel.printed(MAGIC_TIMED).strip().splitlines()[-1]))
    raw, render, magic = median(raw_times), median(render_times), median(magic_times)
    baseline = raw + render
    print(f"   raw requests + json.loads     {ms(raw)}")
    print(f"   one Markdown render (whole)   {ms(render)}")
    print(
        f"   %%gemini, full live rendering {ms(magic)}   "
        f"goal ≤ 1.2 × (raw + one render) = {ms(1.2 * baseline).strip()}: "
        f"{verdict(magic <= 1.2 * baseline)} ({magic / baseline:.2f} ×)"
    )
    if sdk_times:
        sdk = median(sdk_times)
        print(
            f"   google-genai SDK stream       {ms(sdk)}   goal: magic ≤ 0.5 × SDK = {ms(0.5 * sdk).strip()}: "
            f"{verdict(magic <= 0.5 * sdk)} ({magic / sdk:.2f} ×)"
        )
    else:
        print("   google-genai SDK stream       not installed (pip install google-genai)")


# ---------------------------------------------------------------------------------------------
# 3. Kernel CPU during a paced stream


def bench_cpu(server: GeminiTestServer, kernel: Kernel, runs: int) -> None:
    runs = max(3, runs // 2)
    print(f"\n3. Kernel CPU while a paced stream renders ({CHUNKS} chunks at 200/s, median of {runs})")
    cpu_share(server, kernel, runs, answer_text(), "the answer above (a code block per section)", goal=True)
    cpu_share(server, kernel, runs, answer_text(code=False), "the same without code blocks", goal=False)


def cpu_share(server: GeminiTestServer, kernel: Kernel, runs: int, text: str, label: str, *, goal: bool) -> None:
    import psutil

    events = stream_events(text)
    process = psutil.Process(kernel.pid)
    shares, walls, cpus = [], [], []
    for _ in range(runs):
        server.push(sse(events, pause=0.005))
        before = process.cpu_times()
        started = time.perf_counter()
        kernel.printed("%%gemini -m bench-model\nHi")
        walls.append(time.perf_counter() - started)
        after = process.cpu_times()
        cpus.append((after.user - before.user) + (after.system - before.system))
        shares.append(cpus[-1] / walls[-1])
    share = median(shares)
    verdict_text = f"   goal ≤ 10 %: {verdict(share <= 0.10)}" if goal else ""
    print(
        f"   {label}: wall {median(walls):.2f} s, kernel CPU {median(cpus):.2f} s = {share:.1%} of one core "
        f"(all kernel threads){verdict_text}"
    )


# ---------------------------------------------------------------------------------------------
# 4. Latency


def bench_latency(server: GeminiTestServer, kernel: Kernel, runs: int) -> None:
    print(f"\n4. Latency (median of {runs})")
    delays = []
    for n in range(runs):
        marker = f"Latency probe {n}"
        sent: list[float] = []
        reply = sse(stream_events(marker + " and the rest of a short answer.", chunks=1))
        reply.steps.insert(0, 0.3)  # let the live view start first
        reply.steps.insert(1, lambda sent=sent: sent.append(time.perf_counter()))
        server.push(reply)
        seen: list[float] = []

        def watch(msg: dict[str, Any], marker: str = marker, seen: list[float] = seen) -> None:
            if not seen and marker in json.dumps(msg["content"]):
                seen.append(time.perf_counter())

        kernel.printed("%%gemini -m bench-model\nHi", on_message=watch)
        delays.append(seen[0] - sent[0])
    figure = median(delays)
    print(
        f"   first chunk sent → first front-end message carrying it {ms(figure)}   "
        f"goal ≤ 50 ms: {verdict(figure <= 0.05)}"
    )

    firsts = []
    for _ in range(max(3, runs // 2)):
        fresh = Kernel(kernel_env(server.url, KEY))
        try:
            fresh.printed("%load_ext gemini_magic")
            server.push(sse(stream_events("Hello from a fresh kernel.", chunks=3)))
            shown: list[float] = []

            def first_output(msg: dict[str, Any], shown: list[float] = shown) -> None:
                if not shown and msg["msg_type"] in ("display_data", "stream", "error"):
                    shown.append(time.perf_counter())

            started = time.perf_counter()
            fresh.printed("%%gemini -m bench-model\nHi", on_message=first_output)
            firsts.append(shown[0] - started)
        finally:
            fresh.close()
    figure = median(firsts)
    print(
        f"   first %%gemini in a fresh kernel → first visible output {ms(figure)}   "
        f"goal ≤ 300 ms: {verdict(figure <= 0.3)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--jupyter-ai-python", help="a Python with jupyter-ai-magics installed, to compare load time")
    args = parser.parse_args()
    print(f"gemini-magic benchmarks · Python {sys.version.split()[0]} · {args.runs} runs each\n")
    bench_load(args.runs, args.jupyter_ai_python)
    server = GeminiTestServer().start()
    kernel = Kernel(kernel_env(server.url, KEY))
    try:
        kernel.printed("%load_ext gemini_magic")
        bench_stream(server, kernel, args.runs)
        bench_cpu(server, kernel, args.runs)
        bench_latency(server, kernel, args.runs)
    finally:
        kernel.close()
        server.stop()


if __name__ == "__main__":
    main()
