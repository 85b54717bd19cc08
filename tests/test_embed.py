"""Embeddings: ``gemini_magic.embed()`` and ``%gemini embed`` against the loopback server.

The server computes each answer from the request (a text's vector starts with the number in it),
so row order, batching and the cache are checked on what was really sent and received.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy
import pandas
import pytest
from conftest import FAKE_KEY, Kernel, displays
from gemini_server import GeminiTestServer, Recorded, Reply, error_reply, json_reply
from IPython.core.error import UsageError
from shell import TestShell

from gemini_magic import GeminiAPIError, GeminiInterrupted, GeminiStreamError, embed

RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
PATH = "/v1beta/models/gemini-embedding-001:batchEmbedContents"


def _texts(body: Any) -> list[str]:
    return [entry["content"]["parts"][0]["text"] for entry in body["requests"]]


def _number(text: str) -> float:
    found = re.search(r"\d+", text)
    return float(found.group()) if found else -1.0


def answer(record: Recorded, *, pause: float = 0.0) -> Reply:
    """Each text's vector: [the number in it, its length, 0.5, 0.25 …] cut to outputDimensionality (4)."""
    texts = _texts(record.body)
    width = record.body["requests"][0].get("outputDimensionality", 4)
    rows = [[_number(t), float(len(t)), 0.5, *[0.25] * (width - 3)][:width] for t in texts]
    reply = json_reply({"embeddings": [{"values": row} for row in rows]})
    if pause:
        reply.steps.insert(0, pause)
    return reply


@pytest.fixture
def api(gemini: GeminiTestServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> GeminiTestServer:
    """embed() in this process against the loopback server; the cache goes to the test's folder."""
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("GEMINI_BASE_URL", gemini.url)
    monkeypatch.chdir(tmp_path)
    gemini.responder = answer
    return gemini


def test_batches_of_100_in_order_with_every_field(api: GeminiTestServer) -> None:
    # the three batches go at once and the first answers last: the rows still come back in input order
    arrivals: list[float] = []

    def slow_first(record: Recorded) -> Reply:
        arrivals.append(time.monotonic())
        return answer(record, pause=0.5 if _texts(record.body)[0] == "text 0" else 0.0)

    api.responder = slow_first
    texts = [f"text {i}" for i in range(250)]
    vectors = embed(texts, dimensions=numpy.int64(3), task_type="clustering")
    assert isinstance(vectors, numpy.ndarray)
    assert vectors.shape == (250, 3) and vectors.dtype == numpy.float32
    assert vectors[:, 0].tolist() == list(range(250))
    assert sorted(len(r.body["requests"]) for r in api.requests) == [50, 100, 100]
    first = api.requests[0]
    assert first.path == PATH and first.headers["x-goog-api-key"] == FAKE_KEY and FAKE_KEY not in first.path
    assert first.body["requests"][0] == {
        "model": "models/gemini-embedding-001",
        "content": {"parts": [{"text": _texts(first.body)[0]}]},
        "taskType": "CLUSTERING",
        "outputDimensionality": 3,
    }
    assert max(arrivals) - min(arrivals) < 0.4  # all sent before the first batch was answered


def test_the_cache_answers_a_rerun_and_can_be_turned_off(api: GeminiTestServer, tmp_path: Path) -> None:
    texts = [f"t{i}" for i in range(150)]
    first = embed(texts)
    assert len(api.requests) == 2 and len(list((tmp_path / ".gemini-cache").glob("*.json"))) == 2
    again = embed(texts)
    assert len(api.requests) == 2 and (again == first).all()
    embed(texts, cache=False)
    assert len(api.requests) == 4


def test_cached_vectors_need_no_key(api: GeminiTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    embed(["a 1", "b 2"])
    monkeypatch.delenv("GEMINI_API_KEY")
    assert embed(["a 1", "b 2"])[:, 0].tolist() == [1.0, 2.0]
    with pytest.raises(UsageError, match="No API key"):
        embed(["not cached"])
    assert len(api.requests) == 1


def test_a_429_pauses_every_worker(api: GeminiTestServer) -> None:
    arrivals: list[float] = []
    lock = threading.Lock()

    def limited(record: Recorded) -> Reply:
        with lock:
            arrivals.append(time.monotonic())
            first = len(arrivals) == 1
        if first:
            return error_reply(429, "RESOURCE_EXHAUSTED", "quota", [{"@type": RETRY_INFO, "retryDelay": "1s"}])
        return answer(record, pause=0.2)

    api.responder = limited
    vectors = embed([f"x{i}" for i in range(500)])  # 5 batches, 4 workers
    assert vectors[:, 0].tolist() == list(range(500))
    assert len(arrivals) == 6  # the refused batch once more
    later = sorted(arrivals)[4:]  # the retry and the fifth batch: both after the pause
    assert all(t - arrivals[0] >= 0.95 for t in later), [t - arrivals[0] for t in later]


def test_a_503_is_retried_and_a_400_is_not(api: GeminiTestServer) -> None:
    api.push(error_reply(503, "UNAVAILABLE", "busy", [{"@type": RETRY_INFO, "retryDelay": "0.1s"}]))
    assert embed(["one 1"]).tolist() == [[1.0, 5.0, 0.5, 0.25]]
    assert len(api.requests) == 2
    api.push(error_reply(400, "INVALID_ARGUMENT", "at most 100 requests can be in one batch"))
    with pytest.raises(GeminiAPIError, match="at most 100"):
        embed(["two 2"])
    assert len(api.requests) == 3


def test_rpm_spaces_the_requests(api: GeminiTestServer) -> None:
    times: list[float] = []

    def timed(record: Recorded) -> Reply:
        times.append(time.monotonic())
        return answer(record)

    api.responder = timed
    embed([f"r{i}" for i in range(300)], rpm=300, cache=False)  # one request every 0.2 s
    assert len(times) == 3 and max(times) - min(times) >= 0.35


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"embeddings": [{"values": [1.0]}]}, "1 entries in 'embeddings' for a batch of 2"),
        ({"embedding": {"values": [1.0]}}, "no list in 'embeddings'"),
        (
            {"embeddings": [{"values": [1.0]}, {"values": ["1.0"]}]},
            r"'embeddings\[1\].values' is not a list of numbers",
        ),
        ({"embeddings": [{"values": [1.0]}, {"values": []}]}, r"'embeddings\[1\].values' is not a list of numbers"),
        ({"embeddings": [{"values": [1.0, 2.0]}, {"values": [1.0]}]}, r"'embeddings\[1\].values' has 1 numbers"),
        ({"embeddings": [{"values": [1.0]}, {"values": [10**400]}]}, r"'embeddings\[1\].values' holds NaN"),
        ({"embeddings": [{"values": [float("nan")]}, {"values": [1.0]}]}, r"'embeddings\[0\].values' holds NaN"),
        ({"embeddings": [{"values": [1.0]}, {"values": [1e300]}]}, "a number past float32"),
    ],
)
def test_a_malformed_answer_names_the_field_and_is_not_cached(
    api: GeminiTestServer, tmp_path: Path, body: dict[str, Any], message: str
) -> None:
    api.push(json_reply(body))
    with pytest.raises(GeminiStreamError, match=message):
        embed(["a", "b"])
    assert not list(tmp_path.glob(".gemini-cache/*.json"))


