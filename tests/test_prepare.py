"""Building the request in process (``_prepare``): ``--dry-run`` shows it and sends nothing; ``--schema``
takes a JSON Schema dict or a class with ``model_json_schema()``."""

from __future__ import annotations

import json

import pytest
from conftest import FAKE_KEY
from gemini_server import GeminiTestServer, sse, text_events
from IPython.core.error import UsageError
from shell import TestShell

SETUP = """
def add(a: int, b: int = 1) -> int:
    '''Add two numbers.'''
    return a + b

small = b'\\x89PNG\\r\\n\\x1a\\n' + b'1' * 3000
point = {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}

class Point:
    @staticmethod
    def model_json_schema():
        return point

class Holder:
    schema = point

odd = {"bad": {1, 2}}
"""


def test_dry_run_shows_the_request_briefly_and_sends_nothing(shell: TestShell, gemini: GeminiTestServer) -> None:
    shell.run(SETUP)
    shell.run("%%gemini --dry-run --attach small --tools add --tool-mode any -m gemini-x\nHello")
    (text,) = shell.texts()
    assert "POST" in text and f"{gemini.url}/v1beta/models/gemini-x:streamGenerateContent?alt=sse" in text
    assert "<4,012 characters of base64>" in text
    assert '"functionDeclarations"' in text and '"mode": "ANY"' in text
    assert FAKE_KEY not in text and FAKE_KEY not in "".join(shell.texts("text/html"))
    assert gemini.requests == []


@pytest.mark.parametrize("schema", ["point", "Point", "Holder.schema"])
def test_schema_from_a_dict_a_model_class_or_an_attribute(
    shell: TestShell, gemini: GeminiTestServer, schema: str
) -> None:
    shell.run(SETUP)
    gemini.push(sse(text_events(['{"x": 1}'])))
    shell.run(f"%%gemini --schema {schema}\nA point")
    config = gemini.requests[0].body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == shell.user_ns["point"]
    assert json.loads(shell.user_ns["_gemini"].text) == {"x": 1}


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ("nowhere", "--schema: no variable named 'nowhere' in the notebook"),
        ("add", "--schema: add is a function, expected a JSON Schema dict"),
        ("odd", "--schema: odd is not JSON-serialisable"),
    ],
)
def test_schema_errors(shell: TestShell, gemini: GeminiTestServer, schema: str, message: str) -> None:
    shell.run(SETUP)
    with pytest.raises(UsageError, match=message):
        shell.run(f"%%gemini --schema {schema}\nA point")
    assert gemini.requests == []
