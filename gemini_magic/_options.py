"""``%%gemini`` options: the argparse spec (IPython ``magic_arguments``) and their validation.

The spec is one decorator list, :func:`gemini_arguments`, so the magic's ``%%gemini?`` help and the
parser are the same object. :func:`parse_options` turns the magic line into a frozen
:class:`Options`; every bad value becomes a ``UsageError`` (one line, no traceback) *before*
anything is sent.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments

__all__ = [
    "MAX_TIMEOUT",
    "SAFETY_CATEGORIES",
    "SAFETY_THRESHOLDS",
    "Options",
    "base_url_problem",
    "gemini_arguments",
    "leading_options",
    "parse_argv",
    "parse_line",
    "parse_options",
    "split_line",
    "with_preset",
]

F = TypeVar("F", bound=Callable[..., Any])

TOOL_MODES = ("AUTO", "ANY", "NONE", "VALIDATED")  # functionCallingConfig.mode, as the API names them
THINKING_LEVELS = ("MINIMAL", "LOW", "MEDIUM", "HIGH")
IMAGE_SIZES = ("1K", "2K", "4K")
MEDIA_RESOLUTIONS = ("low", "medium", "high")
DEFAULT_VOICE = "Kore"
MAX_CANDIDATES = 8
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
SAFETY_CATEGORIES = {
    "harassment": "HARM_CATEGORY_HARASSMENT",
    "hate": "HARM_CATEGORY_HATE_SPEECH",
    "hate_speech": "HARM_CATEGORY_HATE_SPEECH",
    "sexual": "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "sexually_explicit": "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "dangerous": "HARM_CATEGORY_DANGEROUS_CONTENT",
    "dangerous_content": "HARM_CATEGORY_DANGEROUS_CONTENT",
    "civic": "HARM_CATEGORY_CIVIC_INTEGRITY",
    "civic_integrity": "HARM_CATEGORY_CIVIC_INTEGRITY",
}
SAFETY_THRESHOLDS = {
    "none": "BLOCK_NONE",
    "off": "OFF",
    "low": "BLOCK_LOW_AND_ABOVE",
    "medium": "BLOCK_MEDIUM_AND_ABOVE",
    "high": "BLOCK_ONLY_HIGH",
    "unspecified": "HARM_BLOCK_THRESHOLD_UNSPECIFIED",
}
MAX_CONCURRENCY = 64  # --each workers: more only trips the quota faster
MAX_CONTEXT_CELLS = 50  # --context N: more than this is a whole notebook, not context
MAX_TIMEOUT = 3600.0  # seconds; a larger value overflows the socket layer and never helps
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/@]*$")
_VOICE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")
_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


@dataclass(frozen=True)
class Options:
    """One cell's options after validation; ``None`` means "not given, use the configuration"."""

    model: str | None = None
    system: str | None = None
    thinking_level: str | None = None
    thinking_budget: int | None = None
    show_thoughts: bool = False
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    json_mode: bool = False
    schema: str | None = None
    image: bool = False
    aspect_ratio: str | None = None
    search: bool = False
    maps: bool = False
    url_context: bool = False
    code_execution: bool = False
    safety: tuple[tuple[str, str], ...] = ()
    cached_content: str | None = None
    stream: bool = True
    dry_run: bool = False
    timeout: float | None = None
    base_url: str | None = None
    auth: str | None = None
    out: str | None = None
    interpolate: bool = True
    chat: str | None = None
    attach: tuple[str, ...] = ()
    tools: str | None = None
    run_tools: bool = False
    tool_mode: str | None = None
    cache: bool | None = None
    code: bool = False
    fix: bool = False
    fix_cell: int | None = None  # %gemini fix N: the error of cell N instead of the last one
    context: int = 0
    preset: str | None = None
    each: str | None = None  # --each VAR: the table whose rows fill the template
    into: str | None = None
    concurrency: int = 8
    rpm: float | None = None
    batch: bool = False
    speech: str | None = None  # --speech [VOICE]: a spoken answer (responseModalities AUDIO)
    speakers: tuple[tuple[str, str], ...] = ()  # --speakers "Joe=Kore,Jane=Puck": two voices
    image_size: str | None = None
    media_resolution: str | None = None
    candidates: int | None = None
    count_tokens: bool = False