def test_a_corrupt_cache_entry_is_sent_again(api: GeminiTestServer, tmp_path: Path) -> None:
    embed(["c 3"])
    (entry,) = (tmp_path / ".gemini-cache").glob("*.json")
    entry.write_text(json.dumps({"embeddings": []}))
    assert embed(["c 3"])[0, 0] == 3.0
    assert len(api.requests) == 2


def test_input_shapes_missing_values_and_non_strings(api: GeminiTestServer) -> None:
    frame = pandas.DataFrame({"text": ["a 1", None, float("nan"), 42, pandas.NA]})
    vectors = embed(frame.text)
    assert _texts(api.requests[-1].body) == ["a 1", "", "", "42", ""]
    assert vectors.shape == (5, 4)
    assert embed(frame[["text"]]).shape == (5, 4)  # a one-column table is its column
    assert embed(("q 7",))[0, 0] == 7.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: embed([]), "texts is empty; nothing was sent"),
        (lambda: embed("one text"), "texts is a str; give a list"),
        (lambda: embed({"a": "b"}), "texts is a dict"),
        (lambda: embed(pandas.DataFrame({"a": ["x"], "b": ["y"]})), "a table with 2 columns"),
        (lambda: embed(numpy.array([["x"]])), "has 2 dimensions"),
        (lambda: embed(5), "texts is a int, not a list"),
        (lambda: embed(["x"], task_type="clustring"), "unknown task type 'clustring'"),
        (lambda: embed(["x"], dimensions=0), "dimensions must be a positive whole number"),
        (lambda: embed(["x"], dimensions=7.5), "dimensions must be a positive whole number"),
        (lambda: embed(["x"], dimensions="²"), "dimensions must be a positive whole number"),
        (lambda: embed(["x"], temperature=0), "temperature does not apply to embeddings"),
        (lambda: embed(["x"], out="v"), "out= is the magic's option"),
        (lambda: embed(["x"], model="bad model"), "model"),
        (lambda: embed([f"my key {FAKE_KEY}"]), "a text holds your API key"),
    ],
)
def test_bad_input_is_one_line_and_sends_nothing(api: GeminiTestServer, call: Any, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)) as caught:
        call()
    assert "\n" not in str(caught.value) and FAKE_KEY not in str(caught.value)
    assert api.requests == []


