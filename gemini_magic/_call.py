"""One ``%%gemini`` call from request to stored result: send, merge, show, then judge.

The order in the ``finally`` matters: whatever happened (API error, dropped connection, Ctrl-C),
the partial answer is first stored and shown as the static output, and only then is the failure
raised, so "Run All" stops without losing what the user already received.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from ._client import RetryHook
from ._display import final_bundles, make_view
from ._errors import GeminiAnswerError, GeminiError, GeminiStreamError
from ._layout import AnswerLayout
from ._response import GeminiResponse, ResponseAccumulator
from ._settings import Settings
from ._summary import block_note, finish_note, footer_text

__all__ = ["call"]


def call(
    *,
    shell: Any,
    settings: Settings,
    fetch: Callable[[RetryHook], Iterable[dict[str, Any]]],
    request: dict[str, Any],
    stream: bool,
    show_thoughts: bool,
    json_mode: bool,
    max_tokens: int | None,
    store: Callable[[GeminiResponse], None],
    note: str = "",
) -> GeminiResponse:
    """Run the request, keep the live view current, and leave a static result behind.

    *fetch* yields the response events (a network stream, one ``generateContent`` answer, or a
    cached answer); *note* is added to the footer (e.g. "cached").
    """
    layout = AnswerLayout(show_thoughts=show_thoughts, json_mode=json_mode)
    view = make_view(shell, layout, f"{settings.model} · thinking…")
    view.start()
    accumulator = ResponseAccumulator()
    timings: dict[str, Any] = {"first": None, "total": None}
    started = time.perf_counter()

    def on_retry(attempt: int, delay: float, error: GeminiError) -> None:
        view.status(f"{error} — retrying in {delay:.1f} s (retry {attempt} of {settings.max_retries})")

    failure: BaseException | None = None
    notes: list[str] = []
    try:
        for event in fetch(on_retry):
            parts = accumulator.add(event)
            if parts and timings["first"] is None:
                timings["first"] = time.perf_counter() - started
            view.update(parts)
    except KeyboardInterrupt as exc:
        failure = exc
        notes.append("stopped by the user (interrupt); the connection was closed")
    except GeminiError as exc:
        failure = exc
        notes.append(str(exc))
    finally:
        timings["total"] = time.perf_counter() - started
        response = accumulator.result()
        response.request = request
        if failure is None:
            failure = _judge(response, stream, max_tokens, notes)
        if isinstance(failure, GeminiError):
            failure.partial_chars = len(response.text)
        store(response)
        footer = footer_text(response, settings.model, timings) + (f" · {note}" if note else "")
        view.finish(final_bundles(response, layout, footer, notes))
    if failure is not None:
        raise failure
    return response


def _judge(response: GeminiResponse, stream: bool, max_tokens: int | None, notes: list[str]) -> GeminiError | None:
    """Turn a complete but unusable response into an error; note an early but useful finish."""
    blocked = block_note(response)
    if blocked:
        notes.append(blocked)
        return GeminiAnswerError(blocked)
    if response.finish_reason is None:
        message = (
            "the stream ended before the model finished (no finishReason): the answer may be incomplete"
            if stream
            else "the response holds no finished answer (no finishReason)"
        )
        notes.append(message)
        return GeminiStreamError(message)
    note = finish_note(response, max_tokens)
    if note:
        notes.append(note)
        if not response.parts:
            return GeminiAnswerError(f"no answer: {note}")
    return None