_SPEC: list[Callable[[F], F]] = [
    argument("-m", "--model", help="Model name, e.g. gemini-3-flash-preview (default: GeminiMagic.model)."),
    argument("--system", metavar="TEXT", help='System instruction, e.g. --system "Be terse."'),
    argument(
        "--thinking",
        metavar="LEVEL|BUDGET",
        help="MINIMAL, LOW, MEDIUM or HIGH (thinkingLevel, Gemini 3) or a token budget "
        "(thinkingBudget, Gemini 2.5; 0 = off, -1 = dynamic).",
    ),
    argument("--show-thoughts", action="store_true", help="Ask for thought summaries (includeThoughts)."),
    argument("-t", "--temperature", type=float, metavar="T", help="Sampling temperature, 0 to 2."),
    argument("--top-p", type=float, metavar="P", help="Nucleus sampling, 0 to 1."),
    argument("--top-k", type=int, metavar="K", help="Top-k sampling, a positive integer."),
    argument("--max-tokens", type=int, metavar="N", help="maxOutputTokens (thinking counts against it)."),
    argument("--seed", type=int, metavar="N", help="Sampling seed."),
    argument("--stop", action="append", metavar="TEXT", help="Stop sequence (repeatable, at most 5)."),
    argument("--json", action="store_true", help="Answer in JSON (responseMimeType application/json)."),
    argument("--schema", metavar="VAR", help="A notebook variable holding a JSON Schema dict (implies --json)."),
    argument("--image", action="store_true", help="Allow image output (responseModalities TEXT, IMAGE)."),
    argument(
        "--aspect-ratio", metavar="W:H", help="Image aspect ratio (implies --image): " + ", ".join(ASPECT_RATIOS) + "."
    ),
    argument("--image-size", metavar="|".join(IMAGE_SIZES), help="Generated image size (implies --image)."),
    argument(
        "--media-resolution",
        metavar="|".join(MEDIA_RESOLUTIONS),
        help="How finely attached images and video are read (mediaResolution; fewer tokens at low).",
    ),
    argument(
        "--speech",
        nargs="?",
        const=DEFAULT_VOICE,
        metavar="VOICE",
        help=f"Answer in speech (a TTS model) with this voice (default {DEFAULT_VOICE}); shown as an audio player.",
    ),
    argument(
        "--speakers", metavar="A=VOICE,B=VOICE", help='Two voices for a dialogue: --speakers "Joe=Kore,Jane=Puck".'
    ),
    argument("--candidates", type=int, metavar="N", help=f"Ask for N answers (candidateCount, 1 to {MAX_CANDIDATES})."),
    argument(
        "--count-tokens",
        action="store_true",
        help="Count the request's tokens (:countTokens) and show them; generate nothing.",
    ),
    argument("--search", action="store_true", help="Ground the answer with Google Search."),
    argument("--maps", action="store_true", help="Ground the answer with Google Maps."),
    argument("--url-context", action="store_true", help="Let the model read URLs given in the prompt."),
    argument("--code-execution", action="store_true", help="Let the model write and run Python code."),
    argument(
        "--safety",
        action="append",
        metavar="CATEGORY=THRESHOLD",
        help="Safety setting (repeatable), e.g. dangerous=none, harassment=high, all=low.",
    ),
    argument(
        "--cached-content",
        metavar="NAME",
        help="Use a context cache: a name from %%gemini context create, or cachedContents/ID.",
    ),
    argument("--no-stream", action="store_true", help="Use :generateContent and show the answer at the end."),
    argument("--dry-run", action="store_true", help="Show the URL, headers (key masked) and body; send nothing."),
    argument("--timeout", type=float, metavar="SECONDS", help="Seconds to wait for each network read."),
    argument("--base-url", metavar="URL", help="API host, e.g. https://api.cometapi.com."),
    argument("--auth", metavar="key|bearer", help="Send the key as x-goog-api-key (key) or Authorization: Bearer."),
    argument("--no-interpolate", action="store_true", help="Send {braces} in the prompt as written."),
    argument(
        "--chat",
        nargs="?",
        const="default",
        metavar="NAME",
        help="Continue the named conversation (default: 'default'); see %%gemini chats.",
    ),
    argument(
        "--attach",
        action="append",
        metavar="X",
        help="Send a variable (image, figure, bytes, DataFrame, text) or a file along (repeatable).",
    ),
    argument("--tools", metavar="f,g", help="Offer these notebook functions to the model as tools."),
    argument("--run-tools", action="store_true", help="Call the functions the model asks for and send back results."),
    argument(
        "--tool-mode",
        metavar="|".join(TOOL_MODES),
        help="functionCallingConfig mode for --tools: AUTO (the model decides), ANY (it must call one), NONE "
        "(it may not), VALIDATED (calls checked against the declarations).",
    ),
    argument("--cache", action="store_true", default=None, help="Answer from / save to the on-disk cache."),
    argument("--no-cache", action="store_false", dest="cache", help="Do not use the cache for this cell."),
    argument("-o", "--out", metavar="NAME", help="Also store the response in this notebook variable."),
    argument(
        "--code",
        action="store_true",
        help="Answer with code only; it goes into a new cell below (not run).",
    ),
    argument(
        "--fix",
        action="store_true",
        help="Explain the last error and fix it; the cell's text adds instructions, the fix goes in a new cell below.",
    ),
    argument(
        "--context",
        type=int,
        metavar="N",
        help="Send the previous N code cells (source and text output) before the prompt.",
    ),
    argument("--preset", metavar="NAME", help="Start from the options saved with %%gemini preset NAME."),
    argument(
        "--each",
        metavar="VAR",
        help="Ask once per row of a DataFrame, Series or list: the cell is a template ({column}, {index}); "
        "the answers go into a table (-o, default _gemini_table).",
    ),
    argument("--into", metavar="COL", help="With --each: add the answers to a copy of the table, as column COL."),
    argument("--concurrency", type=int, metavar="N", help="With --each: requests at once (default 8)."),
    argument("--rpm", type=float, metavar="N", help="With --each or embed: at most N requests per minute."),
    argument(
        "--batch",
        action="store_true",
        help="With --each: send every row as one Batch API job (half the price; results when the job ends).",
    ),
]