def test_without_numpy_a_list_of_lists(api: GeminiTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "numpy", None)  # import numpy now fails
    vectors = embed([f"n{i}" for i in range(120)], dimensions=2)
    assert isinstance(vectors, list) and len(vectors) == 120
    assert vectors[0] == [0.0, 2.0] and vectors[119] == [119.0, 4.0]


def test_ctrl_c_stops_at_once_and_keeps_the_finished_batches(api: GeminiTestServer, tmp_path: Path) -> None:
    gate = threading.Event()
    api.responder = lambda r: answer(r) if _texts(r.body)[0] == "s0" else Reply([gate], content_type="application/json")
    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
    started = time.monotonic()
    try:
        with pytest.raises(GeminiInterrupted, match="after 100 of 300 texts; they are cached"):
            embed([f"s{i}" for i in range(300)])
        assert time.monotonic() - started < 1.5
    finally:
        gate.set()
    assert len(list((tmp_path / ".gemini-cache").glob("*.json"))) == 1


# ---- %gemini embed


def test_the_magic_stores_the_vectors_and_says_so(notebook: TestShell, gemini: GeminiTestServer) -> None:
    gemini.responder = answer
    notebook.run("import pandas as pd\ndf = pd.DataFrame({'text': ['a 1', 'b 2', 'c 3']})")
    notebook.run("%gemini embed df.text -o vectors --dimensions 3 --task-type retrieval-document")
    vectors = notebook.user_ns["vectors"]
    assert vectors.shape == (3, 3) and vectors[:, 0].tolist() == [1.0, 2.0, 3.0]
    summary = notebook.texts()[-1]
    assert re.fullmatch(r"Embedded 3 texts → 3 × 3 in \d+\.\d s, stored in vectors\.", summary), summary
    assert gemini.requests[0].body["requests"][0]["taskType"] == "RETRIEVAL_DOCUMENT"
    notebook.run('%gemini embed df["text"] -m gemini-embedding-001')
    assert notebook.user_ns["_gemini_embeddings"].shape == (3, 4)
    assert notebook.texts()[-1].endswith("stored in _gemini_embeddings.")


def test_embed_shows_only_when_asked(notebook: TestShell, gemini: GeminiTestServer) -> None:
    gemini.responder = answer
    notebook.run("from gemini_magic import embed\nquiet = embed(['q 1'])")
    assert notebook.shown == []
    notebook.run("shown = embed(['s 2'], display=True)")
    assert re.fullmatch(r"Embedded 1 text → 1 × 4 in \d+\.\d s\.", notebook.texts()[-1])
    assert notebook.user_ns["shown"][0, 0] == 2.0


def test_the_magic_reports_the_cache_and_missing_values(
    shell: TestShell, gemini: GeminiTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    gemini.responder = answer
    shell.run("texts = ['x 1', None]")
    shell.run("%gemini embed texts -o v")
    assert "1 missing values (NaN/None) were sent as empty text." in capsys.readouterr().out
    shell.run("%gemini embed texts -o w")
    assert "(2 from the cache), stored in w." in capsys.readouterr().out
    assert len(gemini.requests) == 1
    assert (shell.user_ns["v"] == shell.user_ns["w"]).all()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("%gemini embed nothing -o v", "no variable named 'nothing'"),
        ('%gemini embed df["nope"]', "df has no ['nope'] (columns: text)"),
        ("%gemini embed df.nope", "df has no attribute 'nope'"),
        ("%gemini embed df.text -o v --temperature 1", "temperature does not apply"),
        ("%gemini embed df.text -o 1v", "not a valid variable name"),
        ("%gemini embed df.text --dimensions", "--dimensions needs a value"),
    ],
)
def test_the_magic_refuses_in_one_line(shell: TestShell, gemini: GeminiTestServer, line: str, message: str) -> None:
    shell.run("import pandas as pd\ndf = pd.DataFrame({'text': ['a']})")
    with pytest.raises(UsageError, match=re.escape(message)):
        shell.run(line)
    assert gemini.requests == []


def test_embed_in_a_kernel(kernel: Kernel, gemini: GeminiTestServer, tmp_path: Path) -> None:
    gemini.responder = answer
    kernel.run(f"%config GeminiMagic.cache_dir = {str(tmp_path)!r}")
    kernel.run("import pandas as pd\ndf = pd.DataFrame({'text': [f'row {i}' for i in range(205)]})")
    outputs = kernel.run("%gemini embed df.text -o vectors --rpm 6000")
    shown = [o["data"]["text/plain"] for o in displays(outputs)]
    assert shown and re.fullmatch(r"Embedded 205 texts → 205 × 4 in \d+\.\d s, stored in vectors\.", shown[-1])
    printed = kernel.run("print(vectors.shape, vectors.dtype, vectors[:, 0].tolist() == list(range(205)))")
    assert printed[0]["text"] == "(205, 4) float32 True\n"
    assert len(gemini.requests) == 3 and "application/vnd.jupyter.widget-view+json" not in kernel.saved()
