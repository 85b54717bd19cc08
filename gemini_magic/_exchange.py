"""One call's whole exchange: cache lookup, the request, tool rounds, and what a chat keeps.

A plain call is one request. With ``--run-tools`` the model's function calls are run and answered
for up to ``max_tool_rounds`` rounds, each round shown as it happens. With ``--cache`` an identical
request is answered from disk (no key, no network) and marked "cached". The turns returned are
what ``--chat`` stores: the user turn, every model turn verbatim, every function response.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from ._bundles import note_bundle, tool_results_bundle
from ._call import answer
from ._client import GeminiClient, RetryHook
from ._display import ViewFactory, show
from ._errors import GeminiError
from ._prepare import Call
from ._response import GeminiResponse
from ._settings import no_key_error
from ._tools import run_calls

__all__ = ["exchange"]

Store = Callable[[GeminiResponse], None]


def exchange(
    call: Call, client: GeminiClient, new_view: ViewFactory, store: Store
) -> tuple[GeminiResponse, list[dict[str, Any]]]:
    """Ask; with ``--run-tools`` run the calls and send their results back, ``max_tool_rounds`` times at most."""
    rounds = call.settings.max_tool_rounds
    turns = [call.user]
    for round_ in range(rounds + 1):
        response = _once(call, call.body(turns), client, new_view, store)
        parts = response.parts
        if parts:
            turns.append({"role": "model", "parts": parts})
        calls = [p["functionCall"] for p in parts if isinstance(p.get("functionCall"), dict)]
        if not (calls and call.options.run_tools):
            return response, turns
        if round_ == rounds:
            break
        replies = run_calls(calls, call.tools)
        show(tool_results_bundle(calls, replies))
        turns.append({"role": "user", "parts": replies})
    show(note_bundle(f"stopped after {rounds} tool rounds; the model still wanted to call tools"))
    return response, turns


def _once(
    call: Call, body: dict[str, Any], client: GeminiClient, new_view: ViewFactory, store: Store
) -> GeminiResponse:
    cache = call.cache
    key = cache.key(call.url, body) if cache else ""
    cached = cache.get(key) if cache else None
    settings = call.settings
    if cached is None and not settings.api_key:
        raise no_key_error(settings.key_vars)

    def fetch(on_retry: RetryHook) -> Iterable[dict[str, Any]]:
        if cached is not None:
            return [cached]
        if call.options.stream:
            return client.stream(call.url, body, settings, on_retry)
        return [client.generate(call.url, body, settings, on_retry)]

    started = time.time()
    response: GeminiResponse | None = None
    error: GeminiError | None = None
    try:
        response = answer(call, body, fetch, new_view, store, cached is not None)
    except GeminiError as exc:
        error = exc
        raise
    finally:
        _log(call, body, response if error is None else error.response, error, started, cached is not None)
    if cache is not None and cached is None:
        cache.put(key, dict(response))
    return response


def _log(
    call: Call, body: dict[str, Any], response: Any, error: GeminiError | None, started: float, cached: bool
) -> None:
    """Append the exchange to the log (``GeminiMagic.log``), also a failed one with what arrived."""
    if not call.settings.log:
        return
    from ._log import LogEntry, record

    answered = dict(response) if isinstance(response, dict) else {}
    entry = LogEntry(
        time=started,
        model=call.settings.model,
        url=call.url,
        request=body,
        response=answered,
        duration=time.time() - started,
        usage=answered.get("usageMetadata") or {},
        error=str(error) if error is not None else None,
        cached=cached,
    )
    record(call.settings, entry)
