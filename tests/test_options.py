"""Option parsing and request building, field by field, without a shell."""

from __future__ import annotations

import re

import pytest
from IPython.core.error import UsageError

from gemini_magic._options import Options, gemini_arguments, parse_options
from gemini_magic._request import build_body, endpoint


@gemini_arguments
def spec(line: str, cell: str) -> None:
    """Stand-in carrying the magic's argument spec."""


def _voice(name: str) -> dict:
    return {"prebuiltVoiceConfig": {"voiceName": name}}


def body_for(line: str, schema: dict | None = None) -> dict:
    return build_body(parse_options(spec, line), "Q", schema)


def test_defaults_send_only_the_prompt() -> None:
    assert parse_options(spec, "") == Options()
    assert body_for("") == {"contents": [{"role": "user", "parts": [{"text": "Q"}]}]}


@pytest.mark.parametrize(
    ("line", "where", "expected"),
    [
        ('--system "Be terse."', "systemInstruction", {"parts": [{"text": "Be terse."}]}),
        ("--system 'Say \"hi\"'", "systemInstruction", {"parts": [{"text": 'Say "hi"'}]}),
        ("--search --code-execution", "tools", [{"googleSearch": {}}, {"codeExecution": {}}]),
        ("--maps --url-context", "tools", [{"googleMaps": {}}, {"urlContext": {}}]),
        ("--cached-content cachedContents/xyz", "cachedContent", "cachedContents/xyz"),
        (
            "--safety all=low",
            "safetySettings",
            [
                {"category": f"HARM_CATEGORY_{c}", "threshold": "BLOCK_LOW_AND_ABOVE"}
                for c in ("HARASSMENT", "HATE_SPEECH", "SEXUALLY_EXPLICIT", "DANGEROUS_CONTENT", "CIVIC_INTEGRITY")
            ],
        ),
        (
            "--safety HARM_CATEGORY_HATE_SPEECH=BLOCK_NONE --safety sexually_explicit=off",
            "safetySettings",
            [
                {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"},
                {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "threshold": "OFF"},
            ],
        ),
    ],
)
def test_top_level_fields(line: str, where: str, expected: object) -> None:
    body = body_for(line)
    assert body[where] == expected
    assert "generationConfig" not in body


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("-t 0", {"temperature": 0.0}),
        ("--temperature 1.5 --top-p 0.25 --top-k 3", {"temperature": 1.5, "topP": 0.25, "topK": 3}),
        ("--max-tokens 100 --seed -4", {"maxOutputTokens": 100, "seed": -4}),
        ("--stop a --stop 'b c'", {"stopSequences": ["a", "b c"]}),
        ("--json", {"responseMimeType": "application/json"}),
        (
            "--image --aspect-ratio 21:9",
            {"responseModalities": ["TEXT", "IMAGE"], "imageConfig": {"aspectRatio": "21:9"}},
        ),
        ("--thinking MINIMAL", {"thinkingConfig": {"thinkingLevel": "MINIMAL"}}),
        ("--thinking medium --show-thoughts", {"thinkingConfig": {"thinkingLevel": "MEDIUM", "includeThoughts": True}}),
        ("--thinking 0", {"thinkingConfig": {"thinkingBudget": 0}}),
        ("--thinking -1", {"thinkingConfig": {"thinkingBudget": -1}}),
    ],
)
def test_generation_config_fields(line: str, expected: dict) -> None:
    body = body_for(line)
    assert body["generationConfig"] == expected
    assert set(body) == {"contents", "generationConfig"}


