"""``--count-tokens``: what a cell would cost, asked of ``:countTokens`` instead of generating.

The count is only worth having if it is the count of *this* request, so the body is the very
request the cell would send (history, attachments, system instruction, tools, generation config,
cached content) wrapped as ``generateContentRequest`` with its ``model`` (shared/wire-media.md §2);
the plain ``contents`` form would leave the system instruction and tools uncounted. Counting is
free and generates nothing; ``--dry-run`` shows this request and sends nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._bundles import Bundle, dry_run_bundle, note_bundle, table_bundle
from ._call import _one_line_errors
from ._errors import GeminiError
from ._layout import AnswerLayout
from ._request import endpoint
from ._response import GeminiResponse
from ._settings import no_key_error
from ._shapes import _check

if TYPE_CHECKING:
    from ._api import Host
    from ._display import ViewFactory
    from ._prepare import Call

__all__ = ["TokenCount", "count_body", "count_bundle", "count_tokens", "count_url"]

_DETAILS = [{"modality": str, "tokenCount": int}]
_ANSWER = {
    "totalTokens": int,
    "cachedContentTokenCount": int,
    "promptTokensDetails": _DETAILS,
    "cacheTokensDetails": _DETAILS,
}


class TokenCount(GeminiResponse):
    """The ``:countTokens`` answer as the API sent it (a dict), in ``_gemini`` after ``--count-tokens``.

    A :class:`GeminiResponse` so it lands where answers land (``_gemini``, ``-o NAME``,
    ``generate(count_tokens=True)``), with ``.request`` saying what was counted; it holds no
    candidates, so ``.text`` is empty. ``.total``, ``.cached`` and ``.details`` read the counts.
    """

    @property
    def total(self) -> int:
        """Every token of the prompt, cached ones included (``totalTokens``)."""
        return int(self.get("totalTokens", 0))

    @property
    def cached(self) -> int:
        """The tokens that come from the context cache (``cachedContentTokenCount``; 0 without one)."""
        return int(self.get("cachedContentTokenCount", 0))

    @property
    def details(self) -> dict[str, int]:
        """Tokens per modality (``{"TEXT": 531, "IMAGE": 258}``), as far as the API breaks them down."""
        return {d.get("modality", "?"): d.get("tokenCount", 0) for d in self.get("promptTokensDetails") or []}

    def __repr__(self) -> str:
        """One line: the total, the cached part and the breakdown."""
        return f"TokenCount(total={self.total}, cached={self.cached}, details={self.details})"


def count_url(call: Call) -> str:
    """``{base}/v1beta/models/{model}:countTokens`` for the call's host and model."""
    return endpoint(call.settings.base_url, call.settings.model, stream=False).rsplit(":", 1)[0] + ":countTokens"


def count_body(call: Call) -> dict[str, Any]:
    """The cell's whole request, as ``generateContentRequest`` with its ``models/…`` name."""
    model = count_url(call).rsplit("/v1beta/", 1)[1].rsplit(":", 1)[0]
    return {"generateContentRequest": {"model": model, **call.body()}}


@_one_line_errors
def count_tokens(host: Host, call: Call, new_view: ViewFactory) -> TokenCount | None:
    """Count the call's tokens, show them, store the answer; None for ``--dry-run`` (nothing sent)."""
    settings, url, body = call.settings, count_url(call), count_body(call)
    if call.options.dry_run:
        from ._display import show

        show(dry_run_bundle(url, settings.auth_header(), settings.masked_key(), body, "countTokens: generates nothing"))
        return None
    if not settings.api_key:  # the settings let a --cache cell through without one; counting needs it
        raise no_key_error(settings.key_vars)
    with new_view(AnswerLayout(), f"{settings.model} · counting tokens…") as view:

        def on_retry(attempt: int, delay: float, error: GeminiError) -> None:
            view.status(f"{error} — retrying in {delay:.1f} s (retry {attempt} of {settings.max_retries})")

        try:
            answer = host.client.generate(url, body, settings, on_retry)
            _check(answer, _ANSWER, "")  # a wrong type names the field, before anything reads it
        except GeminiError as exc:
            view.finish([note_bundle(str(exc))])
            raise
        count = TokenCount(answer)
        count.request = {"url": url, "model": settings.model, "body": body}
        host.store(count, call.options)
        view.finish([count_bundle(count, settings.model)])
    return count


def count_bundle(count: TokenCount, model: str) -> Bundle:
    """A small table: tokens per modality, the cached part, the total; one line for terminals."""
    rows = [(modality.lower(), f"{tokens:,}") for modality, tokens in count.details.items()]
    if count.cached:
        parts = count.get("cacheTokensDetails") or []
        cached = ", ".join(f"{d.get('modality', '?').lower()} {d.get('tokenCount', 0):,}" for d in parts)
        rows.append(("from the context cache", f"{count.cached:,}" + (f" ({cached})" if cached else "")))
    rows.append(("total", f"{count.total:,}"))
    summary = f"{count.total:,} tokens" + (f" ({count.cached:,} cached)" if count.cached else "")
    if count.details:
        summary += " · " + ", ".join(f"{m.lower()} {n:,}" for m, n in count.details.items())
    caption = f"{model} · countTokens: nothing was generated"
    data, _ = table_bundle(("input", "tokens"), rows, caption)
    return data, {"gemini_magic": {"footer": f"{summary} · {caption}", "tokens": dict(count)}}
