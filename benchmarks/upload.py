"""Files API uploads (issue 12): memory, throughput and resume cost of a 200 MB attachment.

Run:  .venv/bin/python benchmarks/upload.py [--mb 200] [--rounds 3]

The loopback Files API of tests/files_service.py (real sockets; it hashes what it reads and keeps
nothing) runs in this process; a real IPython kernel runs ``%%gemini --attach big.mp4`` against it,
which uploads the file in 16 MiB pieces read from disk (hashing it beside the upload: no file of
its size was uploaded before), polls it until ACTIVE and sends the question with its ``fileData``.
In the same kernel, for comparison, a raw ``requests`` upload of the same file: one start request,
then the whole file in one streamed POST. Figures (medians of ``--rounds``, alternated):

* the kernel's peak RSS growth during the attach cell: VmRSS sampled every 5 ms by a thread in the
  kernel, minus the RSS before it (goal ≤ 50 MB), and ``ru_maxrss`` before/after;
* throughput: file size / wall time of the whole attach cell (hash, upload, poll, answer) and
  of the upload alone, against the raw upload (goal ≥ 50 %);
* resume: the server drops the connection once 60 % of the file has arrived, keeping whole 256 KiB
  granules; bytes read by the server (all attempts) / file size (goal ≤ 1.1).

A measurement, not a test: it prints the figures and exits 0 unless something breaks.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from files_service import FilesService  # noqa: E402 - found through the path set above
from kernels import Kernel, kernel_env  # noqa: E402

KEY = "bench-fake-key-0123456789abcdef"
MB = 1 << 20

SAMPLER = """
import threading, time, resource, json
def _rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))
class _Sampler:
    def __enter__(self):
        self.base, self.peak, self.stop = _rss(), 0, threading.Event()
        self.maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.t = threading.Thread(target=self.run, daemon=True); self.t.start(); self.t0 = time.perf_counter()
        return self
    def run(self):
        while not self.stop.wait(0.005):
            self.peak = max(self.peak, _rss())
    def __exit__(self, *a):
        self.seconds = time.perf_counter() - self.t0
        self.stop.set(); self.t.join()
        self.maxrss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