def gemini_arguments(func: F) -> F:
    """Apply the whole ``%%gemini`` argument spec (and the magic_arguments marker) to *func*."""
    for decorator in reversed(_SPEC):
        func = decorator(func)
    return cast(F, magic_arguments()(func))


@gemini_arguments
def _spec(line: str) -> None:
    """%%gemini's options, for parsing without a magic object (the magic's help has its own copy)."""


_ACTIONS: list[Any] = cast(Any, _spec).parser._actions


def parse_argv(argv: list[str], presets: Mapping[str, str] | None = None) -> Options:
    """Validate options given as a list of words (``["--max-tokens", "50"]``), ``--preset`` expanded."""
    return parse_options(_spec, with_preset(argv, presets or {}))


def parse_line(line: str, presets: Mapping[str, str] | None = None) -> Options:
    """Parse and validate the magic line; raises ``UsageError`` with one clear sentence."""
    return parse_argv(split_line(line), presets)


def split_line(line: str) -> list[str]:
    """Words as a shell splits them: ``--system "Be terse."`` gives ``Be terse.``."""
    try:
        return shlex.split(line)
    except ValueError as exc:  # an unclosed quote
        raise UsageError(f"could not read the options: {exc}") from None


def with_preset(argv: list[str], presets: Mapping[str, str]) -> list[str]:
    """*argv* after the options of its ``--preset NAME``, so the cell's own options win."""
    names = [argv[i + 1] for i, word in enumerate(argv[:-1]) if word == "--preset"]
    names += [word.split("=", 1)[1] for word in argv if word.startswith("--preset=")]
    if not names:
        return argv
    if len(names) > 1:
        raise UsageError("--preset: give one preset per cell")
    if names[0] not in presets:
        known = ", ".join(sorted(presets)) or "none yet: %gemini preset NAME OPTIONS…"
        raise UsageError(f"--preset: no preset named {names[0]!r} (known: {known})")
    return [*split_line(presets[names[0]]), *argv]


def parse_options(func: Callable[..., Any], line: str | list[str]) -> Options:
    """Parse *line* with the argument spec of *func* (decorated with :func:`gemini_arguments`)."""
    argv = split_line(line) if isinstance(line, str) else line
    return _validate(cast(Any, func).parser.parse_args(argv))


