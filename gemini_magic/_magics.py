"""The ``%%gemini`` cell magic: thin glue between the stages.

options (``_options``) → settings (``_settings``) → request (``_request``) → call
(``_call``: transport, merging, display). Configuration lives here as traitlets, so
``%config GeminiMagic.model = "gemini-2.5-flash"`` works as in any IPython extension.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class
from traitlets import Enum, Float, Int, Unicode, validate

from ._options import Options, gemini_arguments, parse_options
from ._prompt import interpolate
from ._request import build_body, endpoint
from ._settings import DEFAULT_MODEL, GOOGLE_BASE_URL, resolve_settings

if TYPE_CHECKING:
    from ._client import GeminiClient
    from ._response import GeminiResponse

__all__ = ["GeminiMagic"]


@magics_class
class GeminiMagic(Magics):
    """Ask Google's Gemini models from a notebook cell."""

    model = Unicode(DEFAULT_MODEL, help="Model used when a cell gives no -m/--model.").tag(config=True)
    base_url = Unicode(
        GOOGLE_BASE_URL,
        help="API host. Environment: GEMINI_BASE_URL; with only COMETAPI_KEY set, https://api.cometapi.com.",
    ).tag(config=True)
    api_key_env = Unicode(
        "", help="Read the key from this environment variable instead of GEMINI_API_KEY/GOOGLE_API_KEY/COMETAPI_KEY."
    ).tag(config=True)
    auth = Enum(["key", "bearer"], "key", help="Send the key as x-goog-api-key (key) or Authorization: Bearer.").tag(
        config=True
    )
    timeout = Float(120.0, help="Seconds to wait for each network read.").tag(config=True)
    max_retries = Int(3, help="Retries for 429/500/502/503/504 answers, with backoff.").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._client: GeminiClient | None = None  # made on first use: loading stays fast

    @validate("timeout")
    def _check_timeout(self, proposal: Any) -> float:
        if proposal["value"] <= 0:
            raise ValueError("GeminiMagic.timeout must be a positive number of seconds")
        return float(proposal["value"])

    @validate("max_retries")
    def _check_retries(self, proposal: Any) -> int:
        if proposal["value"] < 0:
            raise ValueError("GeminiMagic.max_retries cannot be negative")
        return int(proposal["value"])

    def _configured(self) -> tuple[dict[str, Any], set[str]]:
        names = ("model", "base_url", "api_key_env", "auth", "timeout", "max_retries")
        values = {name: getattr(self, name) for name in names}
        section = self.config.get("GeminiMagic", {})
        configured = {n for n in names if n in section or values[n] != self.trait_defaults(n)}
        return values, configured

    @gemini_arguments
    @cell_magic
    def gemini(self, line: str, cell: str) -> None:
        """Send the cell to Gemini and stream the answer into the output.

        Example::

            %%gemini -m gemini-3-flash-preview --search --thinking LOW
            Summarise {topic} for a first-year student, with sources.

        ``{name}`` and ``{name.attr}`` are filled in from the notebook when ``name`` is defined;
        other braces (code, JSON) are sent as written. The merged API response is stored in
        ``_gemini`` (and in ``-o NAME``); ``_gemini.text`` is the answer.
        """
        options = parse_options(self.gemini, line)
        prompt = cell.strip("\n")
        if not prompt.strip():
            raise UsageError("the cell is empty: write the prompt below the %%gemini line")
        namespace = self.shell.user_ns if self.shell is not None else {}
        if options.interpolate:
            prompt = interpolate(prompt, namespace)
        values, configured = self._configured()
        settings = resolve_settings(options, values, configured, need_key=not options.dry_run)
        body = build_body(options, prompt, _schema(options, namespace))
        url = endpoint(settings.base_url, settings.model, stream=options.stream)
        if options.dry_run:
            _show_dry_run(url, settings.auth_header(), settings.masked_key(), body)
            return

        from ._call import call
        from ._client import GeminiClient

        if self._client is None:
            self._client = GeminiClient()

        def store(response: GeminiResponse) -> None:
            namespace["_gemini"] = response
            if options.out:
                namespace[options.out] = response

        call(
            shell=self.shell,
            client=self._client,
            settings=settings,
            url=url,
            body=body,
            stream=options.stream,
            show_thoughts=options.show_thoughts,
            json_mode=options.json,
            max_tokens=options.max_tokens,
            store=store,
        )


def _schema(options: Options, namespace: dict[str, Any]) -> dict[str, Any] | None:
    """Look up ``--schema VAR``: a JSON Schema dict, or a class with ``model_json_schema()``."""
    if options.schema is None:
        return None
    name, *attrs = options.schema.split(".")
    if name not in namespace:
        raise UsageError(f"--schema: no variable named {name!r} in the notebook")
    value = namespace[name]
    for attr in attrs:
        value = getattr(value, attr, None)
    if hasattr(value, "model_json_schema"):
        value = value.model_json_schema()
    if not isinstance(value, dict):
        raise UsageError(f"--schema: {options.schema} is a {type(value).__name__}, expected a JSON Schema dict")
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--schema: {options.schema} is not JSON-serialisable ({exc})") from None
    return value


def _show_dry_run(url: str, auth_header: str, masked: str, body: dict[str, Any]) -> None:
    """What would be sent; the key is replaced by a description of it."""
    from IPython.display import display

    lines = [
        f"POST {url}",
        "Content-Type: application/json",
        f"{auth_header}: {masked}",
        "",
        json.dumps(body, indent=2, ensure_ascii=False),
    ]
    text = "\n".join(lines)
    display({"text/plain": text, "text/markdown": f"```http\n{text}\n```"}, raw=True)