"""

RAW = """
import requests, time, os
def _raw_upload(base, path, key):
    size = os.path.getsize(path)
    t0 = time.perf_counter()
    with requests.Session() as s:
        start = s.post(f"{base}/upload/v1beta/files", json={"file": {"displayName": "raw"}}, headers={
            "x-goog-api-key": key, "X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(size), "X-Goog-Upload-Header-Content-Type": "video/mp4"})
        url = start.headers["X-Goog-Upload-URL"]
        with open(path, "rb") as f:
            done = s.post(url, data=f, headers={"x-goog-api-key": key, "X-Goog-Upload-Command": "upload, finalize",
                                                "X-Goog-Upload-Offset": "0", "Content-Length": str(size)})
        assert done.status_code == 200, done.text
    return time.perf_counter() - t0
"""


ATTACH = (
    "from gemini_magic import _uploads\n_uploads._digests.clear()  # hash it again, as a new file would be\n"
    "with _Sampler() as s:\n"
    "    get_ipython().run_cell_magic('gemini', '--attach big.mp4', 'What happens?')\n"
    "print(json.dumps({'seconds': s.seconds, 'base': s.base, 'peak': s.peak, 'maxrss0': s.maxrss0,"
    " 'maxrss1': s.maxrss1}))"
)
UPLOAD_ONLY = """
from gemini_magic import _files
from gemini_magic._options import Options
m = get_ipython().magics_manager.registry['GeminiMagic']
t0 = time.perf_counter()
with open('big.mp4', 'rb') as f:
    _files.upload(m.client, m.settings(Options()), f, 'video/mp4', 'again')
print(json.dumps({'seconds': time.perf_counter() - t0}))
"""


def make_file(path: Path, size: int) -> None:
    """An MP4 (ftyp box) of *size* bytes of random content, written 8 MB at a time."""
    with path.open("wb") as out:
        out.write(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2")
        left = size - 24
        while left > 0:
            out.write(os.urandom(min(8 * MB, left)))
            left -= 8 * MB


def cell_json(kernel: Kernel, code: str) -> dict[str, float]:
    outputs = kernel.run(code)
    assert kernel.reply["status"] == "ok", outputs
    text = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream" and o["name"] == "stdout")
    return json.loads(text.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="file size in MiB (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each kind; medians are shown")
    args = parser.parse_args()
    size = args.mb * MB
    with tempfile.TemporaryDirectory() as folder:
        big = Path(folder) / "big.mp4"
        make_file(big, size)
        with big.open("rb") as handle:
            (Path(folder) / "small.mp4").write_bytes(handle.read(MB))
        service = FilesService(keep=False).start()
        try:
            with Kernel(kernel_env(service.url, KEY), timeout=600) as kernel:
                kernel.run(f"import os; os.chdir({folder!r})\n%load_ext gemini_magic\n{SAMPLER}\n{RAW}")
                kernel.run("%%gemini --attach small.mp4\nwarm up")  # imports, the session, the widget classes
                kernel.run("import time, os")
                rounds = []
                for number in range(args.rounds):  # alternated, so a busy moment hits all three alike
                    kernel.run(f"%config GeminiMagic.cache_dir = '.cache-{number}'")  # no reuse: upload again
                    before = len(service.generates())
                    attach = cell_json(kernel, ATTACH)
                    assert len(service.generates()) == before + 1, "the attach cell did not reach the answer"
                    upload_only = cell_json(kernel, UPLOAD_ONLY)["seconds"]
                    raw = cell_json(
                        kernel, f"print(json.dumps({{'seconds': _raw_upload({service.url!r}, 'big.mp4', {KEY!r})}}))"
                    )["seconds"]
                    rounds.append((attach, upload_only, raw))
                uploads = [e for e in service.log if "upload_id=" in e.path]
        finally:
            service.stop()

        resume = FilesService(keep=False, drop_at=0.6, granule=256 << 10).start()
        try:
            sys.path.insert(0, str(ROOT))
            from gemini_magic import _files
            from gemini_magic._client import GeminiClient
            from gemini_magic._options import Options
            from gemini_magic._settings import resolve_settings

            settings = resolve_settings(Options(), {}, set(), {"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": resume.url})
            sent = [0, 0]  # bytes read from the file for the socket, in all; the last position

            def progress(position: int) -> None:
                sent[0] += max(0, position - sent[1])
                sent[1] = position

            with big.open("rb") as handle:
                file = _files.upload(GeminiClient(), settings, handle, "video/mp4", "resume", progress=progress)
            assert file["sizeBytes"] == str(size)
            queries = sum(e.headers.get("X-Goog-Upload-Command") == "query" for e in resume.log)
        finally:
            resume.stop()

    mb = size / 1e6
    attach = max((r[0] for r in rounds), key=lambda a: a["peak"] - a["base"])  # the worst memory round
    growth = (attach["peak"] - attach["base"]) / MB
    maxrss = f"ru_maxrss {attach['maxrss0'] / MB:.0f} -> {attach['maxrss1'] / MB:.0f} MiB"
    cell = statistics.median(r[0]["seconds"] for r in rounds)
    upload_seconds = statistics.median(r[1] for r in rounds)
    raw = statistics.median(r[2] for r in rounds)
    lines = [
        f"file: {args.mb} MiB ({mb:.0f} MB); {len(uploads)} upload requests in all"
        f" ({_files.piece_bytes(size) >> 20} MiB pieces);"
        f" medians of {args.rounds} rounds",
        f"kernel RSS in %%gemini --attach: base {attach['base'] / MB:.0f} MiB, peak {attach['peak'] / MB:.0f} MiB,",
        f"  growth {growth:.1f} MiB (goal <= 50); {maxrss}",
        f"raw requests upload:         {raw:6.2f} s {mb / raw:7.1f} MB/s",
        f"_files.upload (upload only): {upload_seconds:6.2f} s {mb / upload_seconds:7.1f} MB/s"
        f"  {100 * raw / upload_seconds:.0f} % of raw",
        f"%%gemini --attach (hash, upload, poll, answer): {cell:6.2f} s"
        f" {mb / cell:7.1f} MB/s  {100 * raw / cell:.0f} % of raw (goal >= 50 %)",
        f"resume after a drop at 60 %: {queries} query; the server read {resume.received / size:.3f} x the file,"
        f" the client read {sent[0] / size:.3f} x (goal <= 1.1)",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
