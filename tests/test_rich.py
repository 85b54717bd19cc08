"""Rich answers in a real kernel: citations, images, thoughts, code, tools, JSON, footers."""

from __future__ import annotations

import base64
import html
import json
import re

import pytest
from conftest import Kernel, assert_inert, displays, error_of, printed
from gemini_server import FIXTURES, GeminiTestServer, Reply, fixture_bytes, fixture_sse, json_reply, sse

from gemini_magic._response import GeminiResponse


def visible_text(fragment: str) -> str:
    """What a reader sees: tags removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def final(outputs: list) -> list[dict]:
    shown = displays(outputs)
    assert shown and all("application/vnd.jupyter.widget-view+json" not in o["data"] for o in shown)
    return shown


def no_error(outputs: list) -> None:
    assert not [o for o in outputs if o["output_type"] == "error"], outputs


def stored(kernel: Kernel) -> GeminiResponse:
    text = printed(kernel.run("print(_gemini.to_json())"))
    return GeminiResponse(json.loads(text))


def assert_markers_follow_segments(page: str, response: GeminiResponse) -> int:
    """Each support's numbers appear as [n] links right after the end of its segment's text.

    The expected numbers come straight from the recorded metadata: all supports ending at the
    same byte offset share one run of markers, in ascending order.
    """
    grounding = response.candidate["groundingMetadata"]
    chunks_at: dict[int, set[int]] = {}
    for support in grounding["groundingSupports"]:
        numbers = {i + 1 for i in support["groundingChunkIndices"]}
        chunks_at.setdefault(support["segment"]["endIndex"], set()).update(numbers)
    seen = visible_text(page)
    checked = 0
    for support in grounding["groundingSupports"]:
        tail = re.sub(r"[*_`#]", "", support["segment"]["text"]).strip()[-14:]
        markers = "".join(f"[{n}]" for n in sorted(chunks_at[support["segment"]["endIndex"]]))
        assert f"{tail}{markers}" in seen, (tail, markers)
        checked += 1
    return checked


@pytest.mark.needs_fixtures
def test_grounding_stream_markers_sources_queries_and_suggestions(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(fixture_sse("pydantic-ai__google-search-grounding_gemini-2.5-pro.sse"))
    outputs = kernel.run("%%gemini -m gemini-2.5-pro --search\nWeather in London?")
    no_error(outputs)
    page = final(outputs)[0]["data"]["text/html"]
    response = stored(kernel)
    assert assert_markers_follow_segments(page, response) == 8  # every support of the recording
    first_uri = response.candidate["groundingMetadata"]["groundingChunks"][0]["web"]["uri"]
    assert f'<sup class="gm-cite"><a href="{html.escape(first_uri)}"' in page
    assert "<strong>Sources</strong></p><ol><li>" in page
    assert "Searched: “" in page
    assert '<iframe class="gm-search-suggestions"' in page and 'sandbox="allow-popups' in page
    assert 'srcdoc="&lt;!DOCTYPE html&gt;' in page  # Google's own HTML only inside the iframe, escaped
    markdown = final(outputs)[0]["data"]["text/markdown"]
    assert "**Sources**\n\n1. [" in markdown


@pytest.mark.needs_fixtures
def test_grounding_nonstream_byte_offsets(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(json_reply(fixture_bytes("pydantic-ai__google-search-grounding_gemini-2.5-pro.nonstream.json")))
    outputs = kernel.run("%%gemini -m gemini-2.5-pro --search --no-stream\nWeather?")
    no_error(outputs)
    page = final(outputs)[0]["data"]["text/html"]
    assert assert_markers_follow_segments(page, stored(kernel)) == 7
    assert "77°F (25°C).[2]" in visible_text(page)  # after the non-ASCII "°": byte offsets, not characters


@pytest.mark.needs_fixtures
def test_gemini3_drifted_offsets_thoughts_and_tool_echo(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(json_reply(fixture_bytes("pydantic-ai__thoughts-toolCall-toolResponse-grounding_gemini-3-flash.json")))
    outputs = kernel.run("%%gemini --search --no-stream --show-thoughts --thinking HIGH\nNews?")
    no_error(outputs)
    page = final(outputs)[0]["data"]["text/html"]
    seen = visible_text(page)
    assert "and Kim Jong Un's regime.[5]" in seen  # drifted by 2 bytes in the recording
    assert "during the tournament.[6]" in seen
    assert (
        page.startswith("<style>") and '</style><div class="gemini-magic"><details><summary>Thoughts</summary>' in page
    )
    assert "<details open" not in page
    assert "GOOGLE_SEARCH_WEB" in seen  # the server-side tool call, shown compactly


@pytest.mark.needs_fixtures
def test_thought_summaries_stream_collapsible(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(fixture_sse("pydantic-ai__thought-summaries-stream_gemini-2.5-pro.sse"))
    outputs = kernel.run("%%gemini -m gemini-2.5-pro --show-thoughts\nThink")
    no_error(outputs)
    page = final(outputs)[0]["data"]["text/html"]
    response = stored(kernel)
    details = page[page.index("<details>") : page.index("</details>")]
    first_thought_words = response.thoughts.split("\n")[0].strip("* ")[:20]
    assert first_thought_words in visible_text(details)
    assert response.text.split()[0] not in visible_text(details) or response.text[:40] in visible_text(page)
    assert "thinking" in final(outputs)[0]["data"]["text/html"]  # footer names the thinking tokens
    # Without --show-thoughts the thoughts are not shown (but still stored).
    gemini.push(fixture_sse("pydantic-ai__thought-summaries-stream_gemini-2.5-pro.sse"))
    page = final(kernel.run("%%gemini -m gemini-2.5-pro\nThink"))[0]["data"]["text/html"]
    assert "<details>" not in page


@pytest.mark.needs_fixtures
def test_code_execution_stream(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(fixture_sse("pydantic-ai__code-execution-stream_gemini-3-flash.sse"))
    outputs = kernel.run("%%gemini --code-execution\nCompute")
    no_error(outputs)
    page = final(outputs)[0]["data"]["text/html"]
    seen = visible_text(page)
    assert "result = 65465 - 6544 * 65464 - 6 + 1.02255" in seen
    assert '<span class="nb">print</span>' in page  # highlighted
    assert "Output (OK)" in seen and "-428330955.97745" in seen
    assert seen.index("print(result)") < seen.index("Output (OK)") < seen.index("The result of")
    assert "$65465 - 6544 \\times 65464 - 6 + 1.02255$" in seen  # math left for the front end


@pytest.mark.needs_fixtures
def test_code_execution_failed_outcome(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(
        json_reply(fixture_bytes("vercel-ai__code-execution-multiple-results-OUTCOME_FAILED_gemini-3-flash.json"))
    )
    outputs = kernel.run("%%gemini --code-execution --no-stream\nCompute")
    seen = visible_text(final(outputs)[0]["data"]["text/html"])
    assert "Output (OK)" in seen and "Output (FAILED)" in seen


@pytest.mark.needs_fixtures
def test_url_context_and_file_search(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(fixture_sse("pydantic-ai__url-context-stream_gemini-2.5-flash.sse"))
    outputs = kernel.run("%%gemini -m gemini-2.5-flash --url-context\nRead https://example.com")
    no_error(outputs)
    page = final(outputs)[0]["data"]["text/html"]
    urls = stored(kernel).candidate["urlContextMetadata"]["urlMetadata"]
    assert "Pages read" in page and all(html.escape(u["retrievedUrl"]) in page for u in urls)
    assert "SUCCESS" in page
    gemini.push(fixture_sse("pydantic-ai__file-search-server-tool-invocations-stream_gemini-3-flash.sse"))
    outputs = kernel.run("%%gemini\nSearch my files")
    no_error(outputs)
    seen = visible_text(final(outputs)[0]["data"]["text/html"])
    assert "FILE_SEARCH" in seen and "Sources" in seen
    assert "file search: testfilesearchgroundingstre-p2hcv3cs2i69" in seen
    assert "Paris is the capital of France." in seen  # the retrieved snippet
    assert "The capital of France is Paris.[1]" in seen


@pytest.mark.needs_fixtures
def test_image_output_is_a_real_bundle_and_stored(kernel: Kernel, gemini: GeminiTestServer, tmp_path) -> None:
    gemini.push(json_reply(fixture_bytes("pydantic-ai__image-output-inlineData_gemini-2.5-flash-image.json")))
    outputs = kernel.run("%%gemini -m gemini-2.5-flash-image --image --no-stream\nDraw")
    no_error(outputs)
    shown = final(outputs)
    pngs = [o for o in shown if "image/png" in o["data"]]
    assert len(pngs) == 1
    assert base64.b64decode(pngs[0]["data"]["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "text/html" not in pngs[0]["data"] or "base64" not in pngs[0]["data"]["text/html"]
    target = tmp_path / "out"
    check = kernel.run(f"img = _gemini.images[0]; print(img.mime_type, len(img.data), img.save({str(target)!r}))")
    mime, size, path = printed(check).split()
    assert mime == "image/png" and int(size) > 1_000_000 and path.endswith("out.png")
    assert (tmp_path / "out.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.needs_fixtures
def test_big_image_with_big_signature_streams(kernel: Kernel, gemini: GeminiTestServer) -> None:
    recorded = json.loads(fixture_bytes("pydantic-ai__image-output-inlineData_gemini-2.5-flash-image.json"))
    image_part = next(p for p in recorded["candidates"][0]["content"]["parts"] if "inlineData" in p)
    signature = base64.b64encode(bytes(range(256)) * 4500).decode()  # ~1.5 MB
    events = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Here it is:"}]}}]},
        {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{**image_part, "thoughtSignature": signature}]},
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1290, "totalTokenCount": 1295},
            "modelVersion": "gemini-3-pro-image-preview",
        },
    ]
    gemini.push(sse(events))
    outputs = kernel.run("%%gemini -m gemini-3-pro-image-preview --image\nDraw")
    no_error(outputs)
    shown = final(outputs)
    assert "Here it is:" in shown[0]["data"]["text/html"]
    assert any("image/png" in o["data"] for o in shown)
    check = kernel.run("p = _gemini.parts[-1]; print(len(p['thoughtSignature']), len(p['inlineData']['data']))")
    assert printed(check).split() == [str(len(signature)), str(len(image_part["inlineData"]["data"]))]


@pytest.mark.needs_fixtures
def test_no_image_finish_is_explained(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(json_reply(fixture_bytes("vercel-ai__finishReason-NO_IMAGE_gemini-3.1-flash-image.json")))
    error = error_of(kernel.run("%%gemini --image --no-stream\nDraw"))
    assert error["ename"] == "GeminiAnswerError"
    assert "the model produced no image [NO_IMAGE]" in error["evalue"]


@pytest.mark.needs_fixtures
def test_safety_finish_names_the_category(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(json_reply(fixture_bytes("pydantic-ai__safety-block-finishReason-SAFETY_gemini-1.5-flash.json")))
    error = error_of(kernel.run("%%gemini --no-stream --safety all=low\nHi"))
    assert "stopped by the safety filters" in error["evalue"] and "[SAFETY]" in error["evalue"]


@pytest.mark.needs_fixtures
def test_function_call_is_shown_compactly(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(fixture_sse("pydantic-ai__function-call-thought-signature-stream_gemini-3-pro.sse"))
    outputs = kernel.run("%%gemini -m gemini-3-pro-preview\nWhich country?")
    no_error(outputs)
    assert "get_country({})" in visible_text(final(outputs)[0]["data"]["text/html"])


@pytest.mark.needs_fixtures
def test_footer_tokens_and_timing(kernel: Kernel, gemini: GeminiTestServer) -> None:
    gemini.push(fixture_sse("pydantic-ai__code-execution-stream_gemini-3-flash.sse"))
    page = final(kernel.run("%%gemini\nCompute"))[0]["data"]["text/html"]
    footer = visible_text(page.rsplit("<hr>", 1)[1])
    assert re.fullmatch(
        r"gemini-3-flash-preview · 147 in → 108 out \+ 168 thinking \+ 360 tool · 783 total tokens"
        r" · first token \d+\.\d\d s · \d+\.\d\d s",
        footer,
    ), footer


@pytest.mark.parametrize(
    "hostile",
    [
        {"web": {"uri": "javascript:window.pwned=1", "title": "<img src=x onerror=window.pwned=1>"}},
        {"web": {"uri": 'https://ok.example/"><script>window.pwned=1</script>', "title": '"><svg onload=x>'}},
    ],
)
def test_hostile_citations_are_inert(kernel: Kernel, gemini: GeminiTestServer, hostile: dict) -> None:
    event = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "A claim. <script>window.pwned=1</script>"}]},
                "finishReason": "STOP",
                "groundingMetadata": {
                    "groundingChunks": [hostile],
                    "groundingSupports": [
                        {"segment": {"endIndex": 8, "text": "A claim."}, "groundingChunkIndices": [0]}
                    ],
                    "webSearchQueries": ["<b onmouseover=alert(1)>q</b>"],
                    "searchEntryPoint": {"renderedContent": "<script>parent.pwned=1</script><div>chip</div>"},
                },
            }
        ]
    }
    gemini.push(Reply([f"data: {json.dumps(event)}\r\n\r\n".encode()]))
    page = final(kernel.run("%%gemini --search\nq"))[0]["data"]["text/html"]
    assert_inert(page, iframes=1)
    assert "A claim.<sup" in page
    assert "&lt;script&gt;parent.pwned=1" in re.search(r"<iframe[^>]*>", page).group(0)  # escaped in srcdoc


@pytest.mark.needs_fixtures
def test_fixture_dir_is_the_shared_one() -> None:
    assert (FIXTURES / "PROVENANCE.md").is_file()
