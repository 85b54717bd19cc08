"""The public Python API, and the one path every call takes (the magic included).

:func:`ask` runs one call for a *host* — the ``%%gemini`` magic, or :func:`generate`'s script host
— which provides the configuration, the connection pool, the conversations, the namespace names
are looked up in, and where the response is stored. So a script gets exactly the magic's settings,
precedence, cache and retries, and the magic is a thin layer over the same code.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from IPython.core.error import UsageError

from ._options import Options, parse_argv
from ._response import GeminiResponse
from ._settings import Settings

if TYPE_CHECKING:
    from ._client import GeminiClient
    from ._conversation import ChatStore
    from ._display import ViewFactory
    from ._magics import GeminiMagic

__all__ = ["CODE_INSTRUCTION", "Host", "ask", "compose_prompt", "generate", "option_argv", "recent_turns"]


class Host(Protocol):
    """What a call needs from whoever runs it."""

    @property
    def client(self) -> GeminiClient:
        """The pooled HTTP client."""
        ...

    @property
    def chats(self) -> ChatStore:
        """The named conversations ``--chat`` continues."""
        ...

    @property
    def namespace(self) -> Mapping[str, Any]:
        """Where ``{name}``, ``--attach``, ``--tools`` and ``--schema`` are looked up."""
        ...

    def settings(self, options: Options, *, need_key: bool = True) -> Settings:
        """The effective settings for these options."""
        ...

    def cell_key(self, prompt: str) -> str:
        """What identifies this call's turn in a conversation (re-running replaces it)."""
        ...

    def store(self, response: GeminiResponse, options: Options) -> None:
        """Keep the response (also a partial one) where the caller finds it."""
        ...

    @property
    def shell(self) -> Any:
        """The IPython shell whose cells ``--fix``, ``--context`` and ``{In[n]}`` read (None in a script)."""
        ...

    def place_code(self, code: str) -> None:
        """Offer the code of a ``--code``/``--fix`` answer as the next cell."""
        ...


def ask(host: Host, options: Options, prompt: str, new_view: ViewFactory) -> GeminiResponse | None:
    """One call from validated options to the stored response (None for ``--dry-run``)."""
    from ._prepare import prepare, resolve

    if options.each is not None:  # a table: one request per row (or one Batch API job)
        if options.count_tokens:
            raise UsageError("--count-tokens counts one request: it cannot be combined with --each")
        data = resolve(host.namespace, options.each, "--each")
        if options.batch:
            from ._batch import run_batch

            run_batch(host, options, prompt, data, new_view)
        else:
            from ._rows import run_each

            run_each(host, options, prompt, data, new_view)
        return None
    settings = host.settings(options)
    prompt = compose_prompt(host, options, prompt)
    conversation = host.chats.get_or_create(options.chat) if options.chat else None
    key = host.cell_key(prompt)
    history = conversation.history(key) if conversation else []
    sent = recent_turns(history, settings.max_history_turns)
    from ._uploads import progress_view

    with progress_view(new_view):  # an upload bar of the call's own kind (none for generate())
        call = prepare(options, prompt, host.namespace, sent, settings, host.client)
    if options.count_tokens:  # the same request to :countTokens; nothing is generated
        from ._count import count_tokens

        return count_tokens(host, call, new_view)
    if options.dry_run:
        from ._bundles import dry_run_bundle
        from ._display import show

        notes = []
        if len(sent) < len(history):
            notes.append(f"chat: the last {len(sent)} of {len(history)} earlier turns (GeminiMagic.max_history_turns)")
        cache = call.cache
        if cache is not None:
            hit = cache.get(cache.key(call.url, call.body())) is not None
            notes.append(f"cache: {'hit' if hit else 'miss'} in {settings.cache_dir}")
        show(dry_run_bundle(call.url, settings.auth_header(), settings.masked_key(), call.body(), "; ".join(notes)))
        return None
    from ._exchange import exchange

    response, turns = exchange(call, host.client, new_view, lambda r: host.store(r, options))
    if conversation is not None:
        conversation.record(key, turns)
    if options.code or options.fix:
        code = response.code or (response.text.strip() if options.code else "")  # told: code only
        if code:
            host.place_code(code)
    return response


_CELL_FIELD = re.compile(r"\{(?:In|Out|Err)\[")

#: Added to the prompt by ``--code`` (visible in ``--dry-run``).
CODE_INSTRUCTION = (
    "Answer with code only: one fenced code block (the language after the opening fence), with any "
    "explanation as brief comments inside the code, and nothing outside the block."
)


def compose_prompt(host: Host, options: Options, text: str) -> str:
    """The prompt as sent: the user's text with ``{In[n]}``/``{name}`` filled in, then the error to
    fix, the context cells and the code-only instruction the options ask for."""
    from ._prompt import interpolate

    shell = host.shell
    if options.interpolate:  # {name} first: a cell put in by {In[n]} is sent as written
        text = interpolate(text, host.namespace)
        if shell is not None and _CELL_FIELD.search(text):
            from . import _context

            text = _context.expand_cells(text, shell)
    if options.fix or options.context:
        from . import _context
    if options.fix:
        if shell is None:
            raise UsageError("--fix needs IPython: it reads the failing cell")
        text = _context.fix_prompt(shell, options.fix_cell, text)
    if options.context:
        if shell is None:
            raise UsageError("--context needs IPython: it reads the previous cells")
        cells = _context.context_text(shell, options.context)
        text = f"{cells}\n\n{text}" if cells else text
    if options.code and not options.fix:
        text = f"{text}\n\n{CODE_INSTRUCTION}"
    return text


