"""Response events checked at the boundary, metadata merged over the stream, refusals explained.

In process: plain calls on ResponseAccumulator and the summary functions.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from gemini_server import FIXTURES

from gemini_magic._errors import GeminiStreamError
from gemini_magic._response import GeminiResponse, ResponseAccumulator
from gemini_magic._summary import block_note, finish_note


def merge(*events: Any) -> GeminiResponse:
    accumulator = ResponseAccumulator()
    for event in events:
        accumulator.add(event)
    return accumulator.result()


def text_event(*parts: Any, **candidate: Any) -> dict[str, Any]:
    return {"candidates": [{"content": {"parts": list(parts), "role": "model"}, **candidate}]}


MALFORMED = [
    (text_event({"text": "a"}, {"text": "b"}, {"text": 5}), "candidates[0].content.parts[2].text is a number"),
    ({"candidates": 5}, "candidates is a number, expected an array"),
    ({"candidates": ["x"]}, "candidates[0] is a string, expected an object"),
    ({"candidates": [{"content": "hi"}]}, "candidates[0].content is a string, expected an object"),
    ({"candidates": [{"content": {"parts": {"text": "a"}}}]}, "candidates[0].content.parts is an object"),
    (text_event({"text": "a", "thought": "yes"}), "candidates[0].content.parts[0].thought is a string"),
    (text_event({"inlineData": {"mimeType": "image/png", "data": 7}}), "parts[0].inlineData.data is a number"),
    (text_event({"functionCall": {"name": "f", "args": [1]}}), "parts[0].functionCall.args is an array"),
    ({"candidates": [{"finishReason": 1}]}, "candidates[0].finishReason is a number, expected a string"),
    ({"candidates": [{"index": "1"}]}, "candidates[0].index is a string, expected an integer"),
    ({"candidates": [{"safetyRatings": "abc"}]}, "candidates[0].safetyRatings is a string, expected an array"),
    ({"usageMetadata": {"totalTokenCount": "12"}}, "usageMetadata.totalTokenCount is a string, expected an integer"),
    ({"usageMetadata": [1, 2]}, "usageMetadata is an array, expected an object"),
    ({"promptFeedback": "blocked"}, "promptFeedback is a string, expected an object"),
    ({"modelVersion": ["m"]}, "modelVersion is an array, expected a string"),
    (
        {"candidates": [{"citationMetadata": {"citationSources": [{"uri": 3}]}}]},
        "candidates[0].citationMetadata.citationSources[0].uri is a number",
    ),
    (
        {"candidates": [{"groundingMetadata": {"groundingSupports": [{"groundingChunkIndices": [0.5]}]}}]},
        "groundingSupports[0].groundingChunkIndices[0] is a number, expected an integer",
    ),
    (
        {"candidates": [{"groundingMetadata": {"groundingChunks": ["https://a.example"]}}]},
        "candidates[0].groundingMetadata.groundingChunks[0] is a string, expected an object",
    ),
    ([1, 2], "the body is an array, expected an object"),
    (None, "the body is null, expected an object"),
    ("str", "the body is a string, expected an object"),
]


@pytest.mark.parametrize(("event", "message"), MALFORMED, ids=[m for _, m in MALFORMED])
def test_wrong_types_are_a_stream_error_naming_the_field(event: Any, message: str) -> None:
    accumulator = ResponseAccumulator()
    accumulator.add(text_event({"text": "kept"}))
    with pytest.raises(GeminiStreamError, match=r"^malformed response: ") as caught:
        accumulator.add(event)
    assert message in str(caught.value)
    assert accumulator.result().text == "kept"  # what came before stays


def test_unknown_fields_and_enum_values_are_kept() -> None:
    event = text_event(
        {"text": "hi"},
        {"futurePart": {"x": [1, {"y": None}]}},
        finishReason="SOMETHING_NEW",
        futureMeta={"a": 1},
    )
    event["usageMetadata"] = {"totalTokenCount": 3, "serviceTier": "standard", "newCount": "7"}
    event["brandNew"] = [1, "two"]
    response = merge(event)
    assert response.parts[1] == {"futurePart": {"x": [1, {"y": None}]}}
    assert response.finish_reason == "SOMETHING_NEW" and response.candidate["futureMeta"] == {"a": 1}
    assert response["brandNew"] == [1, "two"] and response.usage["newCount"] == "7"


def test_null_fields_read_as_left_out() -> None:
    """proto3 JSON reads null as the default value; gateways send it."""
    event = text_event({"text": "hi", "thoughtSignature": None}, finishReason=None, citationMetadata=None)
    event.update(usageMetadata={"totalTokenCount": None, "promptTokenCount": 3}, modelVersion=None)
    response = merge(event, text_event({"text": "!"}, finishReason="STOP"))
    assert response.parts == [{"text": "hi!"}] and response.finish_reason == "STOP"
    assert response.usage == {"promptTokenCount": 3} and response.model_version is None
    assert "citationMetadata" not in response.candidate


def test_grounding_indices_out_of_range_are_accepted() -> None:
    grounding = {
        "groundingChunks": [{"web": {"uri": "https://a.example", "title": "a"}}],
        "groundingSupports": [{"segment": {"startIndex": 99, "endIndex": -4}, "groundingChunkIndices": [7, -1]}],
    }
    response = merge(text_event({"text": "hello"}, finishReason="STOP", groundingMetadata=grounding))
    assert response.candidate["groundingMetadata"] == grounding


def test_citation_sources_are_merged_over_the_stream() -> None:
    first = {"startIndex": 0, "endIndex": 40, "uri": "https://a.example/x", "license": "mit"}
    second = {"startIndex": 50, "endIndex": 90, "uri": "https://b.example/y"}
    again = {"startIndex": 0, "endIndex": 40, "uri": "https://a.example/x", "license": "mit"}
    same_uri_elsewhere = {"startIndex": 100, "endIndex": 140, "uri": "https://a.example/x"}
    response = merge(
        text_event({"text": "a"}, citationMetadata={"citationSources": [first]}),
        text_event({"text": "b"}, citationMetadata={"citationSources": [second, again]}),
        text_event({"text": "c"}, citationMetadata={}),
        text_event({"text": "d"}, citationMetadata={"citationSources": [same_uri_elsewhere]}, finishReason="STOP"),
    )
    assert response.candidate["citationMetadata"]["citationSources"] == [first, second, same_uri_elsewhere]


@pytest.mark.needs_fixtures
def test_recorded_blocked_prompt_names_the_reason_without_safety_advice() -> None:
    raw = (FIXTURES / "vercel-ai__prompt-blocked-PROHIBITED_CONTENT-stream_gemini-3.7-flash.chunks.txt").read_text()
    note = block_note(merge(json.loads(raw)))
    assert note == "the prompt was blocked [PROHIBITED_CONTENT]; nothing was generated — rephrase it"


def test_block_reasons_named_as_sent_with_their_message() -> None:
    armor = {
        "promptFeedback": {
            "blockReason": "MODEL_ARMOR",
            "blockReasonMessage": "Blocked by Model Armor floor setting: prompt injection.",
        }
    }
    assert block_note(merge(armor)) == (
        "the prompt was blocked [MODEL_ARMOR]; nothing was generated — rephrase it. "
        "The API says: Blocked by Model Armor floor setting: prompt injection."
    )
    assert "[SOMETHING_NEW]" in (block_note(merge({"promptFeedback": {"blockReason": "SOMETHING_NEW"}})) or "")
    safety = {
        "promptFeedback": {
            "blockReason": "SAFETY",
            "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True}],
        }
    }
    assert block_note(merge(safety)) == (
        "the prompt was blocked [SAFETY] (HARASSMENT); nothing was generated — rephrase it or adjust --safety"
    )


def test_empty_candidates_with_prompt_feedback_is_a_blocked_prompt() -> None:
    feedback = {"safetyRatings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "HIGH", "blocked": True}]}
    response = merge({"candidates": [], "promptFeedback": feedback, "usageMetadata": {"promptTokenCount": 4}})
    assert block_note(response) == (
        "the prompt was blocked [no blockReason given] (HATE_SPEECH); nothing was generated — rephrase it"
    )
    # A first event that carries promptFeedback next to a real answer is not a block.
    answered = merge({"candidates": [], "promptFeedback": feedback}, text_event({"text": "ok"}, finishReason="STOP"))
    assert block_note(answered) is None


def test_unknown_finish_reason_named_and_finish_message_verbatim() -> None:
    response = merge(
        text_event({"text": "partial"}, finishReason="MODEL_ARMOR", finishMessage="Response blocked by Model Armor.")
    )
    assert finish_note(response) == "the answer stopped early [MODEL_ARMOR]: Response blocked by Model Armor."


def test_a_huge_error_message_is_shown_cut_and_kept_whole() -> None:
    from gemini_magic._errors import SHOWN_MESSAGE, GeminiAPIError

    error = GeminiAPIError.from_body({"error": {"code": 400, "status": "X" * 500, "message": "m" * 100_000}}, 400)
    assert len(str(error)) < SHOWN_MESSAGE + 200 and len(error.message) == 100_000
    assert str(error).endswith("… (see .message for all of it)")
