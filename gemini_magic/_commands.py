"""The ``%gemini`` line magic's subcommands, each recognised only in its exact grammar.

``%gemini chat about cats`` is a prompt, not the ``chat`` command: :func:`subcommand` returns a
handler only when the whole line fits. Each builds its output with :mod:`._bundles` and shows it
with :func:`._display.show`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING

from IPython.core.error import UsageError

from ._bundles import table_bundle, text_bundle, transcript_bundle
from ._display import show
from ._options import Options, parse_argv, split_line

if TYPE_CHECKING:
    from ._magics import GeminiMagic

__all__ = ["HELP", "SUBCOMMANDS", "cache", "chat", "chats", "config", "help_", "models", "subcommand"]

#: Each subcommand's grammar and what it does, as ``%gemini help`` lists them.
HELP = (
    ("models", "every model that can generate content (also in _gemini_models)"),
    ("config", "the effective settings and where each came from"),
    ("chats", "the conversations of this session"),
    ("chat NAME [--reset]", "a conversation's transcript; --reset forgets it"),
    ("fix [N]", "explain the last error (or cell N's) and put the fixed code in a new cell below"),
    ("preset NAME OPTIONS…", "save options under a name; use them with --preset NAME"),
    ("presets", "the saved presets"),
    ("log [-n N] [--search WORDS] [--export FILE.jsonl]", "recent exchanges from the log"),
    ("embed EXPR [-o NAME] [-m MODEL] [--dimensions N] [--task-type T]", "embed a column or list of texts"),
    ("batch NAME [--cancel]", "reattach to a Batch API job (after a restart), or cancel it"),
    ("batches", "the Batch API jobs of this key"),
    ("files", "the files uploaded through the Files API (all pages)"),
    ("files delete NAME|--all", "delete an uploaded file, or all of them"),
    ("context create NAME --attach X [--system TEXT] [--ttl 1h] [-m MODEL]", "make a context cache"),
    ("contexts", "the context caches (name, model, expiry, tokens)"),
    ("context delete NAME", "delete a context cache"),
    ("cache clear", "empty the response cache"),
    ("help", "this list"),
    ("[OPTIONS] PROMPT", "ask a one-line question, with %%gemini's options"),
)
SUBCOMMANDS = frozenset(entry[0].split()[0] for entry in HELP if not entry[0].startswith("["))
_NAME = re.compile(r"^[\w.-]+$")
_EXPRESSION = re.compile(r"""^[A-Za-z_][\w.]*(\[["'][^"']+["']\])?$""")  # df.text, df["text"], texts
_NAME_OR_FILE = re.compile(r"^(--all|(files/)?[\w.-]+)$")  # an uploaded file, or --all
_NAME_OR_CACHE = re.compile(r"^(cachedContents/)?[\w.-]+$")
_NAME_OR_PATH = re.compile(r"^(batches/)?[\w.-]+$")  # a job: "batches/abc123" or "abc123"


def subcommand(magic: GeminiMagic, line: str) -> Callable[[], None] | None:
    """The handler for *line* when it is a subcommand in its exact grammar, else None (a prompt)."""
    words = line.split()
    command, rest = words[0], words[1:]
    exact: dict[str, Callable[[], None]] = {
        "models": lambda: models(magic),
        "config": lambda: config(magic),
        "chats": lambda: chats(magic),
        "presets": lambda: presets(magic),
        "help": help_,
        "batches": lambda: _batches(magic, ""),
        "files": lambda: _files(magic, ""),
        "contexts": lambda: _contexts(magic, ""),
    }
    if not rest:
        if command in exact:
            return exact[command]
        if command == "fix":
            return lambda: magic.fix(None)
        if command == "log":
            return lambda: _log_command(magic, "")
        return None
    if command == "chat" and _NAME.match(rest[0]) and rest[1:] in ([], ["--reset"]):
        return lambda: chat(magic, " ".join(rest))
    if command == "cache" and rest == ["clear"]:
        return lambda: cache(magic, "clear")
    if command == "fix" and len(rest) == 1 and re.fullmatch(r"-?\d+", rest[0]):
        return lambda: magic.fix(int(rest[0]))
    if command == "preset" and len(rest) > 1 and _NAME.match(rest[0]) and rest[1].startswith("-"):
        return lambda: preset(magic, rest[0], line.split(None, 2)[2])
    if command == "log" and rest[0].startswith("-"):
        return lambda: _log_command(magic, line.split(None, 1)[1])
    if command == "embed" and _EXPRESSION.match(rest[0]) and (len(rest) == 1 or rest[1].startswith("-")):
        return lambda: _embed(magic, line.split(None, 1)[1])
    if command == "batch" and _NAME_OR_PATH.match(rest[0]) and rest[1:] in ([], ["--cancel"]):
        return lambda: _batch(magic, line.split(None, 1)[1])
    if command == "files" and rest[0] == "delete" and len(rest) == 2 and _NAME_OR_FILE.match(rest[1]):
        return lambda: _files(magic, line.split(None, 1)[1])
    context_delete = rest[0] == "delete" and len(rest) == 2
    context_create = rest[0] == "create" and len(rest) > 2 and rest[2].startswith("-")
    if command == "context" and (context_delete or context_create) and _NAME_OR_CACHE.match(rest[1]):
        return lambda: _contexts(magic, line.split(None, 1)[1])
    return None


def help_() -> None:
    """``%gemini help``: the subcommands."""
    show(table_bundle(("%gemini …", "does"), HELP, "%%gemini? lists the options"))


def preset(magic: GeminiMagic, name: str, options: str) -> None:
    """``%gemini preset NAME OPTIONS…``: check the options, then keep them under *name*."""
    argv = split_line(options)
    if any(word == "--preset" or word.startswith("--preset=") for word in argv):
        raise UsageError("%gemini preset: a preset cannot name another preset")
    parse_argv(argv)  # a bad option is refused now, not when the preset is used
    magic.presets = {**magic.presets, name: options}
    show(text_bundle(f"Preset {name!r} saved: use it with %%gemini --preset {name}"))


def presets(magic: GeminiMagic) -> None:
    """``%gemini presets``: the saved option sets."""
    if not magic.presets:
        show(text_bundle("No presets yet: %gemini preset NAME OPTIONS… (or %config GeminiMagic.presets = {...})."))
        return
    show(table_bundle(("preset", "options"), sorted(magic.presets.items())))


def _embed(magic: GeminiMagic, rest: str) -> None:
    from ._embed import embed_command

    embed_command(magic, rest)


def _batch(magic: GeminiMagic, rest: str) -> None:
    from ._batch import batch_command

    batch_command(magic, rest)


def _batches(magic: GeminiMagic, rest: str) -> None:
    from ._batch import batches_command

    batches_command(magic, rest)


def _files(magic: GeminiMagic, rest: str) -> None:
    from ._uploads import files_command

    files_command(magic, rest)


def _contexts(magic: GeminiMagic, rest: str) -> None:
    from ._caches import contexts_command

    contexts_command(magic, rest)


def _log_command(magic: GeminiMagic, rest: str) -> None:
    from ._log import log_command

    log_command(magic, rest)


def models(magic: GeminiMagic) -> None:
    """Every model that can generate content (also kept in ``_gemini_models``)."""
    from ._model_list import list_models, models_bundle

    found = list_models(magic.client, magic.settings(Options()))
    magic.namespace["_gemini_models"] = found
    show(models_bundle(found))


def config(magic: GeminiMagic) -> None:
    """Effective settings and where each one came from; the key only described."""
    settings = magic.settings(Options(), need_key=False)
    shown = {
        "model": settings.model,
        "base_url": settings.base_url,
        "api_key": settings.masked_key(),
        "auth": settings.auth,
        "timeout": f"{settings.timeout:g} s",
        "max_retries": str(settings.max_retries),
        "max_response_mb": f"{settings.max_response_bytes / (1 << 20):g} MB",
        "cache": str(settings.cache),
        "cache_dir": settings.cache_dir,
        "max_tool_rounds": str(settings.max_tool_rounds),
        "remote_images": str(settings.remote_images),
    }
    rows = [(name, value, settings.sources[name]) for name, value in shown.items()]
    show(table_bundle(("setting", "value", "from"), rows))


def chats(magic: GeminiMagic) -> None:
    """The conversations of this session, with their sizes."""
    if not magic.chats:
        show(text_bundle("No conversations yet: add --chat (or --chat NAME) to a %%gemini cell."))
        return
    lines = [f"{name}: {len(c.exchanges)} exchanges, {len(c.turns())} turns" for name, c in magic.chats.items()]
    show(text_bundle("\n".join(lines)))


def chat(magic: GeminiMagic, rest: str) -> None:
    """``%gemini chat NAME``: the transcript; ``--reset`` forgets it."""
    words = shlex.split(rest)
    names = [w for w in words if not w.startswith("-")]
    flags = {w for w in words if w.startswith("-")} - {"--reset"}
    if len(names) != 1 or flags:
        raise UsageError("usage: %gemini chat NAME [--reset]")
    name = names[0]
    if name not in magic.chats:
        raise UsageError(f"no conversation named {name!r} (see %gemini chats)")
    if "--reset" in words:
        del magic.chats[name]
        show(text_bundle(f"Conversation {name!r} cleared."))
        return
    show(transcript_bundle(magic.chats[name].turns()))


def cache(magic: GeminiMagic, rest: str) -> None:
    """``%gemini cache clear``: empty the response cache."""
    if rest.strip() != "clear":
        raise UsageError("usage: %gemini cache clear")
    from ._cache import ResponseCache

    folder = magic.settings(Options(), need_key=False).cache_dir
    removed = ResponseCache(folder).clear()
    show(text_bundle(f"Removed {removed} cached responses from {folder}."))
