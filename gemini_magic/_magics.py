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
from traitlets import Bool, Dict, Enum, Float, Int, Unicode, observe, validate

from ._options import Options, gemini_arguments, leading_options, parse_argv, parse_line
from ._sanitize import policy
from ._settings import DEFAULTS, Settings, resolve_settings

if TYPE_CHECKING:
    from ._client import GeminiClient
    from ._conversation import ChatStore
    from ._response import GeminiResponse

__all__ = ["GeminiMagic"]

# a "%gemini ... ?" line, which IPython's help syntax would take (see _keep_question_marks)
_QUESTION_LINE = re.compile(r"([ \t]*)%gemini([ \t][^\n]*\?[ \t]*)(\r?\n?)\Z")


def _setting(trait: Any, name: str, help: str, *args: Any) -> Any:
    """A configurable traitlet whose default is the one written in ``_settings.DEFAULTS``."""
    return trait(*args, DEFAULTS[name], help=help).tag(config=True)


@magics_class
class GeminiMagic(Magics):
    """Ask Google's Gemini models from a notebook cell."""

    model = _setting(Unicode, "model", "Model used when a cell gives no -m/--model.")
    speech_model = _setting(Unicode, "speech_model", "Model used for --speech/--speakers when a cell gives no -m.")
    base_url = _setting(
        Unicode,
        "base_url",
        "API host. Environment: GEMINI_BASE_URL; with only COMETAPI_KEY set, https://api.cometapi.com.",
    )
    api_key_env = _setting(
        Unicode,
        "api_key_env",
        "Read the key from this environment variable instead of GEMINI_API_KEY/GOOGLE_API_KEY/COMETAPI_KEY.",
    )
    auth = _setting(Enum, "auth", "Send the key as x-goog-api-key (key) or Authorization: Bearer.", ["key", "bearer"])
    timeout = _setting(Float, "timeout", "Seconds to wait for each network read (at most 3600).")
    max_retries = _setting(Int, "max_retries", "Retries for 429/500/502/503/504 answers, with backoff.")
    max_response_mb = _setting(
        Int, "max_response_mb", "Largest response read, in MB (past it: an error, the part kept)."
    )
    cache = _setting(Bool, "cache", "Answer identical requests from the on-disk cache (like --cache on every cell).")
    cache_dir = _setting(Unicode, "cache_dir", "Folder of the response cache (relative to the notebook).")
    max_tool_rounds = _setting(Int, "max_tool_rounds", "Most rounds of function calls --run-tools answers in one cell.")
    log = _setting(Bool, "log", "Append every exchange to the SQLite log (%gemini log shows it).")
    log_path = _setting(
        Unicode, "log_path", "Where the log lives (default: gemini-magic/log.db in the user's data folder)."
    )
    max_history_turns = _setting(
        Int, "max_history_turns", "Most earlier turns a --chat call sends (0 = all); all are kept."
    )
    presets = Dict(
        {}, help='Saved option sets by name, e.g. {"brief": "-t 0 --max-tokens 200"}; use with --preset NAME.'
    ).tag(config=True)
    remote_images = _setting(
        Bool,
        "remote_images",
        "Load images that model text links to (![alt](https://…)). Off by default: such a link can carry "
        "notebook data to any host, so it is shown as a link instead. Images the API returns always show.",
    )

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._client: GeminiClient | None = None  # made on first use: loading stays fast
        self._chats: ChatStore | None = None
        if shell is not None:
            from . import _context

            if _keep_question_marks not in shell.input_transformers_cleanup:
                shell.input_transformers_cleanup.append(_keep_question_marks)
            _context.install(shell)  # records failing cells for {Err[n]} and %gemini fix
        policy.remote_images = self.remote_images

    @observe("remote_images")
    def _remote_images_changed(self, change: Any) -> None:
        policy.remote_images = bool(change["new"])

    @validate("timeout")
    def _check_timeout(self, proposal: Any) -> float:
        if proposal["value"] <= 0:
            raise ValueError("GeminiMagic.timeout must be a positive number of seconds")
        return float(proposal["value"])

    @validate("max_retries", "max_tool_rounds", "max_history_turns")
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

        ``{name}`` and ``{name.attr}`` are filled in from the notebook when ``name`` is defined, and
        ``{In[3]}``, ``{Out[3]}``, ``{Err[3]}`` (or ``{In[-1]}``, the cell before) from the cells; other
        braces (code, JSON) are sent as written. The merged API response is stored in ``_gemini``
        (and in ``-o NAME``); ``_gemini.text`` is the answer. ``%gemini help`` lists the line magic's
        subcommands; ``%gemini [OPTIONS] PROMPT`` asks a one-line question.
        """
        options = parse_line(line, self.presets)
        prompt = cell.strip("\n")
        if not prompt.strip() and not options.fix:
            raise UsageError("the cell is empty: write the prompt below the %%gemini line")
        self._ask(options, prompt)

    @no_var_expand
    @line_magic("gemini")  # type: ignore[arg-type]  # IPython types the named form of the decorator as taking Never
    def gemini_line(self, line: str) -> None:
        """Ask a one-line question, or run a subcommand (``%gemini help`` lists them).

        ``%gemini [OPTIONS] PROMPT`` takes ``%%gemini``'s options, e.g.
        ``%gemini -m gemini-2.5-flash --search Who won the match?``. Subcommands, each only in this
        exact form (anything else is a prompt): ``models``, ``config``, ``chats``, ``chat NAME
        [--reset]``, ``fix [N]``, ``preset NAME OPTIONS…``, ``presets``, ``log [-n N] [--search
        WORDS] [--export FILE.jsonl]``, ``cache clear``, ``help``.
        """
        from . import _commands

        words = line.split()
        command = words[0] if words else ""
        handler = _commands.subcommand(self, line.strip()) if command in _commands.SUBCOMMANDS else None
        if handler is not None:
            handler()
            return
        argv, prompt = leading_options(line)
        if not prompt:
            raise UsageError("%gemini needs a prompt (or a subcommand: %gemini help lists them)")
        self._ask(parse_argv(argv, self.presets), prompt)

    def _ask(self, options: Options, prompt: str) -> None:
        from ._api import ask
        from ._display import view_factory

        ask(self, options, prompt, view_factory(self.shell))

    def fix(self, cell: int | None) -> None:
        """``%gemini fix [N]``: explain the last error (or cell N's) and put the fix in a new cell below."""
        self._ask(Options(fix=True, fix_cell=cell), "")

    def place_code(self, code: str) -> None:
        """Put generated code into a new cell below (JupyterLab, Notebook) or the next prompt (terminal)."""
        if self.shell is not None:
            self.shell.set_next_input(code, replace=False)


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