def leading_options(line: str) -> tuple[list[str], str]:
    """Split ``%gemini -m x --search Who won?`` into its options and its prompt.

    Options are read like the cell magic's, up to the first word that is not one (or ``--``); a
    prompt may hold apostrophes and quotes, so only the option part is split like a shell. An
    option with an optional value (``--chat``) takes one only as ``--chat=NAME``.
    """
    takes_value = {flag: action.nargs for action in _ACTIONS for flag in action.option_strings}
    argv: list[str] = []
    pos = 0
    while True:
        match = _WORD.match(line, pos)
        if match is None:
            return argv, ""
        word = match.group(1)
        if word == "--":
            return argv, line[match.end() :].strip()
        flag = word.split("=", 1)[0]
        if word.startswith("--") and flag not in takes_value:
            raise UsageError(f"%gemini: unknown option {flag} (see %%gemini? for the options; -- ends them)")
        if not word.startswith("-") or flag not in takes_value:
            return argv, line[match.start(1) :].strip()
        argv.append(_unquote(word))
        pos = match.end()
        if "=" not in word and takes_value[flag] is None:  # one required value follows
            value = _WORD.match(line, pos)
            if value is None:
                return argv, ""
            argv.append(_unquote(value.group(1)))
            pos = value.end()


_WORD = re.compile(r"""\s*("[^"]*"|'[^']*'|\S+)""")


def _unquote(word: str) -> str:
    return word[1:-1] if len(word) > 1 and word[0] == word[-1] and word[0] in "'\"" else word


def _validate(ns: Any) -> Options:
    thinking_level, thinking_budget = _thinking(ns.thinking)
    if ns.model is not None and not _MODEL_NAME.match(ns.model):
        raise UsageError(f"-m/--model: {ns.model!r} is not a model name (e.g. gemini-3-flash-preview)")
    _check_range("-t/--temperature", ns.temperature, 0.0, 2.0)
    _check_range("--top-p", ns.top_p, 0.0, 1.0)
    _check_positive("--top-k", ns.top_k)
    _check_positive("--max-tokens", ns.max_tokens)
    stop = tuple(ns.stop or ())
    if len(stop) > 5:
        raise UsageError(f"--stop: at most 5 stop sequences are allowed, got {len(stop)}")
    if any(not s for s in stop):
        raise UsageError("--stop: a stop sequence cannot be empty")
    if ns.schema is not None and not _IDENTIFIER.match(ns.schema):
        raise UsageError(f"--schema: {ns.schema!r} is not a variable name")
    if ns.out is not None and not ns.out.isidentifier():
        raise UsageError(f"-o/--out: {ns.out!r} is not a valid variable name")
    if ns.aspect_ratio is not None and ns.aspect_ratio not in ASPECT_RATIOS:
        raise UsageError(f"--aspect-ratio: {ns.aspect_ratio!r} is not one of {', '.join(ASPECT_RATIOS)}")
    if ns.timeout is not None and not 0 < ns.timeout <= MAX_TIMEOUT:
        raise UsageError(f"--timeout: expected a positive number of seconds up to {MAX_TIMEOUT:g}, got {ns.timeout:g}")
    auth = None if ns.auth is None else ns.auth.lower()
    if auth not in (None, "key", "bearer"):
        raise UsageError(f"--auth: expected 'key' or 'bearer', got {ns.auth!r}")
    problem = None if ns.base_url is None else base_url_problem(ns.base_url)
    if problem:
        raise UsageError(f"--base-url: {problem}")
    tool_mode = None if ns.tool_mode is None else ns.tool_mode.upper()
    if tool_mode is not None and tool_mode not in TOOL_MODES:
        raise UsageError(f"--tool-mode: expected one of {', '.join(TOOL_MODES)}, got {ns.tool_mode!r}")
    if ns.context is not None and not 0 <= ns.context <= MAX_CONTEXT_CELLS:
        raise UsageError(f"--context: expected a number of cells from 0 to {MAX_CONTEXT_CELLS}, got {ns.context}")
    if ns.preset is not None and not re.match(r"^[\w.-]+$", ns.preset):
        raise UsageError(f"--preset: {ns.preset!r} is not a preset name (letters, digits, _ . -)")
    if ns.each is not None and not _IDENTIFIER.match(ns.each):
        raise UsageError(f"--each: {ns.each!r} is not a variable name")
    if ns.each is None and (ns.into or ns.concurrency is not None or ns.batch):
        raise UsageError("--into, --concurrency and --batch go with --each VAR")
    if ns.concurrency is not None and not 1 <= ns.concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency: expected 1 to {MAX_CONCURRENCY} requests at once, got {ns.concurrency}")
    if ns.rpm is not None and not (ns.rpm > 0 and math.isfinite(ns.rpm)):
        raise UsageError(f"--rpm: expected a positive number of requests per minute, got {ns.rpm:g}")
    if ns.into is not None and not ns.into.strip():
        raise UsageError("--into: name the column the answers go into")
    if (ns.run_tools or tool_mode) and not ns.tools:
        raise UsageError("--run-tools and --tool-mode need --tools f,g")
    if ns.chat is not None and not re.match(r"^[\w.-]+$", ns.chat):
        raise UsageError(f"--chat: {ns.chat!r} is not a conversation name (letters, digits, _ . -)")
    media = _media_options(ns)
    cached = ns.cached_content  # a short name stays as typed: resolving it needs the network (_caches)
    if cached is not None and not re.match(r"^(cachedContents/)?[\w.-]+$", cached):
        raise UsageError(f"--cached-content: {cached!r} is neither a context name nor cachedContents/ID")
    return Options(
        model=ns.model,
        system=ns.system,
        thinking_level=thinking_level,
        thinking_budget=thinking_budget,
        show_thoughts=ns.show_thoughts,
        temperature=ns.temperature,
        top_p=ns.top_p,
        top_k=ns.top_k,
        max_tokens=ns.max_tokens,
        seed=ns.seed,
        stop=stop,
        json_mode=ns.json or ns.schema is not None,
        schema=ns.schema,
        image=ns.image or ns.aspect_ratio is not None or ns.image_size is not None,
        aspect_ratio=ns.aspect_ratio,
        search=ns.search,
        maps=ns.maps,
        url_context=ns.url_context,
        code_execution=ns.code_execution,
        safety=_safety(ns.safety or ()),
        cached_content=cached,
        stream=not ns.no_stream,
        dry_run=ns.dry_run,
        timeout=ns.timeout,
        base_url=ns.base_url,
        auth=auth,
        out=ns.out,
        interpolate=not ns.no_interpolate,
        chat=ns.chat,
        attach=tuple(ns.attach or ()),
        tools=ns.tools,
        run_tools=ns.run_tools,
        tool_mode=tool_mode,
        cache=ns.cache,
        code=ns.code or ns.fix,
        fix=ns.fix,
        context=ns.context or 0,
        preset=ns.preset,
        each=ns.each,
        into=ns.into,
        concurrency=8 if ns.concurrency is None else ns.concurrency,
        rpm=ns.rpm,
        batch=ns.batch,
        count_tokens=ns.count_tokens,
        **media,
    )


