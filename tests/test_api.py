"""The public Python API: what ``gemini_magic`` exports, and ``generate()`` from code and notebooks.

Like httpx's ``test_exported_members``: the names the README documents are exactly ``__all__``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import FAKE_KEY, Kernel, displays, error_of, kernel_env, printed
from gemini_server import GeminiTestServer, error_reply, sse, text_events
from IPython.core.error import UsageError

import gemini_magic
from gemini_magic import GeminiAPIError, GeminiResponse, generate

README = Path(__file__).parents[1] / "README.md"


def test_exported_members_are_the_documented_ones() -> None:
    section = README.read_text(encoding="utf-8").split("## Python API", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)", section, re.MULTILINE))
    assert documented == set(gemini_magic.__all__)
    for name in gemini_magic.__all__:
        assert getattr(gemini_magic, name) is not None
    with pytest.raises(AttributeError):
        _ = gemini_magic.not_a_name


@pytest.fixture
def api(gemini: GeminiTestServer, monkeypatch: pytest.MonkeyPatch) -> GeminiTestServer:
    """generate() in this process, against the loopback server."""
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("GEMINI_BASE_URL", gemini.url)
    return gemini


def test_generate_sends_options_shows_nothing(api: GeminiTestServer, capsys: pytest.CaptureFixture[str]) -> None:
    def lookup(city: str) -> str:
        """Find a city."""
        return city

    api.push(sse(text_events(["Three ", "moons."])))
    schema = {"type": "object", "properties": {"moons": {"type": "array"}}}
    response = generate(
        "Name {three} moons",
        model="gemini-2.5-flash",
        temperature=0,
        max_tokens=50,
        stop=["END", "STOP"],
        search=True,
        schema=schema,
        tools=[lookup],
        attach=[b"\x89PNG\r\n\x1a\n" + b"0" * 20],
    )
    assert isinstance(response, GeminiResponse) and response.text == "Three moons."
    assert capsys.readouterr().out == ""
    request = api.requests[0]
    assert request.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    config = request.body["generationConfig"]
    assert config["temperature"] == 0 and config["maxOutputTokens"] == 50 and config["stopSequences"] == ["END", "STOP"]
    assert config["responseJsonSchema"] == schema and config["responseMimeType"] == "application/json"
    assert {"googleSearch": {}} in request.body["tools"]
    assert request.body["tools"][-1]["functionDeclarations"][0]["name"] == "lookup"
    parts = request.body["contents"][0]["parts"]
    assert parts[0]["inlineData"]["mimeType"] == "image/png"
    assert parts[1] == {"text": "Name {three} moons"}  # a script formats its own strings
    assert FAKE_KEY not in json.dumps(response) + repr(response.request)


def test_generate_errors_are_the_magics(api: GeminiTestServer) -> None:
    with pytest.raises(UsageError, match="--temperature"):
        generate("Hi", temperature=5)
    with pytest.raises(UsageError, match="unrecognized"):
        generate("Hi", colour="blue")
    with pytest.raises(UsageError, match="tools= takes functions"):
        generate("Hi", tools=["lookup"])
    api.push(error_reply(400, "INVALID_ARGUMENT", "API key not valid"))
    with pytest.raises(GeminiAPIError, match="API key not valid") as caught:
        generate("Hi")
    assert isinstance(caught.value.response, GeminiResponse)
    assert api.requests[-1].path.endswith(":streamGenerateContent?alt=sse")


def test_generate_keeps_the_partial_answer_on_the_error(api: GeminiTestServer) -> None:
    api.push(sse(text_events(["Partial ", "answer"], finish="")))
    with pytest.raises(gemini_magic.GeminiStreamError, match="no finishReason") as caught:
        generate("Hi", no_stream=False)
    assert caught.value.response.text == "Partial answer"


def test_generate_in_a_plain_python_script(gemini: GeminiTestServer, tmp_path: Path) -> None:
    gemini.push(sse(text_events(["From ", "a script."])))
    script = tmp_path / "ask.py"
    script.write_text(
        textwrap.dedent(
            """
            from gemini_magic import generate
            answer = generate("Hello from a script", max_tokens=20, system="Be terse.")
            print(repr(answer.text), answer.finish_reason)
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)], env=kernel_env(gemini), capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "'From a script.' STOP\n"
    body = gemini.requests[0].body
    assert body["systemInstruction"] == {"parts": [{"text": "Be terse."}]}
    assert body["generationConfig"] == {"maxOutputTokens": 20}


def test_generate_in_a_notebook_uses_the_magics_settings(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(sse(text_events(["Quiet."])), sse(text_events(["Shown."])))
    kernel.run("%config GeminiMagic.model = 'gemini-configured'")
    try:
        quiet = kernel.run("from gemini_magic import generate\nr = generate('Hi')\nprint(r.text)")
        shown = kernel.run("generate('Again', display=True).text")
    finally:
        kernel.run("%config GeminiMagic.model = 'gemini-3-flash-preview'")
    assert printed(quiet) == "Quiet.\n" and not displays(quiet)
    assert gemini.requests[0].path == "/v1beta/models/gemini-configured:streamGenerateContent?alt=sse"
    assert "Shown." in displays(shown)[0]["data"]["text/html"]
    assert displays(shown)[-1]["data"]["text/plain"] == "'Shown.'"
    gemini.push(error_reply(403, "PERMISSION_DENIED", "The caller does not have permission"))
    failed = kernel.run("generate('Once more')")
    assert error_of(failed)["ename"] == "GeminiAPIError"
