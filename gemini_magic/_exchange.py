"""One cell's whole exchange: cache lookup, the call, tool rounds, and what a chat keeps.

A plain cell is one call. With ``--run-tools`` the model's function calls are run and answered
for up to ``max_rounds`` rounds, each round shown as it happens. With ``--cache`` an identical
request is answered from disk (no key, no network) and marked "cached". The turns returned are
what ``--chat`` stores: the user turn, every model turn verbatim, every function response.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ._cache import ResponseCache
from ._call import call
from ._client import GeminiClient, RetryHook
from ._errors import printable
from ._response import GeminiResponse
from ._sanitize import sanitize
from ._settings import Settings, no_key_error
from ._tools import run_calls

__all__ = ["SHOWN_CHARS", "Exchange"]

SHOWN_CHARS = 300  # of each tool call and result in the "Ran" list


@dataclass
class Exchange:
    shell: Any
    client: GeminiClient
    settings: Settings
    url: str
    body: dict[str, Any]  # everything but the contents
    history: list[dict[str, Any]]
    user: dict[str, Any]
    stream: bool
    show_thoughts: bool
    json_mode: bool
    max_tokens: int | None
    store: Callable[[GeminiResponse], None]
    cache: ResponseCache | None = None
    tools: dict[str, Callable[..., Any]] = field(default_factory=dict)
    run_tools: bool = False
    max_rounds: int = 5

    def run(self) -> tuple[GeminiResponse, list[dict[str, Any]]]:
        """Ask; with ``--run-tools`` run the calls and send their results back, ``max_rounds`` times at most."""
        turns = [self.user]
        for round_ in range(self.max_rounds + 1):
            response = self._once({**self.body, "contents": [*self.history, *turns]})
            parts = (response.candidate.get("content") or {}).get("parts") or []
            if parts:
                turns.append({"role": "model", "parts": parts})
            calls = [
                p["functionCall"] for p in parts if isinstance(p, dict) and isinstance(p.get("functionCall"), dict)
            ]
            if not (calls and self.run_tools):
                return response, turns
            if round_ == self.max_rounds:
                break
            replies = run_calls(calls, self.tools)
            _show_tool_results(calls, replies)
            turns.append({"role": "user", "parts": replies})
        _show_note(f"stopped after {self.max_rounds} tool rounds; the model still wanted to call tools")
        return response, turns

    def _once(self, body: dict[str, Any]) -> GeminiResponse:
        key = self.cache.key(self.url, body) if self.cache else ""
        cached = self.cache.get(key) if self.cache else None
        if cached is None and not self.settings.api_key:
            raise no_key_error(self.settings.key_vars)

        def fetch(on_retry: RetryHook) -> Iterable[dict[str, Any]]:
            if cached is not None:
                return [cached]
            if self.stream:
                return self.client.stream(self.url, body, self.settings, on_retry)
            return [self.client.generate(self.url, body, self.settings, on_retry)]

        response = call(
            shell=self.shell,
            settings=self.settings,
            fetch=fetch,
            request={"url": self.url, "model": self.settings.model, "body": body},
            stream=self.stream and cached is None,
            show_thoughts=self.show_thoughts,
            json_mode=self.json_mode,
            max_tokens=self.max_tokens,
            store=self.store,
            note="cached" if cached is not None else "",
        )
        if self.cache is not None and cached is None:
            self.cache.put(key, dict(response))
        return response


def _show_tool_results(calls: list[dict[str, Any]], replies: list[dict[str, Any]]) -> None:
    """One line per function run: what was called and what went back to the model, each cut to
    ``SHOWN_CHARS`` (the whole exchange is in ``_gemini``; a 5 MB argument must not fill the notebook)."""
    from IPython.display import display

    rows = []
    for call_, reply in zip(calls, replies, strict=True):
        args = json.dumps(call_.get("args") or {}, ensure_ascii=False, default=repr)
        result = json.dumps(reply["functionResponse"]["response"], ensure_ascii=False, default=repr)
        rows.append((_cut(f"{call_.get('name')}({args})"), _cut(result)))
    text = "\n".join(f"ran {c} → {r}" for c, r in rows)
    items = "".join(f"<li><code>{html.escape(c)}</code> → <code>{html.escape(r)}</code></li>" for c, r in rows)
    page = f'<div class="gemini-magic"><small>Ran</small><ul>{items}</ul></div>'
    display({"text/plain": printable(text), "text/html": sanitize(page)}, raw=True)


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def _show_note(message: str) -> None:
    from IPython.display import display

    page = f"<p><strong>⚠ {html.escape(message)}</strong></p>"
    display({"text/plain": f"⚠ {printable(message)}", "text/html": sanitize(page)}, raw=True)