def _media_options(ns: Any) -> dict[str, Any]:
    """--image-size, --media-resolution, --speech/--speakers and --candidates, checked and normalised."""
    size = None if ns.image_size is None else ns.image_size.upper()
    if size is not None and size not in IMAGE_SIZES:
        raise UsageError(f"--image-size: expected one of {', '.join(IMAGE_SIZES)}, got {ns.image_size!r}")
    resolution = None if ns.media_resolution is None else ns.media_resolution.lower()
    if resolution is not None and resolution not in MEDIA_RESOLUTIONS:
        raise UsageError(
            f"--media-resolution: expected one of {', '.join(MEDIA_RESOLUTIONS)}, got {ns.media_resolution!r}"
        )
    if ns.candidates is not None and not 1 <= ns.candidates <= MAX_CANDIDATES:
        raise UsageError(f"--candidates: expected 1 to {MAX_CANDIDATES} answers, got {ns.candidates}")
    if ns.speech is not None and not _VOICE.match(ns.speech):
        raise UsageError(f"--speech: {ns.speech!r} is not a voice name (e.g. Kore, Puck)")
    speakers = _speakers(ns.speakers) if ns.speakers is not None else ()
    if ns.speech is not None and speakers:
        raise UsageError("--speech and --speakers: give one voice or two speakers, not both")
    if (ns.speech is not None or speakers) and (ns.image or ns.aspect_ratio or ns.image_size):
        raise UsageError("--speech/--speakers and image output cannot be combined: a speech model answers in audio")
    return {
        "speech": DEFAULT_VOICE if speakers else ns.speech,
        "speakers": speakers,
        "image_size": size,
        "media_resolution": resolution,
        "candidates": ns.candidates,
    }


