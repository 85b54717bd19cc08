"""A stand-in Gemini for whole notebooks: picks a plausible reply from what the request asks for.

The demo notebooks run unchanged against the real API; in CI they run against the loopback
server, which answers each request from the recorded fixtures that fit it (search → the recorded
grounded stream, image output → the recorded image, code execution → the recorded run, JSON
schema → an object that fits the schema, a request for one code block (``--code``, ``%gemini fix``)
→ an answer holding a fenced Python block, speech → a short spoken tone, ``candidateCount`` → that
many answers) or with a Markdown answer that quotes the prompt. What must be remembered between
requests (Files API uploads, context caches, ``:countTokens``) is answered by :class:`StandIn`,
which gives the rest to :func:`answer`: one per notebook run.
"""

from __future__ import annotations

import json
import math
import random
import zlib
from typing import Any

from caches_service import CachesService, Uploads
from gemini_server import Recorded, Reply, fixture_bytes, fixture_sse, json_reply, sse, text_events
from media_replies import candidate_events, speech_events, tone

EMBEDDING_SIZE = 3072  # gemini-embedding-001's full size, when no outputDimensionality is asked


def _sample(schema: dict[str, Any], seed: int = 0) -> Any:
    """A small value that satisfies a JSON Schema (enough for the notebooks' schemas); *seed*
    picks the enum values, so different prompts get different (but repeatable) answers."""
    kind = schema.get("type", "object")
    if "enum" in schema:
        return schema["enum"][seed % len(schema["enum"])]
    if kind == "object":
        properties = (schema.get("properties") or {}).items()
        return {k: _sample(v, seed >> (5 * n)) for n, (k, v) in enumerate(properties)}  # other bits each
    if kind == "array":
        return [_sample(schema.get("items") or {"type": "string"}, seed + n) for n in range(3)]
    return {"string": "example", "integer": 3, "number": 2.5, "boolean": True}.get(kind)


def _embeddings(body: dict[str, Any]) -> Reply:
    """``:batchEmbedContents``: one unit vector per request, seeded by its text (the same text gets
    the same vector), as long as its ``outputDimensionality``."""
    vectors = []
    for request in body.get("requests") or []:
        text = " ".join(p.get("text", "") for p in (request.get("content") or {}).get("parts") or [])
        generator = random.Random(zlib.crc32(text.encode()))
        values = [generator.gauss(0, 1) for _ in range(int(request.get("outputDimensionality") or EMBEDDING_SIZE))]
        norm = math.sqrt(sum(v * v for v in values)) or 1.0
        vectors.append({"values": [round(v / norm, 6) for v in values]})
    return json_reply({"embeddings": vectors})


def answer(record: Recorded) -> Reply:
    body = record.body if isinstance(record.body, dict) else {}
    if record.path.endswith(":batchEmbedContents"):
        return _embeddings(body)
    config = body.get("generationConfig") or {}
    tools = [next(iter(t)) for t in body.get("tools") or []]
    stream = "streamGenerateContent" in record.path
    prompt = " ".join(
        p.get("text", "") for c in body.get("contents") or [] for p in c.get("parts") or [] if isinstance(p, dict)
    )
    if "googleSearch" in tools:
        name = "pydantic-ai__google-search-grounding_gemini-2.5-pro"
        return fixture_sse(f"{name}.sse") if stream else json_reply(fixture_bytes(f"{name}.nonstream.json"))
    if "AUDIO" in (config.get("responseModalities") or []):
        events = speech_events(tone(0.5), pieces=2 if stream else 1)
        return sse(events) if stream else json_reply(events[0])
    if int(config.get("candidateCount") or 1) > 1:
        answers = [[f"Answer {n + 1} to: ", prompt[:60]] for n in range(int(config["candidateCount"]))]
        events = candidate_events(answers)
        return sse(events) if stream else json_reply(candidate_events([["".join(a)] for a in answers])[0])
    if "IMAGE" in (config.get("responseModalities") or []):
        return _as(
            stream, json.loads(fixture_bytes("pydantic-ai__image-output-inlineData_gemini-2.5-flash-image.json"))
        )
    if "codeExecution" in tools:
        if stream:
            return fixture_sse("pydantic-ai__code-execution-stream_gemini-3-flash.sse")
        return json_reply(
            fixture_bytes("vercel-ai__code-execution-multiple-results-OUTCOME_FAILED_gemini-3-flash.json")
        )
    if (config.get("thinkingConfig") or {}).get("includeThoughts"):
        return fixture_sse("pydantic-ai__thought-summaries-stream_gemini-2.5-pro.sse")
    if config.get("responseMimeType") == "application/json":
        value = _sample(
            config.get("responseJsonSchema") or {"type": "object", "properties": {"answer": {"type": "string"}}},
            zlib.crc32(prompt.encode()),
        )
        return _as(stream, text_events([json.dumps(value)])[0])
    if "code block" in prompt:  # --code and %gemini fix ask for one fenced block
        text = (
            "Here is the code, in one block:\n\n"
            '```python\n# written by the loopback stand-in for Gemini\nprint("corrected cell")\n```\n'
        )
        return sse(text_events([text[:30], text[30:]])) if stream else json_reply(text_events([text])[0])
    text = (
        f"You asked: *{prompt[:80]}*\n\nHere is a short answer with a list:\n\n"
        "* first point\n  * a detail\n* second point\n\nAnd a formula: $e^{i\\pi} + 1 = 0$."
    )
    pieces = [text[i : i + 24] for i in range(0, len(text), 24)]
    return sse(text_events(pieces)) if stream else json_reply(text_events([text])[0])


def _as(stream: bool, response: dict[str, Any]) -> Reply:
    """One whole response, as a one-event stream or a plain JSON body."""
    return sse([response]) if stream else json_reply(response)


class StandIn:
    """:func:`answer`, with a memory: uploads (``/upload/…``, ``/v1beta/files…``), context caches
    (``cachedContents``, and generate requests that name one) and ``:countTokens`` go to the
    loopback Files and caches services, everything else to :func:`answer`."""

    def __init__(self) -> None:
        self.uploads = Uploads()
        self.caches = CachesService(fallback=self.uploads)

    def __call__(self, record: Recorded) -> Reply:
        path = record.path.partition("?")[0]
        body = record.body if isinstance(record.body, dict) else {}
        if path.startswith(("/upload/", "/v1beta/files", "/v1beta/cachedContents")) or path.endswith(":countTokens"):
            return self.caches(record)
        return self.caches(record) if body.get("cachedContent") else answer(record)
