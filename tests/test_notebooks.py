"""The demo notebooks: stripped in git, and run top to bottom against the loopback server —
in the test environment, and in a fresh venv built from binder/ alone (as Binder would)."""

from __future__ import annotations

import base64
import json
import math
import os
import re
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
import scenarios
from conftest import FAKE_KEY, kernel_env, output_text
from gemini_server import GeminiTestServer
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks_to_hand_out() -> None:
    assert {p.name for p in NOTEBOOKS} >= {
        "quickstart.ipynb",
        "grounded-answers.ipynb",
        "images.ipynb",
        "structured-json.ipynb",
        "thinking-and-code.ipynb",
        "fix-and-code.ipynb",
        "tables.ipynb",
        "media.ipynb",
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stripped_and_keyless(path: Path) -> None:
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, "outputs must be stripped in git"
    text = path.read_text()
    assert "AIza" not in text and "GEMINI_API_KEY=" not in text.replace("GEMINI_API_KEY=...", "")


def execute(path: Path, server: GeminiTestServer, workdir: Path, kernel_name: str = "python3", **env: str) -> Any:
    server.reset()
    server.responder = scenarios.StandIn()
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name=kernel_name, resources={"metadata": {"path": str(workdir)}})
    client.execute(env=kernel_env(server, **env))
    return nb


def model_calls(server: GeminiTestServer) -> list[Any]:
    """The requests that ask a model for something (and cost): generate and embed, not files,
    caches or token counts."""
    return [r for r in server.requests if r.path.split("?")[0].endswith(("GenerateContent", "generateContent",
                                                                         ":batchEmbedContents"))]  # fmt: skip