def test_schema_goes_in_generation_config_with_json_mime() -> None:
    schema = {"type": "array", "items": {"type": "string"}}
    assert body_for("--schema s", schema)["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }


def test_transport_options() -> None:
    options = parse_options(spec, "--no-stream --dry-run --timeout 2.5 --base-url http://h:1 --auth BEARER -o out -m m")
    assert (
        options.stream,
        options.dry_run,
        options.timeout,
        options.base_url,
        options.auth,
        options.out,
        options.model,
    ) == (
        False,
        True,
        2.5,
        "http://h:1",
        "bearer",
        "out",
        "m",
    )
    assert parse_options(spec, "--no-interpolate").interpolate is False


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("--nope", "unrecognized arguments: --nope"),
        ("--thinking sometimes", "neither a level (MINIMAL, LOW, MEDIUM, HIGH) nor a token budget"),
        ("--thinking -5", "a budget is a token count"),
        ("-t hot", "invalid float value: 'hot'"),
        ("-t -0.1", "expected a number from 0 to 2"),
        ("--top-p 1.5", "--top-p: expected a number from 0 to 1"),
        ("--top-k 0", "--top-k: expected a positive integer"),
        ("--max-tokens -3", "--max-tokens: expected a positive integer"),
        ("--stop a --stop b --stop c --stop d --stop e --stop f", "at most 5 stop sequences"),
        ("--stop ''", "a stop sequence cannot be empty"),
        ("--schema 1x", "is not a variable name"),
        ("-o 'not valid'", "is not a valid variable name"),
        ("--aspect-ratio 1:3", "is not one of"),
        ("--timeout 0", "expected a positive number of seconds"),
        ("--timeout nan", "expected a positive number of seconds"),
        ("--auth basic", "expected 'key' or 'bearer'"),
        ("--base-url ftp://x", "is not an http(s) URL"),
        ("--safety dangerous", "expected CATEGORY=THRESHOLD"),
        ("--safety violence=none", "unknown category 'violence'"),
        ("-m 'two words'", "is not a model name"),
        ("--system 'open", "could not read the options: No closing quotation"),
    ],
)
def test_bad_values_are_one_clear_line(line: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_options(spec, line)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_endpoint() -> None:
    base = "https://generativelanguage.googleapis.com"
    assert (
        endpoint(base, "gemini-2.5-flash", stream=True)
        == f"{base}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    )
    assert (
        endpoint(base + "/", "models/gemini-2.5-flash", stream=False)
        == f"{base}/v1beta/models/gemini-2.5-flash:generateContent"
    )
    assert endpoint(base, "tunedModels/my-model", stream=False) == f"{base}/v1beta/tunedModels/my-model:generateContent"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("--speech", {"responseModalities": ["AUDIO"], "speechConfig": {"voiceConfig": _voice("Kore")}}),
        ("--speech Puck", {"responseModalities": ["AUDIO"], "speechConfig": {"voiceConfig": _voice("Puck")}}),
        (
            '--speakers "Joe=Kore, Jane=Puck"',
            {
                "responseModalities": ["AUDIO"],
                "speechConfig": {
                    "multiSpeakerVoiceConfig": {
                        "speakerVoiceConfigs": [
                            {"speaker": "Joe", "voiceConfig": _voice("Kore")},
                            {"speaker": "Jane", "voiceConfig": _voice("Puck")},
                        ]
                    }
                },
            },
        ),
        ("--image-size 2k", {"responseModalities": ["TEXT", "IMAGE"], "imageConfig": {"imageSize": "2K"}}),
        (
            "--aspect-ratio 16:9 --image-size 4K",
            {"responseModalities": ["TEXT", "IMAGE"], "imageConfig": {"aspectRatio": "16:9", "imageSize": "4K"}},
        ),
        ("--media-resolution HIGH", {"mediaResolution": "MEDIA_RESOLUTION_HIGH"}),
        ("--candidates 3", {"candidateCount": 3}),
    ],
)
def test_media_options_land_in_generation_config(line: str, expected: dict) -> None:
    assert body_for(line)["generationConfig"] == expected


def test_count_tokens_is_a_flag_that_changes_no_body_field() -> None:
    assert parse_options(spec, "--count-tokens").count_tokens is True
    assert body_for("--count-tokens") == body_for("")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("--image-size 3K", "--image-size: expected one of 1K, 2K, 4K"),
        ("--media-resolution ultra", "--media-resolution: expected one of low, medium, high"),
        ("--candidates 0", "--candidates: expected 1 to 8"),
        ("--candidates 9", "--candidates: expected 1 to 8"),
        ("--speech 'Kore; rm'", "--speech: 'Kore; rm' is not a voice name"),
        ("--speakers Joe=Kore", "--speakers: name exactly two different speakers"),
        ("--speakers Joe=Kore,Joe=Puck", "--speakers: name exactly two different speakers"),
        ("--speakers Joe,Jane", "--speakers: expected SPEAKER=VOICE pairs"),
        ("--speakers Joe=Kore,Jane=Puck,Ann=Zephyr", "--speakers: name exactly two"),
        ("--speech --image", "cannot be combined"),
        ("--speech Puck --speakers Joe=Kore,Jane=Puck", "--speech and --speakers: give one voice or two speakers"),
        ("--speakers Joe=Kore,Jane=Puck --aspect-ratio 1:1", "cannot be combined"),
    ],
)
def test_bad_media_values_are_one_clear_line(line: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        parse_options(spec, line)