def recent_turns(history: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The last *limit* turns of a chat (all for 0), starting at a user's own turn: the API wants
    the contents to open with one, and a function call must not lose its response."""
    if not limit or len(history) <= limit:
        return history
    start = len(history) - limit
    while start < len(history) and not _opens_exchange(history[start]):
        start += 1
    return history[start:]


def _opens_exchange(turn: dict[str, Any]) -> bool:
    parts = turn.get("parts") or []
    return turn.get("role") == "user" and not any("functionResponse" in p for p in parts)


class _ScriptHost:
    """:func:`generate`'s host: the loaded magic's configuration (or the defaults), its own names."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace
        self._magic = _magic()

    @property
    def client(self) -> GeminiClient:
        """The magic's pooled client: a notebook's code cells and ``%%gemini`` share connections."""
        return self._magic.client

    @property
    def chats(self) -> ChatStore:
        """The magic's conversations: ``generate(chat="x")`` continues ``%%gemini --chat x``."""
        return self._magic.chats

    def settings(self, options: Options, *, need_key: bool = True) -> Settings:
        """The magic's settings: ``%config GeminiMagic.…`` applies to code too."""
        return self._magic.settings(options, need_key=need_key)

    def cell_key(self, prompt: str) -> str:
        """Code has no cell id: the prompt identifies the turn."""
        return "prompt:" + hashlib.sha256(prompt.encode()).hexdigest()[:16]

    def store(self, response: GeminiResponse, options: Options) -> None:
        """A script keeps what :func:`generate` returns; nothing goes into a namespace."""

    @property
    def shell(self) -> Any:
        """The running IPython, if any: ``context=N`` and ``fix=True`` read its cells."""
        return _shell()

    def place_code(self, code: str) -> None:
        """Code keeps the answer: ``response.code`` holds the code blocks."""


_standalone: GeminiMagic | None = None


def _magic() -> GeminiMagic:
    """The ``GeminiMagic`` of the running IPython when the extension is loaded, else one of our own."""
    global _standalone
    from IPython import get_ipython

    from ._magics import GeminiMagic

    shell = get_ipython()
    loaded = shell.magics_manager.registry.get("GeminiMagic") if shell is not None else None
    if isinstance(loaded, GeminiMagic):
        return loaded
    if _standalone is None:
        _standalone = GeminiMagic(shell=None)
    return _standalone


_OBJECTS = ("attach", "tools", "schema")


def generate(prompt: str, *, display: bool = False, **options: Any) -> GeminiResponse:
    """Ask Gemini from Python code and return the :class:`GeminiResponse`; shows nothing unless
    *display* is true.

    Options are the ``%%gemini`` options as keywords (``--max-tokens 50`` is ``max_tokens=50``, a
    flag is ``True``), with the magic's settings, precedence, cache and retries. ``attach`` takes
    objects or file paths, ``tools`` functions, ``schema`` a JSON Schema dict or a pydantic class::

        from gemini_magic import generate
        answer = generate("Name three moons of Jupiter as JSON", json=True, temperature=0)
        answer.parsed

    ``count_tokens=True`` sends the same request to ``:countTokens`` and returns its answer (a
    ``TokenCount``: ``.total``, ``.cached``, ``.details``) instead; nothing is generated.

    Errors are the magic's: :class:`UsageError` for a bad option, a :class:`GeminiError` subclass
    for API and network failures, with the partial response in ``error.response``.
    """
    from ._display import SilentView, view_factory

    namespace: dict[str, Any] = {}
    parsed = parse_argv(option_argv(options, namespace))
    if parsed.out or parsed.dry_run:
        raise UsageError("generate() returns the response: out= and dry_run= are the magic's options")
    if "interpolate" not in options:
        parsed = replace(parsed, interpolate=False)  # a script formats its own strings
    new_view = view_factory(_shell()) if display else SilentView
    response = ask(_ScriptHost(namespace), parsed, prompt, new_view)
    assert response is not None  # only a dry run returns None
    return response


def option_argv(options: Mapping[str, Any], namespace: dict[str, Any]) -> list[str]:
    """Keyword options as the magic's argv (``max_tokens=50`` is ``--max-tokens 50``); objects
    (``attach``, ``tools``, ``schema``) are put into *namespace*, where the options look them up."""
    argv: list[str] = []
    for name, value in options.items():
        flag = f"--{name.replace('_', '-')}"
        values = list(value) if isinstance(value, list | tuple) and name != "schema" else [value]
        if name in _OBJECTS:
            argv += _object_args(name, values, namespace)
        elif value is True:
            argv.append(flag)
        elif value is False and name in ("cache", "interpolate", "stream"):
            argv.append(f"--no-{name}")
        elif value is not None and value is not False:
            argv += [a for item in values for a in (flag, str(item))]
    return argv


def _object_args(name: str, values: list[Any], namespace: dict[str, Any]) -> list[str]:
    """``attach``/``tools``/``schema`` objects, put where the option's lookup finds them."""
    if name == "tools":
        if not all(callable(v) and getattr(v, "__name__", "").isidentifier() for v in values):
            raise UsageError("tools= takes functions, e.g. tools=[get_weather]")
        namespace.update((v.__name__, v) for v in values)
        return ["--tools", ",".join(v.__name__ for v in values)]
    args = []
    for index, value in enumerate(values):
        if name == "attach" and isinstance(value, str):
            args += ["--attach", value]  # a path (a string to send as text is the prompt's job)
            continue
        namespace[f"_{name}{index}"] = value
        args += [f"--{name}", f"_{name}{index}"]
    return args


def _shell() -> Any:
    from IPython import get_ipython

    return get_ipython()
