"""Working in a notebook all day: chats, attachments, Python tools, models, line magic, cache."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FAKE_KEY, Kernel, displays, error_of, kernel_env, printed
from gemini_server import (
    FIXTURES,
    GeminiTestServer,
    fixture_bytes,
    fixture_sse,
    json_reply,
    sse,
    text_events,
)

from gemini_magic._response import GeminiResponse, ResponseAccumulator
from gemini_magic._sse import SSEDecoder


def merged(name: str) -> GeminiResponse:
    decoder = SSEDecoder()
    accumulator = ResponseAccumulator()
    for event in [*decoder.feed((FIXTURES / name).read_bytes()), *decoder.close()]:
        accumulator.add(event)
    return accumulator.result()


# --------------------------------------------------------------------------------------------
# Conversations, run the way JupyterLab runs cells: execute_request metadata carries the cellId.


@pytest.fixture(scope="module")
def lab_kernel(server: GeminiTestServer) -> Iterator[Kernel]:
    with Kernel(kernel_env(server)) as kernel:
        yield kernel


def run_cell(kernel: Kernel, code: str, cell_id: str) -> dict[str, Any]:
    """Execute like JupyterLab (with ``cellId``); return the reply status and what was shown."""
    shown: list[str] = []
    for reply in kernel.messages(kernel.execute(code, cell_id)):
        kind, data = reply["msg_type"], reply["content"]
        if kind in ("stream",):
            shown.append(data["text"])
        elif kind in ("display_data", "update_display_data", "execute_result"):
            shown.append(data["data"].get("text/plain", ""))
        elif kind == "error":
            shown.append(f"{data['ename']}: {data['evalue']}")
    return {"text": "".join(shown)}


@pytest.mark.needs_fixtures
def test_three_turn_chat_keeps_signatures_and_reruns_replace(lab_kernel: Kernel, gemini: GeminiTestServer) -> None:
    first = "pydantic-ai__code-execution-stream_gemini-3-flash.sse"  # signed code, result, signed empty text
    second = "pydantic-ai__thought-summaries-stream_gemini-2.5-pro.sse"  # signature on the first answer text
    run_cell(lab_kernel, "%load_ext gemini_magic", "setup")
    gemini.push(fixture_sse(first), fixture_sse(second), sse(text_events(["Third answer."])))
    run_cell(lab_kernel, "%%gemini --chat physics\nCompute something", "cell-a")
    run_cell(lab_kernel, "%%gemini --chat physics --show-thoughts\nNow think", "cell-b")
    run_cell(lab_kernel, "%%gemini --chat physics\nAnd finally", "cell-c")
    model_1 = {"role": "model", "parts": merged(first).parts}
    model_2 = {"role": "model", "parts": merged(second).parts}

    def user(text: str) -> dict[str, Any]:
        return {"role": "user", "parts": [{"text": text}]}

    assert [r.body["contents"] for r in gemini.requests] == [
        [user("Compute something")],
        [user("Compute something"), model_1, user("Now think")],
        [user("Compute something"), model_1, user("Now think"), model_2, user("And finally")],
    ]
    signatures = [
        p["thoughtSignature"] for p in gemini.requests[2].body["contents"][1]["parts"] if "thoughtSignature" in p
    ]
    assert len(signatures) == 2 and all(len(s) > 100 for s in signatures)  # Gemini 3's, byte for byte
    # Re-running the second cell replaces its own exchange: its history is only what came before it.
    gemini.push(sse(text_events(["A new second answer."])))
    run_cell(lab_kernel, "%%gemini --chat physics\nNow think again", "cell-b")
    assert gemini.requests[3].body["contents"] == [user("Compute something"), model_1, user("Now think again")]
    listing = run_cell(lab_kernel, "%gemini chats", "cell-d")["text"]
    assert "physics: 3 exchanges, 6 turns" in listing
    transcript = run_cell(lab_kernel, "%gemini chat physics", "cell-e")["text"]
    assert (
        transcript.index("Compute something")
        < transcript.index("A new second answer.")
        < transcript.index("Third answer.")
    )
    assert "Cleared" in run_cell(lab_kernel, "%gemini chat physics --reset", "cell-f")["text"].title()
    assert "No conversations yet" in run_cell(lab_kernel, "%gemini chats", "cell-g")["text"]


def test_chat_default_name_and_failed_turn_not_recorded(lab_kernel: Kernel, gemini: GeminiTestServer) -> None:
    from gemini_server import error_reply

    run_cell(lab_kernel, "%load_ext gemini_magic", "setup")
    gemini.push(sse(text_events(["One."])), error_reply(400, "INVALID_ARGUMENT", "bad"), sse(text_events(["Two."])))
    run_cell(lab_kernel, "%%gemini --chat\nFirst", "d-1")
    assert "GeminiAPIError" in run_cell(lab_kernel, "%%gemini --chat\nBroken", "d-2")["text"]
    run_cell(lab_kernel, "%%gemini --chat\nSecond", "d-3")
    assert [t["parts"][0]["text"] for t in gemini.requests[2].body["contents"]] == ["First", "One.", "Second"]
    run_cell(lab_kernel, "%gemini chat default --reset", "d-4")


# --------------------------------------------------------------------------------------------
# Attachments


@pytest.mark.needs_fixtures
def test_each_attachment_kind_reaches_the_request(kernel: Kernel, gemini: GeminiTestServer, tmp_path: Path) -> None:
    png = base64.b64decode(
        next(
            p["inlineData"]["data"]
            for p in json.loads(fixture_bytes("pydantic-ai__image-output-inlineData_gemini-2.5-flash-image.json"))[
                "candidates"
            ][0]["content"]["parts"]
            if "inlineData" in p
        )
    )
    (tmp_path / "photo.png").write_bytes(png)
    (tmp_path / "scan.pdf").write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    (tmp_path / "notes.txt").write_text("Remember the milk.\n")
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    (tmp_path / "conf.json").write_text('{"k": 1}')
    (tmp_path / "code.py").write_text("print('hi')\n")
    kernel.run(
        "import io, pandas as pd, matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "from PIL import Image\n"
        f"png_bytes = open({str(tmp_path / 'photo.png')!r}, 'rb').read()\n"
        "pil = Image.new('RGB', (40, 30), 'red')\n"
        "fig, ax = plt.subplots(figsize=(2, 2)); ax.plot([1, 2, 3]); plt.close(fig)\n"
        "df = pd.DataFrame({'x': range(300), 'y': [i * i for i in range(300)]})\n"
        "note = 'A plain string.'"
    )
    gemini.push(sse(text_events(["Seen."])))
    files = " ".join(
        f"--attach {tmp_path / n}" for n in ("photo.png", "scan.pdf", "notes.txt", "data.csv", "conf.json", "code.py")
    )
    outputs = kernel.run(
        f"%%gemini --attach png_bytes --attach pil --attach fig --attach df --attach note {files}\nDescribe"
    )
    assert not [o for o in outputs if o["output_type"] == "error"], outputs
    parts = gemini.requests[-1].body["contents"][0]["parts"]
    kinds = [p["inlineData"]["mimeType"] if "inlineData" in p else "text" for p in parts]
    assert kinds == ["image/png", "image/png", "image/png", "text", "text", "image/png", "application/pdf",
                     "text", "text", "text", "text", "text"]  # fmt: skip
    assert base64.b64decode(parts[0]["inlineData"]["data"]) == png
    from io import BytesIO

    from PIL import Image

    assert Image.open(BytesIO(base64.b64decode(parts[1]["inlineData"]["data"]))).size == (40, 30)
    assert base64.b64decode(parts[2]["inlineData"]["data"])[:4] == b"\x89PNG"
    assert parts[3]["text"].startswith("DataFrame `df` (300 rows × 2 columns; the first 200 rows are shown), as CSV:")
    assert (
        ",x,y\n0,0,0\n" in parts[3]["text"]
        and "\n199,199,39601\n" in parts[3]["text"]
        and "\n200," not in parts[3]["text"]
    )
    assert parts[4]["text"] == "`note`:\n\nA plain string."
    assert parts[7]["text"] == "File `notes.txt`:\n\n```txt\nRemember the milk.\n\n```"
    assert parts[8]["text"].startswith("File `data.csv`:\n\n```csv\na,b")
    assert "```py\nprint('hi')" in parts[10]["text"]
    assert parts[-1] == {"text": "Describe"}  # the prompt comes after the attachments


def test_attachment_errors_send_nothing(kernel: Kernel, gemini: GeminiTestServer, tmp_path: Path) -> None:
    # (attachments past the 20 MB inline limit go through the Files API: tests/test_uploads.py)
    assert "no notebook variable and no file" in kernel.usage_error("%%gemini --attach nothing_like_this\nx")
    kernel.run("blob = b'not an image'")
    assert "bytes that are not PNG, JPEG, WebP, GIF, PDF, audio or video" in kernel.usage_error(
        "%%gemini --attach blob\nx"
    )
    assert "only YouTube links are attached as links" in kernel.usage_error(
        "%%gemini --attach https://example.com/a.mp4\nx"
    )
    assert gemini.requests == []


def test_dry_run_shows_attachments_and_tools_briefly(kernel: Kernel, gemini: GeminiTestServer) -> None:
    kernel.run(
        "def add(a: int, b: int = 1) -> int:\n    '''Add two numbers.'''\n    return a + b\nsmall = b'\\x89PNG\\r\\n\\x1a\\n' + b'1' * 3000"  # noqa: E501
    )
    text = displays(kernel.run("%%gemini --dry-run --attach small --tools add --tool-mode any\nx"))[0]["data"][
        "text/plain"
    ]
    assert "<4,012 characters of base64>" in text
    assert '"functionDeclarations"' in text and '"mode": "ANY"' in text
    assert gemini.requests == []


# --------------------------------------------------------------------------------------------
# Python functions as tools


TOOLS = '''
from typing import Literal

def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict:
    """Current weather for a city.

    Args:
        city: The city name, e.g. Paris.
        unit: Temperature unit.
    """
    return {"city": city, "temperature": 21 if unit == "C" else 70, "unit": unit}

def to_fahrenheit(celsius: float) -> float:
    """Convert Celsius to Fahrenheit.

    :param celsius: degrees Celsius
    """
    return celsius * 9 / 5 + 32

def broken(x: int) -> int:
    """Always fails."""
    raise ValueError("no luck")
'''


def call_event(name: str, args: dict[str, Any], signature: str) -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"functionCall": {"name": name, "args": args}, "thoughtSignature": signature}],
                },
                "finishReason": "STOP",
            }
        ],
        "modelVersion": "gemini-3-pro-preview",
    }


def test_two_round_tool_loop(kernel: Kernel, gemini: GeminiTestServer) -> None:
    kernel.run(TOOLS)
    gemini.push(
        sse([call_event("get_weather", {"city": "Paris"}, "c2lnLTE=")]),
        sse([call_event("to_fahrenheit", {"celsius": 21}, "c2lnLTI=")]),
        sse(text_events(["It is 21 °C (69.8 °F) in Paris."])),
    )
    outputs = kernel.run("%%gemini --tools get_weather,to_fahrenheit --run-tools\nWeather in Paris in F?")
    assert not [o for o in outputs if o["output_type"] == "error"], outputs
    first, second, third = (r.body for r in gemini.requests)
    declarations = first["tools"][0]["functionDeclarations"]
    assert declarations[0] == {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parametersJsonSchema": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city name, e.g. Paris."},
                "unit": {"enum": ["C", "F"], "description": "Temperature unit."},
            },
            "required": ["city"],
        },
    }
    assert declarations[1]["parametersJsonSchema"]["properties"]["celsius"] == {
        "type": "number",
        "description": "degrees Celsius",
    }
    assert second["contents"][1:] == [
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnLTE="}]},  # noqa: E501
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": {"city": "Paris", "temperature": 21, "unit": "C"}}}}]},  # noqa: E501
    ]  # fmt: skip
    assert third["contents"][3:] == [
        {"role": "model", "parts": [{"functionCall": {"name": "to_fahrenheit", "args": {"celsius": 21}}, "thoughtSignature": "c2lnLTI="}]},  # noqa: E501
        {"role": "user", "parts": [{"functionResponse": {"name": "to_fahrenheit", "response": {"result": 69.8}}}]},
    ]  # fmt: skip
    shown = json.dumps([o.get("data", {}).get("text/plain", "") for o in outputs])
    assert 'ran get_weather({\\"city\\": \\"Paris\\"})' in shown and "69.8" in shown
    assert printed(kernel.run("print(_gemini.text)")) == "It is 21 °C (69.8 °F) in Paris.\n"


def test_tool_errors_go_back_to_the_model_and_mode_is_sent(kernel: Kernel, gemini: GeminiTestServer) -> None:
    kernel.run(TOOLS)
    gemini.push(sse([call_event("broken", {"x": 1}, "c2ln")]), sse(text_events(["It failed."])))
    kernel.run("%%gemini --tools broken --run-tools --tool-mode auto\nTry")
    assert gemini.requests[0].body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    reply = gemini.requests[1].body["contents"][-1]["parts"][0]["functionResponse"]
    assert reply == {"name": "broken", "response": {"error": "ValueError: no luck"}}


def test_without_run_tools_calls_are_only_shown(kernel: Kernel, gemini: GeminiTestServer) -> None:
    kernel.run(TOOLS)
    gemini.push(sse([call_event("get_weather", {"city": "Oslo"}, "c2ln")]))
    outputs = kernel.run("%%gemini --tools get_weather\nWeather in Oslo?")
    assert len(gemini.requests) == 1
    assert 'get_weather({"city": "Oslo"})' in displays(outputs)[0]["data"]["text/plain"] or "Oslo" in json.dumps(
        outputs
    )
    assert "--run-tools and --tool-mode need --tools" in kernel.usage_error("%%gemini --run-tools\nx")
    assert "no function named 'nope'" in kernel.usage_error("%%gemini --tools nope\nx")


# --------------------------------------------------------------------------------------------
# %gemini line magic


@pytest.mark.needs_fixtures
def test_models_across_two_pages(kernel: Kernel, gemini: GeminiTestServer) -> None:
    page_one = json.loads(fixture_bytes("llm-gemini__list-models-page1.json"))
    page_two = {
        "models": [
            {"name": "models/gemini-test-last", "displayName": "Last one", "inputTokenLimit": 1000, "outputTokenLimit": 100,  # noqa: E501
             "supportedGenerationMethods": ["generateContent", "countTokens"], "thinking": True},
            {"name": "models/embedding-test", "supportedGenerationMethods": ["embedContent"]},
        ]
    }  # fmt: skip
    gemini.push(json_reply(page_one), json_reply(page_two))
    outputs = kernel.run("%gemini models")
    paths = [r.path for r in gemini.requests]
    assert paths[0] == "/v1beta/models?pageSize=1000"
    assert paths[1] == f"/v1beta/models?pageSize=1000&pageToken={page_one['nextPageToken']}"
    assert all(r.method == "GET" and r.headers["x-goog-api-key"] == FAKE_KEY for r in gemini.requests)
    expected = [m for m in page_one["models"] if "generateContent" in m["supportedGenerationMethods"]]
    text = displays(outputs)[0]["data"]["text/plain"]
    assert text.endswith(f"{len(expected) + 1} models")
    assert "gemini-test-last" in text and "embedding-test" not in text
    html = displays(outputs)[0]["data"]["text/html"]
    assert "<td>gemini-test-last</td><td>Last one</td><td>1,000</td><td>100</td><td>yes</td>" in html


def test_config_one_line_prompt_and_bad_subcommand(kernel: Kernel, gemini: GeminiTestServer) -> None:
    text = displays(kernel.run("%gemini config"))[0]["data"]["text/plain"]
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()}
    assert rows["model"] == ["gemini-3-flash-preview", "default"]
    assert rows["base_url"] == [gemini.url, "GEMINI_BASE_URL"]
    assert rows["cache"] == ["False", "default"] and rows["max_tool_rounds"] == ["5", "default"]
    assert "<set: 41 characters from GEMINI_API_KEY>" in text and FAKE_KEY not in text
    gemini.push(sse(text_events(["Four."])))
    kernel.run("%gemini What is 2 + 2?")
    assert gemini.requests[-1].body["contents"][0]["parts"] == [{"text": "What is 2 + 2?"}]
    assert "%gemini needs a prompt" in kernel.usage_error("%gemini")
    assert "needs a prompt" in kernel.usage_error("%gemini --search")


# --------------------------------------------------------------------------------------------
# The on-disk cache


def test_cache_hit_sends_no_request_and_needs_no_key(kernel: Kernel, gemini: GeminiTestServer, tmp_path: Path) -> None:
    kernel.run(f"%config GeminiMagic.cache_dir = {str(tmp_path / 'cache')!r}")
    gemini.push(sse(text_events(["Cached ", "answer."])))
    first = kernel.run("%%gemini --cache -t 0\nSame question")
    assert len(gemini.requests) == 1
    dry = displays(kernel.run("%%gemini --cache --dry-run -t 0\nSame question"))[0]["data"]["text/plain"]
    assert dry.endswith(f"(cache: hit in {tmp_path / 'cache'})")
    second = kernel.run("%%gemini --cache -t 0\nSame question")
    assert len(gemini.requests) == 1  # served from disk
    assert displays(second)[0]["data"]["text/html"].endswith("· cached</small></p></div>")

    def body(outputs: list[dict[str, Any]]) -> str:
        return displays(outputs)[0]["data"]["text/html"].split("<hr>")[0]  # type: ignore[no-any-return]

    assert body(first) == body(second)
    assert printed(kernel.run("print(_gemini.text)")) == "Cached answer.\n"
    # A different request is a miss; without a key a hit still works.
    kernel.run("import os; _k = os.environ.pop('GEMINI_API_KEY')")
    try:
        kernel.run("%%gemini --cache -t 0\nSame question")
        assert len(gemini.requests) == 1
        assert "No API key" in kernel.usage_error("%%gemini --cache -t 1\nSame question")
    finally:
        kernel.run("os.environ['GEMINI_API_KEY'] = _k")
    stored = list((tmp_path / "cache").glob("*.json"))
    assert len(stored) == 1 and FAKE_KEY not in stored[0].read_text()
    gemini.push(sse(text_events(["Fresh."])))
    kernel.run("%%gemini --no-cache -t 0\nSame question")
    assert len(gemini.requests) == 2
    cleared = kernel.run("%gemini cache clear")
    assert "Removed 1 cached responses" in displays(cleared)[0]["data"]["text/plain"]
    assert not list((tmp_path / "cache").glob("*.json"))
    kernel.run("%config GeminiMagic.cache_dir = '.gemini-cache'")


def test_cache_config_turns_it_on_for_every_cell(kernel: Kernel, gemini: GeminiTestServer, tmp_path: Path) -> None:
    kernel.run(f"%config GeminiMagic.cache_dir = {str(tmp_path)!r}\n%config GeminiMagic.cache = True")
    try:
        gemini.push(json_reply(text_events(["Once."])[0]))
        kernel.run("%%gemini --no-stream\nCache me")
        kernel.run("%%gemini\nCache me")  # streaming or not: the same request, the same answer
        assert len(gemini.requests) == 1
    finally:
        kernel.run("%config GeminiMagic.cache = False\n%config GeminiMagic.cache_dir = '.gemini-cache'")


def test_error_is_not_cached(kernel: Kernel, gemini: GeminiTestServer, tmp_path: Path) -> None:
    from gemini_server import error_reply

    kernel.run(f"%config GeminiMagic.cache_dir = {str(tmp_path)!r}")
    gemini.push(error_reply(400, "INVALID_ARGUMENT", "bad"), sse(text_events(["Good."])))
    error_of(kernel.run("%%gemini --cache\nQ"))
    kernel.run("%%gemini --cache\nQ")
    assert len(gemini.requests) == 2
    kernel.run("%config GeminiMagic.cache_dir = '.gemini-cache'")