def _speakers(raw: str) -> tuple[tuple[str, str], ...]:
    """``"Joe=Kore,Jane=Puck"`` → (("Joe", "Kore"), ("Jane", "Puck")); the API takes exactly two."""
    pairs: list[tuple[str, str]] = []
    for item in raw.split(","):
        speaker, sep, voice = (part.strip() for part in item.partition("="))
        if not sep or not speaker or not _VOICE.match(voice):
            raise UsageError(f'--speakers: expected SPEAKER=VOICE pairs like "Joe=Kore,Jane=Puck", got {raw!r}')
        pairs.append((speaker, voice))
    if len(pairs) != 2 or pairs[0][0] == pairs[1][0]:
        raise UsageError(f"--speakers: name exactly two different speakers, got {raw!r}")
    return tuple(pairs)


def base_url_problem(url: str) -> str | None:
    """What makes *url* unusable as the API host, as "'URL' is …" for a one-line UsageError; or None.

    Checked before anything is sent: ``requests`` would raise ValueError or LocationParseError
    deep inside, with the request headers (the key) in the frames of the traceback. The URL is
    quoted without user info, query or fragment, where a pasted key would sit.
    """
    shown = repr(re.sub(r"//[^/]*@", "//…@", re.split(r"[?#]", url, maxsplit=1)[0])[:100])
    if any(c.isspace() or not c.isprintable() for c in url):
        return f"{shown} contains spaces or control characters"
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [IPv6 address
        return f"{shown} is not a URL"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if parts.scheme not in ("http", "https"):
        return f"{shown} is not an http(s) URL"
    if "@" in parts.netloc:
        return f"{shown} holds a user name or password; the key belongs in GEMINI_API_KEY"
    if not parts.hostname:
        return f"{shown} has no host name"
    if port == 0:
        return f"{shown} has a port that is not a number from 1 to 65535"
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        return f"{shown} has a query or fragment; give only scheme, host, port and path"
    return None


def _thinking(value: str | None) -> tuple[str | None, int | None]:
    if value is None:
        return None, None
    if value.upper() in THINKING_LEVELS:
        return value.upper(), None
    try:
        budget = int(value)
    except ValueError:
        raise UsageError(
            f"--thinking: {value!r} is neither a level ({', '.join(THINKING_LEVELS)}) nor a token budget"
        ) from None
    if budget < -1:
        raise UsageError(f"--thinking: a budget is a token count, 0 (off) or -1 (dynamic), got {budget}")
    return None, budget


def _check_range(name: str, value: float | None, low: float, high: float) -> None:
    if value is not None and not (low <= value <= high):
        raise UsageError(f"{name}: expected a number from {low:g} to {high:g}, got {value:g}")


def _check_positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise UsageError(f"{name}: expected a positive integer, got {value}")


def _safety(items: tuple[str, ...] | list[str]) -> tuple[tuple[str, str], ...]:
    settings: dict[str, str] = {}
    for item in items:
        name, sep, level = item.partition("=")
        if not sep:
            raise UsageError(f"--safety: expected CATEGORY=THRESHOLD (e.g. dangerous=none), got {item!r}")
        threshold = _lookup(level, SAFETY_THRESHOLDS, "", "threshold")
        if name.strip().lower() == "all":
            for category in dict.fromkeys(SAFETY_CATEGORIES.values()):
                settings[category] = threshold
        else:
            settings[_lookup(name, SAFETY_CATEGORIES, "HARM_CATEGORY_", "category")] = threshold
    return tuple(settings.items())


def _lookup(raw: str, table: dict[str, str], prefix: str, what: str) -> str:
    key = raw.strip()
    if key.lower() in table:
        return table[key.lower()]
    upper = key.upper()
    full_names = set(table.values())
    if upper in full_names:
        return upper
    if prefix and prefix + upper in full_names:
        return prefix + upper
    choices = ", ".join(sorted({k for k in table if "_" not in k} | {"all"} if prefix else set(table)))
    raise UsageError(f"--safety: unknown {what} {raw!r} (try one of: {choices})")
