"""gemini-magic ``--each`` benchmark (issue 11): throughput against a rate limit, kernel CPU per row,
Ctrl-C and re-run, peak memory. Prints one line per figure with its goal.

Run:  .venv/bin/python benchmarks/tables.py [--rate R] [--latency L] [--big-rate R2]

The rows go from a real IPython kernel to the loopback Gemini server from tests/, which accepts R
requests a second (a token bucket) after L seconds each and answers the rest with 429 + RetryInfo,
as Google does. Figures:

1. 2,000 rows with ``--rpm 60·R`` (the quota, said up front) and with no ``--rpm`` (the 429s alone
   pace the job): seconds against 2000/R, and the kernel's CPU per row (its process, all threads).
   The cache (on by default) and the exchange log are on, as a user has them; a third run without
   the log shows its share of the CPU.
2. 10,000 rows with 1 kB answers at R2 a second, Ctrl-C at about half, then the same cell again:
   requests sent in all, rows missing from the final table, rows sent twice; the kernel's peak RSS
   growth over both runs (``ru_maxrss`` inside the kernel).

A measurement, not a test: it always exits 0 unless something breaks. About two minutes.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from gemini_server import GeminiTestServer, RateLimited, prompt_of, row_answer, without_nagle  # noqa: E402
from kernels import Kernel, kernel_env  # noqa: E402
from test_rows_kernel import each_cell  # noqa: E402 - the cell exactly as the kernel tests write it

KEY = "bench-fake-key-0123456789"


def verdict(ok: bool) -> str:
    return "goal met" if ok else "GOAL MISSED"


def cpu(kernel: Kernel) -> float:
    times = psutil.Process(kernel.pid).cpu_times()
    return times.user + times.system


def make_table(kernel: Kernel, rows: int) -> None:
    kernel.run(f"import pandas as pd\ndf = pd.DataFrame({{'text': [f'ticket {{i}}' for i in range({rows})]}})")


def run_until_idle(kernel: Kernel, code: str, stop_when: collections.abc.Callable[[], bool] | None = None) -> float:
    """Run *code*; press Ctrl-C once *stop_when* says so; seconds from then (or from the start) to idle."""
    msg_id = kernel.execute(code)
    started = time.monotonic()
    pressed = None
    if stop_when is not None:
        while not stop_when():
            time.sleep(0.05)
        pressed = time.monotonic()
        kernel.interrupt()
    for msg in kernel.messages(msg_id, timeout=600):
        if msg["msg_type"] == "error" and msg["content"]["ename"] != "GeminiInterrupted":
            print("  error:", msg["content"]["ename"], msg["content"]["evalue"][:200])
    return time.monotonic() - (pressed if pressed is not None else started)


def throughput(server: GeminiTestServer, rate: float, latency: float, tmp: Path) -> None:
    rows = 2000
    ideal = rows / rate
    with Kernel(kernel_env(server.url, KEY, XDG_DATA_HOME=str(tmp)), timeout=600) as kernel:
        kernel.run("%load_ext gemini_magic")
        make_table(kernel, rows)
        for number, (label, options, log) in enumerate(
            (
                (f"--rpm {60 * rate:g}", f"--rpm {60 * rate:g}", True),
                ("no --rpm (429s only)", "", True),
                (f"--rpm {60 * rate:g}, log off", f"--rpm {60 * rate:g}", False),
            )
        ):
            kernel.run(f"%config GeminiMagic.log = {log}")
            kernel.run(f"%config GeminiMagic.cache_dir = {str(tmp / f'cache1-{number}')!r}")  # every row a miss
            limit = RateLimited(rate, latency)
            server.responder = limit
            before = cpu(kernel)
            seconds = run_until_idle(kernel, each_cell(options, "Classify {text}"))
            per_row = (cpu(kernel) - before) / rows
            share = ideal / seconds
            print(
                f"2,000 rows, {label}: {seconds:5.1f} s vs {ideal:.1f} s at the limit ({share:.0%} of it; goal ≥ 87 %, "
                f"{verdict(seconds <= 1.15 * ideal)}); kernel CPU {per_row * 1000:.2f} ms/row (goal ≤ 2, "
                f"{verdict(per_row <= 0.002)}); 429s {limit.refused:,}"
            )


def interrupted_rerun(server: GeminiTestServer, rate: float, latency: float, tmp: Path) -> None:
    rows, concurrency = 10_000, 8
    limit = RateLimited(rate, latency, answer=lambda record: row_answer(record, size=1000))
    server.responder = limit
    server.requests.clear()
    with Kernel(kernel_env(server.url, KEY, XDG_DATA_HOME=str(tmp)), timeout=600) as kernel:
        kernel.run(f"%load_ext gemini_magic\n%config GeminiMagic.cache_dir = {str(tmp / 'cache2')!r}")
        make_table(kernel, rows)
        kernel.run("import resource, gemini_magic._rows, pandas, requests")
        peak = "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
        baseline = int(kernel.run(peak)[0]["text"])
        cell = each_cell(f"--rpm {60 * rate:g} --concurrency {concurrency}", "Classify {text}")
        returned = run_until_idle(kernel, cell, lambda: limit.accepted >= rows // 2)
        kept = int(kernel.run("print(_gemini_table.answer.notna().sum())")[0]["text"])
        time.sleep(1)  # the requests in flight at Ctrl-C end (their answers go to the cache)
        first = limit.accepted
        run_until_idle(kernel, cell)
        final = kernel.run("print(_gemini_table.answer.isna().sum(), _gemini_table.error.notna().sum())")
        missing, errors = map(int, final[0]["text"].split())
        growth_mb = (int(kernel.run(peak)[0]["text"]) - baseline) / 1024
    answered = collections.Counter(prompt_of(r) for r in limit.answered)
    twice = sum(count > 1 for count in answered.values())
    total = limit.accepted
    print(
        f"10,000 rows, Ctrl-C at {first:,} answered (returned in {returned:.2f} s, goal ≤ 1, {verdict(returned <= 1)}; "
        f"{kept:,} rows kept), re-run: {total:,} requests answered in all (goal ≤ {rows + concurrency:,}, "
        f"{verdict(total <= rows + concurrency)}; {limit.refused} more refused with 429), rows lost {missing}, "
        f"answered twice {twice}, errors {errors} ({verdict(missing == 0 and twice == 0)})"
    )
    growth = f"{growth_mb:.0f} MB (goal ≤ 100, {verdict(growth_mb <= 100)})"
    print(f"peak kernel RSS growth, 10,000 rows of 1 kB answers: {growth}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="requests/s the server accepts (figure 1)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--big-rate", type=float, default=250.0, help="requests/s for the 10,000 rows (figure 2)")
    args = parser.parse_args()
    server = without_nagle(GeminiTestServer().start())
    load = " / ".join(f"{n:.1f}" for n in os.getloadavg())
    print(f"loopback server: {args.rate:g} requests/s, {args.latency:g} s each; 8 workers (the default)")
    print(f"{os.cpu_count()} CPUs, load average {load} (a busy machine raises the CPU figures and slows the job)")
    with tempfile.TemporaryDirectory() as folder:
        throughput(server, args.rate, args.latency, Path(folder))
        interrupted_rerun(server, args.big_rate, args.latency, Path(folder))
    server.stop()


if __name__ == "__main__":
    main()
