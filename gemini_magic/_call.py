"""One ``%%gemini`` call from request to stored result: send, merge, show, then judge.

The order matters: whatever happened (API error, malformed event, dropped connection, Ctrl-C),
the partial answer is first stored and shown as the static output, and only then is the failure
raised, so "Run All" stops without losing what the user already received. The live view is a
context manager, so even a failure in our own rendering stops its ticker and closes its widgets.

A failure leaves as a bare one-line error: no traceback and no chained exception, because those
reach into the network library's frames (whose locals hold the request headers, key included, and
the response buffers) and ``sys.last_traceback`` would keep them alive and show them to ``%debug``.
Ctrl-C becomes :class:`GeminiInterrupted`, still a ``KeyboardInterrupt``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

from ._bundles import final_bundles
from ._client import RetryHook
from ._display import ViewFactory
from ._errors import GeminiAnswerError, GeminiError, GeminiInterrupted, GeminiStreamError
from ._layout import AnswerLayout
from ._prepare import Call
from ._response import GeminiResponse, ResponseAccumulator
from ._summary import block_note, finish_note, footer_text

__all__ = ["answer"]

P = ParamSpec("P")
R = TypeVar("R")


def _one_line_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Raise *func*'s GeminiError (Ctrl-C as GeminiInterrupted) bare: no traceback below this wrapper,
    no chained exception, so neither the network frames nor the call's own buffers stay reachable."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        failure: GeminiError
        try:
            return func(*args, **kwargs)
        except GeminiError as exc:
            failure = exc
        except KeyboardInterrupt:  # Ctrl-C after the stream, while storing or rendering
            failure = GeminiInterrupted()
        failure.__context__ = failure.__cause__ = None
        raise failure.with_traceback(None)

    return wrapper


@_one_line_errors
def answer(
    call: Call,
    body: dict[str, Any],
    fetch: Callable[[RetryHook], Iterable[dict[str, Any]]],
    new_view: ViewFactory,
    store: Callable[[GeminiResponse], None],
    cached: bool = False,
) -> GeminiResponse:
    """Send *body*, keep the live view current, and leave a static result behind.

    *fetch* yields the response events (a network stream, one ``generateContent`` answer, or a
    cached answer, then marked "cached" in the footer). A failure carries the partial response as
    ``error.response``.
    """
    options, settings = call.options, call.settings
    layout = AnswerLayout(show_thoughts=options.show_thoughts, json_mode=options.json_mode)
    accumulator = ResponseAccumulator()
    timings: dict[str, Any] = {"first": None, "total": None}
    notes: list[str] = []
    failure: GeminiError | None = None
    with new_view(layout, f"{settings.model} · thinking…") as view:

        def on_retry(attempt: int, delay: float, error: GeminiError) -> None:
            view.status(f"{error} — retrying in {delay:.1f} s (retry {attempt} of {settings.max_retries})")

        started = time.perf_counter()
        try:
            for event in fetch(on_retry):
                parts = accumulator.add(event)
                if parts and timings["first"] is None:
                    timings["first"] = time.perf_counter() - started
                view.update(parts)
        except KeyboardInterrupt:
            failure = GeminiInterrupted()
        except GeminiError as exc:
            failure = exc
        finally:
            timings["total"] = time.perf_counter() - started
            response = accumulator.result()
            response.request = {"url": call.url, "model": settings.model, "body": body}
            store(response)
        if failure is None:
            failure = _judge(response, options.stream and not cached, options.max_tokens, notes)
        else:
            notes.append(str(failure))
        if failure is not None:
            failure.partial_chars = len(response.text)
            failure.response = response
        footer = footer_text(response, settings.model, timings) + (" · cached" if cached else "")
        try:
            view.finish(final_bundles(response, layout, footer, notes))
        except Exception:
            if failure is None:
                raise  # our own rendering failed: that is the error to see (the view falls back to text)
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
