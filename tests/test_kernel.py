"""%%gemini in a real IPython kernel (nbclient), against the loopback Gemini server."""

from __future__ import annotations

import json

import pytest
from conftest import FAKE_KEY, Kernel, displays, error_of, output_text, terminal_ipython
from gemini_server import DROP, GeminiTestServer, error_reply, fixture_sse, sse, text_events


def final_html(outputs: list) -> str:
    shown = displays(outputs)
    assert shown, f"no display output in {outputs}"
    data = shown[-1]["data"]
    assert "application/vnd.jupyter.widget-view+json" not in data, "the live widget was not replaced"
    return data["text/html"]


def test_streams_answer_into_static_output(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(sse(text_events(["Hello ", "**world**", "\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"])))
    outputs = kernel.run("%%gemini\nSay hello")
    html = final_html(outputs)
    assert "Hello <strong>world</strong>" in html
    assert "<td>1</td>" in html
    data = displays(outputs)[-1]
    assert data["data"]["text/markdown"].startswith("Hello **world**")
    assert data["data"]["text/plain"].startswith("Hello **world**")
    assert data["metadata"]["gemini_magic"]["modelVersion"] == "gemini-test-001"
    assert data["metadata"]["gemini_magic"]["usage"]["totalTokenCount"] == 16
    assert set(data["metadata"]["gemini_magic"]) == {"modelVersion", "finishReason", "usage"}  # the footer is in html
    assert "gemini-test-001 · 7 in → 9 out · 16 total tokens" in html
    # The request: URL, header auth, body.
    request = gemini.requests[-1]
    assert request.path == "/v1beta/models/gemini-3-flash-preview:streamGenerateContent?alt=sse"
    assert request.headers["x-goog-api-key"] == FAKE_KEY
    assert "Authorization" not in request.headers
    assert request.body == {"contents": [{"role": "user", "parts": [{"text": "Say hello"}]}]}
    # The stored response.
    check = kernel.run("print(repr(_gemini.text)); print(_gemini.finish_reason, type(_gemini).__name__)")
    assert check[0]["text"] == "'Hello **world**\\n\\n| a | b |\\n|---|---|\\n| 1 | 2 |\\n'\nSTOP GeminiResponse\n"


def test_saved_notebook_has_static_answer_and_no_key(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(sse(text_events(["Saved ", "answer"])))
    kernel.run("%%gemini -o saved\nAnything")
    kernel.run("saved")
    kernel.run("print(saved.request)")
    text = kernel.saved()
    assert "Saved answer" in text
    assert FAKE_KEY not in text
    assert FAKE_KEY[-10:] not in text
    saved = json.loads(text)
    last_magic = next(c for c in saved["cells"] if "".join(c["source"]).startswith("%%gemini -o saved"))
    assert [set(o["data"]) for o in last_magic["outputs"]] == [{"text/html", "text/markdown", "text/plain"}]


def test_every_option_reaches_the_body(kernel: Kernel, gemini: GeminiTestServer) -> None:
    kernel.run('schema = {"type": "object", "properties": {"name": {"type": "string"}}}')
    gemini.push(sse(text_events(['{"name": "x"}'])))
    kernel.run(
        '%%gemini -m gemini-2.5-pro --system "Be terse." --thinking 1024 --show-thoughts -t 0.5 --top-p 0.9 '
        "--top-k 40 --max-tokens 256 --seed 7 --stop END --stop STOP --schema schema --image --aspect-ratio 16:9 "
        "--search --maps --url-context --code-execution --safety dangerous=none --safety harassment=high "
        "--cached-content cachedContents/abc123 --timeout 30 --auth bearer\nPrompt"
    )
    request = gemini.requests[-1]
    assert request.path == "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    assert request.headers["Authorization"] == f"Bearer {FAKE_KEY}"
    assert "x-goog-api-key" not in request.headers
    assert request.body == {
        "contents": [{"role": "user", "parts": [{"text": "Prompt"}]}],
        "systemInstruction": {"parts": [{"text": "Be terse."}]},
        "tools": [{"googleSearch": {}}, {"googleMaps": {}}, {"urlContext": {}}, {"codeExecution": {}}],
        "safetySettings": [
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_NONE"},
            {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"},
        ],
        "cachedContent": "cachedContents/abc123",
        "generationConfig": {
            "temperature": 0.5,
            "topP": 0.9,
            "topK": 40,
            "maxOutputTokens": 256,
            "seed": 7,
            "stopSequences": ["END", "STOP"],
            "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object", "properties": {"name": {"type": "string"}}},
            "responseModalities": ["TEXT", "IMAGE"],
            "imageConfig": {"aspectRatio": "16:9"},
            "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True},
        },
    }


def test_no_stream_json_and_level(kernel: Kernel, gemini: GeminiTestServer) -> None:
    from gemini_server import json_reply

    body = text_events(["[1, 2]"])[0]
    gemini.push(json_reply(body))
    outputs = kernel.run("%%gemini --no-stream --json --thinking low -o arr\nList")
    assert '<span class="mi">2</span>' in final_html(outputs)
    assert displays(outputs)[-1]["data"]["text/markdown"].startswith("```json\n[\n  1,\n  2\n]\n```")
    request = gemini.requests[-1]
    assert request.path == "/v1beta/models/gemini-3-flash-preview:generateContent"
    assert request.body["generationConfig"] == {
        "responseMimeType": "application/json",
        "thinkingConfig": {"thinkingLevel": "LOW"},
    }
    assert kernel.run("print(arr.text, arr.parsed == [1, 2])")[0]["text"] == "[1, 2] True\n"


def test_interpolation_keeps_code_braces(kernel: Kernel, gemini: GeminiTestServer) -> None:
    kernel.run("topic = 'entropy'\nclass P: name = 'Ada'\np = P()")
    gemini.push(sse(text_events(["ok"])), sse(text_events(["ok"])))
    kernel.run('%%gemini\nExplain {topic} to {p.name}. Keep {"a": {undefined}} and {{topic}} and f"{x}" and {}.')
    assert gemini.requests[-1].body["contents"][0]["parts"][0]["text"] == (
        'Explain entropy to Ada. Keep {"a": {undefined}} and {{topic}} and f"{x}" and {}.'
    )
    kernel.run("%%gemini --no-interpolate\nKeep {topic}")
    assert gemini.requests[-1].body["contents"][0]["parts"][0]["text"] == "Keep {topic}"


def test_config_and_environment_precedence(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(sse(text_events(["a"])), sse(text_events(["b"])))
    kernel.run("%config GeminiMagic.model = 'gemini-2.5-flash'")
    kernel.run("%%gemini\nx")
    assert gemini.requests[-1].path.startswith("/v1beta/models/gemini-2.5-flash:")
    kernel.run("%%gemini -m gemini-2.0-flash\nx")
    assert gemini.requests[-1].path.startswith("/v1beta/models/gemini-2.0-flash:")
    kernel.run("%config GeminiMagic.model = 'gemini-3-flash-preview'")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("--bogus", "unrecognized arguments: --bogus"),
        ("--thinking SOMETIMES", "--thinking: 'SOMETIMES' is neither a level"),
        ("-t hot", "argument -t/--temperature: invalid float value: 'hot'"),
        ("-t 3", "-t/--temperature: expected a number from 0 to 2, got 3"),
        ("--schema nothing_here", "--schema: no variable named 'nothing_here'"),
        ("--safety dangerous=maybe", "--safety: unknown threshold 'maybe'"),
        ("--aspect-ratio 7:5", "--aspect-ratio: '7:5' is not one of"),
        ('--system "unclosed', "could not read the options"),
    ],
)
def test_user_errors_are_one_line_and_send_nothing(
    kernel: Kernel, gemini: GeminiTestServer, line: str, message: str
) -> None:
    assert message in kernel.usage_error(f"%%gemini {line}\nHello")
    assert gemini.requests == []


def test_empty_cell_and_missing_key(kernel: Kernel, gemini: GeminiTestServer) -> None:
    assert "the cell is empty" in kernel.usage_error("%%gemini\n   \n")
    kernel.run("import os; _saved_key = os.environ.pop('GEMINI_API_KEY')")
    try:
        message = kernel.usage_error("%%gemini\nHello")
    finally:
        kernel.run("os.environ['GEMINI_API_KEY'] = _saved_key; del _saved_key")
    assert "No API key: set one of GEMINI_API_KEY, GOOGLE_API_KEY, COMETAPI_KEY" in message
    assert gemini.requests == []


def test_dry_run_masks_key_and_sends_nothing(kernel: Kernel, gemini: GeminiTestServer) -> None:
    outputs = kernel.run("%%gemini --dry-run --search -t 0.2\nWhat is new?")
    text = output_text(outputs)
    assert gemini.requests == []
    assert FAKE_KEY not in text and FAKE_KEY[-8:] not in text
    plain = displays(outputs)[0]["data"]["text/plain"]
    assert plain.startswith(f"POST {gemini.url}/v1beta/models/gemini-3-flash-preview:streamGenerateContent?alt=sse")
    assert "x-goog-api-key: <set: 41 characters from GEMINI_API_KEY>" in plain
    assert '"googleSearch": {}' in plain and '"temperature": 0.2' in plain
    kernel.run("import os; _saved_key = os.environ.pop('GEMINI_API_KEY')")
    try:
        outputs = kernel.run("%%gemini --dry-run --auth bearer\nNo key needed")
    finally:
        kernel.run("os.environ['GEMINI_API_KEY'] = _saved_key; del _saved_key")
    assert "Authorization: <not set>" in displays(outputs)[0]["data"]["text/plain"]
    assert gemini.requests == []


def test_api_error_is_our_exception_with_short_trace(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(
        error_reply(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        )
    )
    outputs = kernel.run("%%gemini\nHello")
    error = error_of(outputs)
    assert error["ename"] == "GeminiAPIError"
    assert error["evalue"] == "400 INVALID_ARGUMENT: API key not valid. Please pass a valid API key."
    assert len(error["traceback"]) <= 2
    assert len(gemini.requests) == 1  # 400 is never retried
    assert FAKE_KEY not in output_text(outputs)
    # Run All stops: a later cell in the same execution does not run.
    assert "API key not valid" in final_html(outputs)


@pytest.mark.needs_fixtures
def test_recorded_404_body(kernel: Kernel, gemini: GeminiTestServer) -> None:
    from gemini_server import fixture_bytes, json_reply

    gemini.push(json_reply(fixture_bytes("pydantic-ai__error-404-model-not-found.json"), 404))
    error = error_of(kernel.run("%%gemini -m gemini-3.6-flahs\nHi"))
    assert error["evalue"].startswith("404 NOT_FOUND: models/gemini-3.6-flahs is not found for API version v1beta")


def test_retries_honour_retry_info_then_succeed(kernel: Kernel, gemini: GeminiTestServer) -> None:
    retry = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.2s"}]
    gemini.push(
        error_reply(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", retry),
        error_reply(503, "UNAVAILABLE", "The model is overloaded. Please try again later.", retry),
        sse(text_events(["Third ", "time lucky"])),
    )
    outputs = kernel.run("%%gemini\nHello")
    assert "Third time lucky" in final_html(outputs)
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert len(gemini.requests) == 3


def test_retries_give_up_after_max_retries(kernel: Kernel, gemini: GeminiTestServer) -> None:
    retry = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.05s"}]
    gemini.push(*[error_reply(500, "INTERNAL", "An internal error has occurred.", retry) for _ in range(3)])
    kernel.run("%config GeminiMagic.max_retries = 2")
    try:
        error = error_of(kernel.run("%%gemini\nHello"))
    finally:
        kernel.run("%config GeminiMagic.max_retries = 3")
    assert error["evalue"] == "500 INTERNAL: An internal error has occurred."
    assert len(gemini.requests) == 3


def test_daily_quota_is_not_retried(kernel: Kernel, gemini: GeminiTestServer) -> None:
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.1s"},
    ]
    gemini.push(error_reply(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", details))
    error = error_of(kernel.run("%%gemini\nHello"))
    assert error["evalue"].startswith("429 RESOURCE_EXHAUSTED")
    assert len(gemini.requests) == 1


def test_mid_stream_error_tail_keeps_partial_text(kernel: Kernel, gemini: GeminiTestServer) -> None:
    reply = sse(text_events(["The first half ", "of an answer"], finish=""))
    reply.steps.append(
        b'{\n  "error": {\n    "code": 503,\n    "message": "The model is overloaded. Please try again later.",\n'
        b'    "status": "UNAVAILABLE"\n  }\n}\n'
    )
    gemini.push(reply)
    outputs = kernel.run("%%gemini\nHello")
    error = error_of(outputs)
    assert error["ename"] == "GeminiAPIError"
    assert "503 UNAVAILABLE: The model is overloaded" in error["evalue"]
    assert "27 characters received" in "".join(error["traceback"])
    assert "The first half of an answer" in final_html(outputs)
    assert kernel.run("print(_gemini.text)")[0]["text"] == "The first half of an answer\n"
    assert len(gemini.requests) == 1  # not retried: an answer had started


def test_dropped_connection_keeps_partial_text(kernel: Kernel, gemini: GeminiTestServer) -> None:
    reply = sse(text_events(["Dropped ", "halfway"], finish=""))
    reply.steps.append(DROP)
    gemini.push(reply)
    outputs = kernel.run("%%gemini -o dropped\nHello")
    error = error_of(outputs)
    assert error["ename"] == "GeminiConnectionError"
    assert (
        f"the connection to 127.0.0.1:{gemini.url.rsplit(':', 1)[1]} dropped mid-stream after 2 events"
        in (error["evalue"])
    )
    assert "Dropped halfway" in final_html(outputs)
    assert kernel.run("print(dropped.text)")[0]["text"] == "Dropped halfway\n"


def test_stream_without_finish_reason_is_truncated(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(sse(text_events(["Cut ", "short"], finish="")))
    outputs = kernel.run("%%gemini\nHello")
    error = error_of(outputs)
    assert error["ename"] == "GeminiStreamError"
    assert "no finishReason" in error["evalue"]
    assert "Cut short" in final_html(outputs)


def test_malformed_event(kernel: Kernel, gemini: GeminiTestServer) -> None:
    reply = sse(text_events(["Fine so far"], finish=""))
    reply.steps.append(b'data: {"candidates": [\r\n\r\n')
    gemini.push(reply)
    error = error_of(kernel.run("%%gemini\nHello"))
    assert error["ename"] == "GeminiStreamError"
    assert "malformed event" in error["evalue"]


def test_connection_refused_names_host_and_port(kernel: Kernel, gemini: GeminiTestServer) -> None:
    import socket

    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    error = error_of(kernel.run(f"%%gemini --base-url http://127.0.0.1:{port}\nHello"))
    assert error["ename"] == "GeminiConnectionError"
    assert error["evalue"] == (
        f"could not connect to 127.0.0.1:{port} (connection refused); check the base URL and your network"
    )


def test_read_timeout(kernel: Kernel, gemini: GeminiTestServer) -> None:
    reply = sse(text_events(["Slow"]))
    reply.steps.insert(0, 3.0)
    gemini.push(reply)
    error = error_of(kernel.run("%%gemini --timeout 0.5\nHello"))
    assert error["ename"] == "GeminiConnectionError"
    assert "sent nothing for 0.5 s (read timeout; raise it with --timeout)" in error["evalue"]


@pytest.mark.needs_fixtures
def test_blocked_prompt(kernel: Kernel, gemini: GeminiTestServer) -> None:
    from gemini_server import FIXTURES, Reply

    raw = (FIXTURES / "vercel-ai__prompt-blocked-PROHIBITED_CONTENT-stream_gemini-3.7-flash.chunks.txt").read_bytes()
    gemini.push(Reply([b"data: " + raw.strip() + b"\r\n\r\n"]))
    outputs = kernel.run("%%gemini\nsomething bad")
    error = error_of(outputs)
    assert error["ename"] == "GeminiAnswerError"
    assert "the prompt was blocked [PROHIBITED_CONTENT]" in error["evalue"]
    assert "the prompt was blocked" in final_html(outputs)


@pytest.mark.needs_fixtures
def test_max_tokens_without_parts(kernel: Kernel, gemini: GeminiTestServer) -> None:
    from gemini_server import fixture_bytes, json_reply

    gemini.push(json_reply(fixture_bytes("pydantic-ai__max-tokens-no-parts_gemini-2.5-pro.json")))
    error = error_of(kernel.run("%%gemini --no-stream --max-tokens 5\nHello"))
    assert error["ename"] == "GeminiAnswerError"
    assert "no answer: answer cut at 5 tokens — raise --max-tokens" in error["evalue"]


def test_max_tokens_with_text_is_a_note_not_an_error(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(sse(text_events(["Partial ", "list"], finish="MAX_TOKENS")))
    outputs = kernel.run("%%gemini --max-tokens 6\nHello")
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert "answer cut at 6 tokens — raise --max-tokens [MAX_TOKENS]" in final_html(outputs)


@pytest.mark.needs_fixtures
def test_recorded_grounding_stream(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(fixture_sse("pydantic-ai__google-search-grounding_gemini-2.5-pro.sse"))
    outputs = kernel.run("%%gemini -m gemini-2.5-pro --search\nWeather?")
    assert not [o for o in outputs if o["output_type"] == "error"]
    check = kernel.run(
        "g = _gemini.candidate['groundingMetadata']\n"
        "print(len(g['groundingSupports']), len(g['groundingChunks']), g['webSearchQueries'], _gemini.model_version)"
    )
    assert check[0]["text"].startswith("8 ")
    assert "gemini-2.5-pro" in check[0]["text"]


def test_terminal_ipython_streams_plain_text(gemini: GeminiTestServer) -> None:
    gemini.push(sse(text_events(["Plain ", "terminal ", "text"])))
    code = "get_ipython().run_line_magic('load_ext', 'gemini_magic'); get_ipython().run_cell_magic('gemini', '', 'Hi')"
    result = terminal_ipython(code, gemini)
    assert result.stdout.startswith("Plain terminal text\ngemini-test-001 · 7 in → 9 out · 16 total tokens"), result
    assert FAKE_KEY not in result.stdout + result.stderr
