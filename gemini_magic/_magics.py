"""``%%gemini`` and ``%gemini``: the thin IPython layer over :func:`gemini_magic._api.ask`.

The magic parses the line (``_options``), chooses the live view for this front end (``_display``)
and is the *host* of a call: it holds the configuration as traitlets (so ``%config
GeminiMagic.model = "gemini-2.5-flash"`` works as in any IPython extension), the connection pool,
the conversations, and stores the answer in ``_gemini``. Everything else is imported on first use.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from traitlets import Bool, Enum, Float, Int, Unicode, observe, validate

from ._options import Options, gemini_arguments, parse_line
from ._sanitize import policy
from ._settings import DEFAULTS, Settings, resolve_settings

if TYPE_CHECKING:
    from ._client import GeminiClient
    from ._conversation import ChatStore
    from ._response import GeminiResponse

__all__ = ["GeminiMagic"]

# a "%gemini ... ?" line, which IPython's help syntax would take (see _keep_question_marks)
_QUESTION_LINE = re.compile(r"([ \t]*)%gemini([ \t][^\n]*\?[ \t]*)(\r?\n?)\Z")


@magics_class
class GeminiMagic(Magics):
    """Ask Google's Gemini models from a notebook cell."""

    model = Unicode(DEFAULTS["model"], help="Model used when a cell gives no -m/--model.").tag(config=True)
    base_url = Unicode(
        DEFAULTS["base_url"],
        help="API host. Environment: GEMINI_BASE_URL; with only COMETAPI_KEY set, https://api.cometapi.com.",
    ).tag(config=True)
    api_key_env = Unicode(
        DEFAULTS["api_key_env"],
        help="Read the key from this environment variable instead of GEMINI_API_KEY/GOOGLE_API_KEY/COMETAPI_KEY.",
    ).tag(config=True)
    auth = Enum(
        ["key", "bearer"], DEFAULTS["auth"], help="Send the key as x-goog-api-key (key) or Authorization: Bearer."
    ).tag(config=True)
    timeout = Float(DEFAULTS["timeout"], help="Seconds to wait for each network read (at most 3600).").tag(config=True)
    max_retries = Int(DEFAULTS["max_retries"], help="Retries for 429/500/502/503/504 answers, with backoff.").tag(
        config=True
    )
    max_response_mb = Int(
        DEFAULTS["max_response_mb"], help="Largest response read, in MB (past it: an error, the part received kept)."
    ).tag(config=True)
    cache = Bool(
        DEFAULTS["cache"], help="Answer identical requests from the on-disk cache (like --cache on every cell)."
    ).tag(config=True)
    cache_dir = Unicode(DEFAULTS["cache_dir"], help="Folder of the response cache (relative to the notebook).").tag(
        config=True
    )
    max_tool_rounds = Int(
        DEFAULTS["max_tool_rounds"], help="Most rounds of function calls --run-tools answers in one cell."
    ).tag(config=True)
    remote_images = Bool(
        DEFAULTS["remote_images"],
        help="Load images that model text links to (![alt](https://…)). Off by default: such a link can carry "
        "notebook data to any host, so it is shown as a link instead. Images the API returns always show.",
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._client: GeminiClient | None = None  # made on first use: loading stays fast
        self._chats: ChatStore | None = None
        if shell is not None and _keep_question_marks not in shell.input_transformers_cleanup:
            shell.input_transformers_cleanup.append(_keep_question_marks)
        policy.remote_images = self.remote_images

    @observe("remote_images")
    def _remote_images_changed(self, change: Any) -> None:
        policy.remote_images = bool(change["new"])

    @validate("timeout")
    def _check_timeout(self, proposal: Any) -> float:
        if proposal["value"] <= 0:
            raise ValueError("GeminiMagic.timeout must be a positive number of seconds")
        return float(proposal["value"])

    @validate("max_retries", "max_tool_rounds")
    def _check_count(self, proposal: Any) -> int:
        if proposal["value"] < 0:
            raise ValueError(f"GeminiMagic.{proposal['trait'].name} cannot be negative")
        return int(proposal["value"])

    @property
    def client(self) -> GeminiClient:
        """The pooled HTTP client: later cells reuse the connection."""
        if self._client is None:
            from ._client import GeminiClient

            self._client = GeminiClient()
        return self._client

    @property
    def chats(self) -> ChatStore:
        """This session's conversations, by name."""
        if self._chats is None:
            from ._conversation import ChatStore

            self._chats = ChatStore()
        return self._chats

    @property
    def namespace(self) -> dict[str, Any]:
        """The notebook's variables: what ``{name}``, ``--attach``, ``--tools`` and ``--schema`` look up."""
        return self.shell.user_ns if self.shell is not None else {}

    def settings(self, options: Options, *, need_key: bool = True) -> Settings:
        """The effective settings for *options*: cell option > ``%config`` > environment > default."""
        values = {name: getattr(self, name) for name in DEFAULTS}
        section = self.config.get("GeminiMagic", {})
        configured = {n for n in DEFAULTS if n in section or values[n] != self.trait_defaults(n)}
        return resolve_settings(options, values, configured, need_key=need_key)

    def cell_key(self, prompt: str) -> str:
        """The notebook cell this runs in (JupyterLab and nbclient send its id), else the prompt:
        a re-run cell replaces its own turn in a ``--chat``."""
        kernel = getattr(self.shell, "kernel", None)
        try:
            parent = kernel.get_parent("shell") if kernel is not None else {}
        except TypeError:
            parent = kernel.get_parent() if kernel is not None else {}
        cell_id = ((parent or {}).get("metadata") or {}).get("cellId")
        if cell_id:
            return f"cell:{cell_id}"
        import hashlib

        return "prompt:" + hashlib.sha256(prompt.encode()).hexdigest()[:16]

    def store(self, response: GeminiResponse, options: Options) -> None:
        """Keep the (possibly partial) response in ``_gemini`` and ``-o NAME``."""
        self.namespace["_gemini"] = response
        if options.out:
            self.namespace[options.out] = response

    # IPython would otherwise run every {expression} and $name in the magic's line itself, before
    # the magic sees it: a prompt is text, and only _prompt.interpolate fills in {name}.
    @no_var_expand
    @gemini_arguments
    @cell_magic
    def gemini(self, line: str, cell: str) -> None:
        """Send the cell to Gemini and stream the answer into the output.

        Example::

            %%gemini -m gemini-3-flash-preview --search --thinking LOW
            Summarise {topic} for a first-year student, with sources.

        ``{name}`` and ``{name.attr}`` are filled in from the notebook when ``name`` is defined;
        other braces (code, JSON) are sent as written. The merged API response is stored in
        ``_gemini`` (and in ``-o NAME``); ``_gemini.text`` is the answer. The line magic
        ``%gemini`` lists models (``%gemini models``), shows settings (``%gemini config``),
        manages chats (``%gemini chats``, ``%gemini chat NAME [--reset]``), clears the cache
        (``%gemini cache clear``) or asks a one-line question (``%gemini What is a qubit?``).
        """
        options = parse_line(line)
        prompt = cell.strip("\n")
        if not prompt.strip():
            raise UsageError("the cell is empty: write the prompt below the %%gemini line")
        self._ask(options, prompt)

    @no_var_expand
    @line_magic("gemini")  # type: ignore[arg-type]  # IPython types the named form of the decorator as taking Never
    def gemini_line(self, line: str) -> None:
        """``%gemini models | config | chats | chat NAME [--reset] | cache clear | <prompt>``."""
        from . import _commands

        command, _, rest = line.strip().partition(" ")
        handlers = {
            "models": lambda: _commands.models(self),
            "config": lambda: _commands.config(self),
            "chats": lambda: _commands.chats(self),
            "chat": lambda: _commands.chat(self, rest),
            "cache": lambda: _commands.cache(self, rest),
        }
        if command in handlers:
            handlers[command]()
        elif line.strip():
            self._ask(Options(), line.strip())
        else:
            raise UsageError("%gemini needs a prompt or one of: models, config, chats, chat NAME, cache clear")

    def _ask(self, options: Options, prompt: str) -> None:
        from ._api import ask
        from ._display import view_factory

        ask(self, options, prompt, view_factory(self.shell))


def _keep_question_marks(lines: list[str]) -> list[str]:
    """IPython reads a line ending in ``?`` as a help request (``%gemini What is a qubit?`` looked up
    ``qubit``): such a ``%gemini`` line becomes its call before that rule sees it. Cell magics are
    left alone, so a ``%%gemini`` prompt is never touched."""
    if not lines or lines[0].lstrip().startswith("%%"):
        return lines
    out = []
    for line in lines:
        match = _QUESTION_LINE.match(line)
        if match:
            indent, rest, end = match.groups()
            line = f"{indent}get_ipython().run_line_magic('gemini', {rest.strip()!r}){end}"
        out.append(line)
    return out