def check_ran(nb: Any, server: GeminiTestServer) -> None:
    """Every cell ran without error (a cell tagged ``raises-exception`` must fail, as nbclient lets it),
    every magic cell shows a static answer (after an upload's line, if any), and the model calls are
    what the cells asked for: one per answer, one per row of an ``--each`` table, one per 100 texts of
    an ``embed``, none for ``--count-tokens`` (nor for the line magics on files and caches)."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    magic_cells = [c for c in code if c.source.startswith(("%%gemini", "%gemini fix", "%gemini embed"))]
    assert magic_cells
    for cell in code:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if "raises-exception" in cell.metadata.get("tags", []):
            assert errors, f"a cell tagged raises-exception did not fail: {cell.source}"
        else:
            assert not errors, (cell.source, cell.outputs)
    expected = 0
    for cell in magic_cells:
        if "--dry-run" in cell.source:
            continue
        assert not [o for o in cell.outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
        shown = [o.data for o in cell.outputs if "data" in o]
        many = cell.source.startswith("%gemini embed") or "--each" in cell.source
        assert shown and (len(shown) == 1 or not many), (cell.source, cell.outputs)  # one output for a whole table
        if cell.source.startswith("%gemini embed"):
            texts = re.match(r"Embedded (\d+) texts? → \1 × \d+ in ", shown[0]["text/plain"])
            assert texts, shown[0]
            expected += math.ceil(int(texts.group(1)) / 100)
            continue
        if "--count-tokens" in cell.source:
            assert "countTokens: nothing was generated" in shown[-1]["text/plain"], shown
            continue
        html = shown[-1].get("text/html", "")
        assert '<div class="gemini-magic">' in html, cell.source  # after the CSS, when a <style> leads
        rows = re.match(r"(\d+) rows in ", shown[0]["text/plain"]) if "--each" in cell.source else None
        if "--each" in cell.source:
            assert rows and "<table" in html and "· 0 errors" in shown[0]["text/plain"].splitlines()[0], shown[0]
        expected += int(rows.group(1)) if rows else 1
    assert len(model_calls(server)) == expected
    assert FAKE_KEY not in nbformat.writes(nb)


@pytest.mark.needs_fixtures
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path: Path, gemini: GeminiTestServer, tmp_path: Path) -> None:
    nb = execute(path, gemini, tmp_path)
    check_ran(nb, gemini)
    if path.name == "structured-json.ipynb":
        frame = next(c for c in nb.cells if c.source.startswith("df = pd.DataFrame"))
        assert "<table" in frame.outputs[0].data["text/html"] and "moons" in frame.outputs[0].data["text/html"]
    if path.name == "images.ipynb":
        assert (tmp_path / "axolotl.png").read_bytes()[:4] == b"\x89PNG"
    if path.name == "fix-and-code.ipynb":
        check_fix_and_code(gemini)
    if path.name == "tables.ipynb":
        check_tables(nb, gemini)
    if path.name == "media.ipynb":
        check_media(nb, gemini, tmp_path)


def check_fix_and_code(server: GeminiTestServer) -> None:
    """What the fix, ``{In[-1]}``/``{Out[-1]}`` and ``--context`` cells sent (in notebook order)."""
    fix, fix_more, code, by_number, context = (r.body["contents"][-1]["parts"][-1]["text"] for r in server.requests)
    failing = 'total = sales["revenue"].sum()\ntotal'
    assert f"```python\n{failing}\n```" in fix and "KeyError: 'revenue'" in fix and "shape (6, 2)" in fix
    assert "site-packages" not in fix and fix_more.endswith("Also:\nKeep the total as a float rounded to 2 decimals.")
    assert code.startswith("Plot sales.amount by month") and "code block" in code
    assert "The code was:\nsales.describe()\nand it gave:\n" in by_number and "count" in by_number
    assert 'big_months = sales[sales["amount"] > 1000]' in context and "0 months to plot" in context
    assert context.endswith("Why would a bar chart of big_months be empty?")


def check_tables(nb: Any, server: GeminiTestServer) -> None:
    """One request per ticket with the schema, one embedding batch of 256-long vectors, and the
    table, shape and similarities shown from what came back."""
    asked = [r for r in server.requests if r.path.endswith(":generateContent")]
    prompts = {r.body["contents"][-1]["parts"][-1]["text"] for r in asked}
    assert len(asked) == len(prompts) == 7 and all(p.startswith("Classify this customer") for p in prompts)
    assert all(r.body["generationConfig"]["responseJsonSchema"]["required"] == ["category", "urgency"] for r in asked)
    (batch,) = [r for r in server.requests if r.path.endswith(":batchEmbedContents")]
    assert [e["outputDimensionality"] for e in batch.body["requests"]] == [256] * 7
    outputs = {c.source.splitlines()[0]: c.outputs for c in nb.cells if c.cell_type == "code"}
    joined = outputs['tickets.join(labels[["category", "urgency"]])'][0].data["text/plain"]
    assert "category" in joined and "urgency" in joined and "NaN" not in joined
    assert outputs["vectors.shape"][0].data["text/plain"] == "(7, 256)"
    similar = outputs["unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)"][0].data["text/plain"]
    assert similar.count("\n") >= 6 and "101 " not in similar  # six other tickets, the first left out


def check_media(nb: Any, server: GeminiTestServer, workdir: Path) -> None:
    """The WAV went inline, the 21 MB PDF up once (in 8 MiB pieces) and then only by its URI (the
    answer, the count and the cache), the YouTube link as it is; speech came back as players and a
    WAV file that ``wave`` reads; the cache was made, used by name and deleted; the files deleted."""
    outputs = {c.source.splitlines()[0]: c.outputs for c in nb.cells if c.cell_type == "code"}
    size = (workdir / "big.pdf").stat().st_size
    assert size > 20_000_000 and (workdir / "big.pdf").read_bytes()[:8] == b"%PDF-1.7"
    uploads = [r for r in server.requests if r.path.startswith("/upload/v1beta/files")]
    starts = [r for r in uploads if r.headers.get("X-Goog-Upload-Command") == "start"]
    assert len(starts) == 1 and starts[0].headers["X-Goog-Upload-Header-Content-Length"] == str(size)
    assert sum(len(r.body) for r in uploads[1:]) == size and max(len(r.body) for r in uploads[1:]) <= 8 << 20
    first = next(r for r in model_calls(server) if "document" in json.dumps(r.body))
    (sent,) = [p["fileData"] for p in first.body["contents"][-1]["parts"] if "fileData" in p]
    assert sent["mimeType"] == "application/pdf" and sent["fileUri"].endswith("/v1beta/files/in-up1")
    assert all(len(json.dumps(r.body)) < 1 << 20 for r in model_calls(server))  # the PDF never inline
    (count,) = [r for r in server.requests if r.path.endswith(":countTokens")]
    assert {"fileData": sent} in count.body["generateContentRequest"]["contents"][-1]["parts"]
    (create,) = [r for r in server.requests if r.method == "POST" and r.path == "/v1beta/cachedContents"]
    assert {"fileData": sent} in create.body["contents"][-1]["parts"] and create.body["ttl"] == "3600s"
    (cached,) = [r for r in model_calls(server) if "cachedContent" in r.body]
    assert cached.body["cachedContent"] == "cachedContents/c1x" and "(258 cached)" in output_text(
        outputs["%%gemini --cached-content manual"]
    )
    assert [r.path for r in server.requests if r.method == "DELETE"] == [
        "/v1beta/cachedContents/c1x",
        "/v1beta/files/in-up1",
    ]
    wav, youtube = (
        next(r for r in model_calls(server) if marker in json.dumps(r.body)) for marker in ("audio/", "youtube")
    )
    (tone,) = [p["inlineData"] for p in wav.body["contents"][-1]["parts"] if "inlineData" in p]
    assert tone["mimeType"] in ("audio/wav", "audio/x-wav") and base64.b64decode(tone["data"])[:4] == b"RIFF"
    linked = [p["fileData"]["fileUri"] for p in youtube.body["contents"][-1]["parts"] if "fileData" in p]
    assert linked == ["https://www.youtube.com/watch?v=9hE5-98ZeCg"]  # as it is: nothing downloaded
    spoken = [r for r in model_calls(server) if "speechConfig" in r.body.get("generationConfig", {})]
    assert [r.path.split(":")[0].rsplit("/", 1)[-1] for r in spoken] == ["gemini-2.5-flash-preview-tts"] * 2
    assert "multiSpeakerVoiceConfig" in json.dumps(spoken[1].body) and "Puck" in json.dumps(spoken[1].body)
    for line in ("%%gemini --speech Kore", '%%gemini --speakers "Joe=Kore,Jane=Puck"'):
        assert re.search(r'<audio controls[^>]* src="data:audio/wav;base64,', outputs[line][-1].data["text/html"])
    assert outputs["hello = _gemini.audio[0]"][0].data["text/plain"] == "(0.5, 24000)"
    with wave.open(str(workdir / "hello.wav")) as hello:
        assert (hello.getframerate(), hello.getnframes(), hello.getsampwidth()) == (24000, 12000, 2)
    assert "files/in-up1" in output_text(outputs["%gemini files"]) and "21 MB" in output_text(outputs["%gemini files"])
    assert (
        "Answer 2 to: Suggest a name"
        in outputs["[candidate.text for candidate in _gemini.candidates]"][0].data["text/plain"]
    )


@pytest.mark.needs_fixtures
def test_quickstart_without_a_key_says_how_to_set_one(gemini: GeminiTestServer, tmp_path: Path) -> None:
    gemini.responder = scenarios.answer
    nb = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True)
    env = kernel_env(gemini)
    del env["GEMINI_API_KEY"]
    client.execute(env=env)
    first_real = next(c for c in nb.cells if c.source.startswith("%%gemini --system"))
    assert [o.output_type for o in first_real.outputs] == ["stream"]
    assert first_real.outputs[0].text.startswith("UsageError: No API key: set one of GEMINI_API_KEY")
    assert gemini.requests == []


@pytest.fixture(scope="module")
def binder_kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A venv built from binder/requirements.txt alone, registered as a kernel named 'binder'."""
    venv = tmp_path_factory.mktemp("binder") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", "binder/requirements.txt"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    prefix = venv.parent / "share"
    subprocess.run(
        [str(python), "-m", "ipykernel", "install", "--prefix", str(venv.parent), "--name", "binder"],
        check=True,
        capture_output=True,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(prefix / "jupyter"))
        yield "binder"


@pytest.mark.needs_fixtures
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_the_binder_environment(
    path: Path, binder_kernel: str, gemini: GeminiTestServer, tmp_path: Path
) -> None:
    nb = execute(path, gemini, tmp_path, kernel_name=binder_kernel)
    check_ran(nb, gemini)
    kernel_python = nb.metadata.get("language_info", {}).get("name")
    assert kernel_python == "python"
