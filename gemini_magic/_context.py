"""What the notebook's own cells tell the model: ``%gemini fix``, ``{In[n]}``/``{Out[n]}``/``{Err[n]}``
and ``--context N``.

Errors are recorded by a ``post_run_cell`` event handler (:func:`install` on load, :func:`uninstall`
on unload), so how an error looks is never changed: no ``set_custom_exc``. Each record keeps the
cell's source and its traceback trimmed to the notebook's own frames (library and gemini-magic
frames are left out, so a pandas ``KeyError`` is the user's line, not forty lines of pandas).

Nothing here sends the namespace: a fix describes only the variables its cell names, skips any
that look secret (:func:`is_secret`), and every text that leaves this module passes
:func:`redact`, which blanks the values of secret-named environment variables and common API key
shapes. Every piece has a size cap.
"""

from __future__ import annotations

import os
import re
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from IPython.core.error import UsageError

from ._prompt import _one_line as one_line

__all__ = [
    "SECRET_NAME",
    "CellError",
    "context_text",
    "expand_cells",
    "fix_prompt",
    "history",
    "install",
    "is_secret",
    "notebook_secrets",
    "redact",
    "uninstall",
]

MAX_ERRORS = 100  # recorded failing cells kept per shell (oldest dropped)
SOURCE_LIMIT = 20_000  # characters of one cell's source ({In[n]}, the cell to fix)
MESSAGE_LIMIT = 1_000  # characters of an exception message
TRACEBACK_LIMIT = 4_000  # characters of one trimmed traceback (the end is kept)
OUTPUT_LIMIT = 2_000  # characters of one cell's text output ({Out[n]}, --context)
CONTEXT_SOURCE_LIMIT = 4_000  # characters of one cell's source under --context
CONTEXT_LIMIT = 20_000  # characters of the whole --context block
REPR_LIMIT = 200  # characters of one variable's repr
ROWS_LIMIT = 1_500  # characters of a table's first rows
MAX_VARIABLES = 20  # variables described for a fix
VARIABLES_LIMIT = 6_000  # characters of the whole variable description
MAX_CHAINED = 3  # exceptions of a chain (raise ... from ...) shown

#: Names that look like they hold a credential; such variables are never described.
SECRET_NAME = re.compile(r"(?i)key|token|secret|passw|pwd|credential|auth(?!or)|cookie|session")
# Well-known API key shapes (Google, OpenAI/Anthropic, GitHub, Slack, AWS), blanked wherever they appear.
_KEY_SHAPES = re.compile(r"AIza[\w-]{30,}|sk-[\w-]{20,}|gh[pousr]_\w{30,}|xox[abprs]-[\w-]{10,}|AKIA[0-9A-Z]{16}")
_MIN_SECRET = 6  # an environment value shorter than this is too common to blank
REDACTED = "[redacted]"

_CELL_REF = re.compile(r"\{(In|Out|Err)\[(-?\d+)\]\}")
_IPYKERNEL_CELL = re.compile(r"ipykernel_\d+[/\\][^/\\]+\.py$")
_INPUT_NAME = re.compile(r"^<ipython-input-(\d+)-")
_FILE_LINE = re.compile(r'File "([^"]+)"')
_MAGIC_CELL = re.compile(r"^\s*%%?gemini\b")
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


@dataclass(frozen=True)
class CellError:
    """One failing cell: its number, source, and the error as the user's own frames show it."""

    cell: int
    source: str
    type_name: str
    message: str
    traceback: str  # trimmed to the notebook's frames; ends with "Type: message"


class _History:
    """A shell's recorded errors and the event handler that records them."""

    def __init__(self, shell: Any) -> None:
        self.errors: OrderedDict[int, CellError] = OrderedDict()
        self._shell = weakref.ref(shell)  # the handler lives on the shell: no cycle through it

    def post_run_cell(self, result: Any) -> None:
        """Record the cell's error, if it raised one of the user's own."""
        shell = self._shell()
        try:
            error = result.error_in_exec if result.error_before_exec is None else result.error_before_exec
            count = result.execution_count
            if shell is None or error is None or count is None or not _is_users(error):
                return
            source = getattr(result.info, "raw_cell", None) or _input(shell, count) or ""
            self.errors[count] = CellError(
                count,
                _cut(source, SOURCE_LIMIT),
                _type_name(error),
                _cut(_message(error), MESSAGE_LIMIT),
                _trimmed_traceback(shell, error),
            )
            self.errors.move_to_end(count)
            while len(self.errors) > MAX_ERRORS:
                self.errors.popitem(last=False)
        except Exception:  # noqa: BLE001 - recording must never disturb the user's cell or its error
            return


_histories: weakref.WeakKeyDictionary[Any, _History] = weakref.WeakKeyDictionary()


def install(shell: Any) -> None:
    """Start recording failing cells (idempotent): a ``post_run_cell`` handler, nothing else."""
    if shell in _histories:
        return
    recorder = _History(shell)
    _histories[shell] = recorder
    shell.events.register("post_run_cell", recorder.post_run_cell)


def uninstall(shell: Any) -> None:
    """Stop recording and forget what was recorded."""
    recorder = _histories.pop(shell, None)
    if recorder is not None and recorder.post_run_cell in shell.events.callbacks["post_run_cell"]:
        shell.events.unregister("post_run_cell", recorder.post_run_cell)


def history(shell: Any) -> dict[int, CellError]:
    """The recorded errors by cell number, oldest first (empty when not installed)."""
    recorder = _histories.get(shell)
    return dict(recorder.errors) if recorder is not None else {}


# ---- secrets


def is_secret(name: str, value: Any) -> bool:
    """True for a variable that must not be described: a secret-looking name, or a value equal
    to an environment variable's (keys usually arrive through the environment)."""
    if SECRET_NAME.search(name):
        return True
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            return False
    return isinstance(value, str) and bool(value) and value in os.environ.values()


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """*text* with *secrets*, the values of secret-named environment variables and API key shapes blanked."""
    values = [v for n, v in os.environ.items() if len(v) >= _MIN_SECRET and SECRET_NAME.search(n)]
    for value in sorted({*values, *secrets}, key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    return _KEY_SHAPES.sub(REDACTED, text)


def notebook_secrets(shell: Any) -> set[str]:
    """The text values of the notebook's secret-named variables (``db_password = "..."``): blanked
    wherever this module quotes a cell, and never described under another name."""
    found = set()
    for name, value in list(shell.user_ns.items()):
        if isinstance(value, bytes):
            value = value.decode(errors="replace")
        if isinstance(value, str) and len(value) >= _MIN_SECRET and SECRET_NAME.search(name):
            found.add(value)
    return found


# ---- {In[n]}, {Out[n]}, {Err[n]}


def expand_cells(prompt: str, shell: Any) -> str:
    """Replace ``{In[n]}``, ``{Out[n]}`` and ``{Err[n]}`` (n < 0: counted back from the running cell)
    with the cell's source, its output's text and its recorded error; ``{{In[3]}}`` stays as written.
    A missing entry is a one-line UsageError, so nothing is sent."""

    secrets = notebook_secrets(shell) if _CELL_REF.search(prompt) else set()

    def replace(match: re.Match[str]) -> str:
        start, end = match.span()
        if prompt[start - 1 : start] == "{" and prompt[end : end + 1] == "}":
            return match.group(0)
        kind, ref = match.group(1), match.group(0)
        cell = _resolve(shell, int(match.group(2)), ref)
        if kind == "In":
            source = _input(shell, cell)
            if source is None:
                raise UsageError(f"{ref}: there is no cell {cell}")
            return redact(_cut(source, SOURCE_LIMIT), secrets)
        if kind == "Out":
            out = _output_text(shell, cell, ref)
            if out is None:
                raise UsageError(f"{ref}: cell {cell} has no output")
            return redact(out, secrets)
        error = history(shell).get(cell)
        if error is None:
            raise UsageError(f"{ref}: cell {cell} raised no error")
        return redact(error.traceback, secrets)

    return _CELL_REF.sub(replace, prompt)


# ---- %gemini fix

FIX_INSTRUCTION = (
    "A cell in my Jupyter notebook failed. Explain the cause in a few sentences, then give the whole "
    "corrected cell as ONE fenced ```python code block, ready to run. Use the variables as described."
)


def fix_prompt(shell: Any, cell: int | None, extra: str) -> str:
    """The prompt of ``%gemini fix [N]``: what to do, the failing cell, its error, the variables it
    uses (described, never the namespace) and the user's *extra* instructions."""
    errors = history(shell)
    if cell is None:
        if not errors:
            raise UsageError("no error to fix yet: run a cell that fails first")
        error = errors[next(reversed(errors))]
    else:
        number = _resolve(shell, cell, f"%gemini fix {cell}")
        if number not in errors:
            failed = ", ".join(str(n) for n in list(errors)[-10:]) or "none yet"
            raise UsageError(f"cell {number} raised no error to fix (cells that failed: {failed})")
        error = errors[number]
    secrets = notebook_secrets(shell)
    parts = [
        FIX_INSTRUCTION,
        f"Cell In[{error.cell}]:\n{_fenced(redact(error.source, secrets), 'python')}",
        f"Error:\n{_fenced(redact(error.traceback, secrets))}",
    ]
    variables = describe_variables(shell, error.source)
    if variables:
        parts.append(f"Variables the cell uses, as they are now:\n{variables}")
    if extra.strip():
        parts.append(f"Also:\n{extra.strip()}")
    return "\n\n".join(parts)


def describe_variables(shell: Any, source: str) -> str:
    """A short description of the notebook variables *source* names (secret-looking ones left out)."""
    namespace = shell.user_ns
    hidden = getattr(shell, "user_ns_hidden", {})
    secrets = notebook_secrets(shell)
    lines: list[str] = []
    total = 0
    for name in _names(shell, source):
        if name.startswith("_") or name not in namespace or name in hidden or len(lines) >= MAX_VARIABLES:
            continue
        value = namespace[name]
        if is_secret(name, value) or (isinstance(value, str) and value in secrets):
            continue
        entry = redact(f"- {name}: {_describe(value)}", secrets)
        if total + len(entry) > VARIABLES_LIMIT:
            lines.append(f"- (more variables left out: the description is capped at {VARIABLES_LIMIT} characters)")
            break
        lines.append(entry)
        total += len(entry)
    return "\n".join(lines)


def _names(shell: Any, source: str) -> list[str]:
    """The names *source* uses, in order of first use (its magics turned into Python first)."""
    import ast

    if source.lstrip().startswith("%%"):  # a cell magic's body is a string to Python: read it as text
        return list(dict.fromkeys(re.findall(r"[A-Za-z_]\w*", source)))
    try:
        tree = ast.parse(shell.transform_cell(source))
        nodes = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Name)), key=lambda n: (n.lineno, n.col_offset))
        found = [node.id for node in nodes]
    except (SyntaxError, ValueError):  # a cell that does not parse still names its variables
        found = re.findall(r"[A-Za-z_]\w*", source)
    return list(dict.fromkeys(found))


def _describe(value: Any) -> str:
    """Type, and what matters of it: shape/dtypes/first rows of tables and arrays, len of containers."""
    import inspect
    import types

    kind = (getattr(type(value), "__module__", None) or "").split(".")[0]
    kind = f"{kind}.{type(value).__qualname__}" if kind != "builtins" else type(value).__qualname__
    try:
        if isinstance(value, types.ModuleType):
            version = getattr(value, "__version__", "")
            return f"module {value.__name__} {version}".rstrip() if isinstance(version, str) else "module"
        if inspect.isclass(value):
            return f"class {value.__qualname__}"
        if inspect.isfunction(value) or inspect.ismethod(value):
            return f"function {value.__name__}{inspect.signature(value)}"
        shape = getattr(value, "shape", None)
        if isinstance(shape, tuple) and hasattr(value, "head") and hasattr(value, "dtypes"):
            return f"{kind}, shape {shape}\n  dtypes: {_dtypes(value)}\n  first 5 rows:\n{_rows(value)}"
        if isinstance(shape, tuple) and hasattr(value, "dtype"):
            first = value.head(5) if hasattr(value, "head") else (value[:5] if shape else value)
            rows = _indent(_cut(str(first), ROWS_LIMIT))
            return f"{kind}, shape {shape}, dtype {value.dtype}\n  first 5 rows:\n{rows}"
        size = f", len {len(value)}" if hasattr(value, "__len__") else ""
        return f"{kind}{size}: {_short_repr(value)}"
    except Exception as exc:  # noqa: BLE001 - a variable that cannot describe itself is described by its type
        return f"{kind} (could not describe it: {one_line(exc)})"


def _dtypes(frame: Any) -> str:
    dtypes = frame.dtypes
    pairs = list(dtypes.items()) if hasattr(dtypes, "items") else list(zip(frame.columns, dtypes, strict=False))
    text = ", ".join(f"{column} {dtype}" for column, dtype in pairs[:30])
    return text + (f", … ({len(pairs)} columns)" if len(pairs) > 30 else "")


def _rows(frame: Any) -> str:
    head = frame.head(5)
    try:
        text = head.to_string(max_cols=20, max_colwidth=40)
    except (AttributeError, TypeError):  # not pandas: its own str()
        text = str(head)
    return _indent(_cut(text, ROWS_LIMIT))


def _short_repr(value: Any) -> str:
    import reprlib

    shortener = reprlib.Repr()
    shortener.maxstring = shortener.maxother = shortener.maxlong = REPR_LIMIT
    return _cut(shortener.repr(value), REPR_LIMIT)


# ---- --context N


def context_text(shell: Any, n: int) -> str:
    """The *n* code cells before the running one (``%%gemini`` cells skipped), oldest first, each
    with its source and text output, cut per cell and in total; "" when there are none."""
    if n <= 0:
        return ""
    blocks: list[str] = []
    total = 0
    cell = _current(shell) - 1
    secrets = notebook_secrets(shell)
    while cell > 0 and len(blocks) < n:
        source = _input(shell, cell)
        if source and source.strip() and not _MAGIC_CELL.match(source):
            block = redact(_context_block(shell, cell, source), secrets)
            if total + len(block) > CONTEXT_LIMIT:
                break
            blocks.append(block)
            total += len(block)
        cell -= 1
    if not blocks:
        return ""
    return "The notebook cells I ran before this question, oldest first:\n\n" + "\n\n".join(reversed(blocks))


def _context_block(shell: Any, cell: int, source: str) -> str:
    block = f"In [{cell}]:\n{_fenced(_cut(source, CONTEXT_SOURCE_LIMIT), 'python')}"
    output = _printed(shell, cell)
    error = history(shell).get(cell)
    if output:
        block += f"\nOutput of [{cell}]:\n{_fenced(output)}"
    if error is not None:
        block += f"\nError of [{cell}]:\n{_fenced(_cut_start(error.traceback, OUTPUT_LIMIT))}"
    return block


def _printed(shell: Any, cell: int) -> str:
    """The text a cell showed: what it printed and the text of its results (IPython ≥ 9 keeps
    them in the history manager), else its ``Out`` value."""
    outputs = getattr(getattr(shell, "history_manager", None), "outputs", None)
    texts: list[str] = []
    for output in (outputs.get(cell) if outputs is not None else None) or []:
        bundle = output.bundle
        stream = bundle.get("stream")
        if stream is not None:
            texts.append("".join(stream) if isinstance(stream, list) else str(stream))
        elif bundle.get("text/plain"):
            plain = bundle["text/plain"]
            texts.append(("".join(plain) if isinstance(plain, list) else str(plain)).rstrip("\n") + "\n")
    if not texts:
        try:
            return _output_text(shell, cell, f"Out[{cell}]") or ""
        except UsageError:  # a value whose repr fails shows nothing here; {Out[n]} names the failure
            return ""
    return _cut("".join(texts).rstrip("\n"), OUTPUT_LIMIT)


# ---- cells


def _current(shell: Any) -> int:
    """The running cell's number: its input is stored before it runs (after it, the last cell's)."""
    return len(_inputs(shell)) - 1


def _inputs(shell: Any) -> list[str]:
    """Every cell's source as written, by number (``In`` holds them after IPython's transformations)."""
    raw = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
    return raw if raw is not None else shell.user_ns.get("In", [""])  # type: ignore[no-any-return]


def _input(shell: Any, cell: int) -> str | None:
    inputs = _inputs(shell)
    return inputs[cell] if 0 < cell < len(inputs) else None


def _resolve(shell: Any, number: int, ref: str) -> int:
    """A cell number; a negative one counts back from the running cell (-1 is the cell before)."""
    if number >= 0:
        return number
    cell = _current(shell) + number
    if cell < 1:
        raise UsageError(f"{ref}: there are not {-number} cells before this one")
    return cell


def _output_text(shell: Any, cell: int, ref: str) -> str | None:
    """The text/plain form of ``Out[cell]`` (IPython's pretty printer, as ``Out`` shows it), cut; None
    when there is none."""
    outputs = shell.user_ns.get("Out", {})
    if cell not in outputs:
        return None
    value = outputs[cell]
    from IPython.lib.pretty import pretty

    try:
        text = pretty(value)  # type: ignore[no-untyped-call]  # IPython leaves it unannotated
    except Exception as exc:  # noqa: BLE001 - a failing __repr__ is the user's to see, briefly
        raise UsageError(f"{ref}: its repr failed: {one_line(exc)}") from None
    return _cut(text, OUTPUT_LIMIT)


# ---- errors


def _is_users(error: BaseException) -> bool:
    """An error of the user's code: not Ctrl-C or exit, and not raised by gemini-magic itself
    (a bad option or a failed API call is not a cell to fix)."""
    if not isinstance(error, Exception) or type(error).__module__.startswith("gemini_magic"):
        return False
    import traceback

    return not any(frame.filename.startswith(_PACKAGE_DIR) for frame in traceback.extract_tb(error.__traceback__))


def _type_name(error: BaseException) -> str:
    module = type(error).__module__
    name = type(error).__qualname__
    return name if module in ("builtins", "__main__") else f"{module}.{name}"


def _message(error: BaseException) -> str:
    try:
        return str(error)
    except Exception as exc:  # noqa: BLE001 - a failing __str__ still leaves the type to report
        return f"<str() failed: {one_line(exc)}>"


def _cell_label(shell: Any, filename: str) -> str | None:
    """``Cell In[3]`` for a notebook cell's code, None for any other file."""
    number = getattr(getattr(shell, "compile", None), "_filename_map", {}).get(filename)
    if number is None:
        match = _INPUT_NAME.match(filename)
        number = int(match.group(1)) if match else None
    if number is not None:
        return f"Cell In[{number}]"
    return "Cell" if _IPYKERNEL_CELL.search(filename) else None


def _trimmed_traceback(shell: Any, error: BaseException) -> str:
    """The traceback with only the notebook's own frames (each run of other frames is one line),
    chained exceptions that passed through the notebook's code first; the end is kept under the cap."""
    import traceback

    chain: list[tuple[BaseException, str]] = [(error, "")]
    current = error
    while len(chain) < MAX_CHAINED:
        if current.__cause__ is not None:
            link, note = current.__cause__, "The above exception was the direct cause of the following exception:"
        elif current.__context__ is not None and not current.__suppress_context__:
            link, note = current.__context__, "During handling of the above exception, another exception occurred:"
        else:
            break
        if not any(_cell_label(shell, f.filename) for f in traceback.extract_tb(link.__traceback__)):
            break  # a library's own inner error (pandas' KeyError behind KeyError) adds nothing
        chain.append((link, note))
        current = link
    sections = []
    for exc, note in reversed(chain):
        lines = ["Traceback (the notebook's own frames; other frames left out):"]
        hidden = repeated = 0
        last: tuple[str, int | None, str] | None = None
        for frame in traceback.extract_tb(exc.__traceback__):
            label = _cell_label(shell, frame.filename)
            if label is None:
                hidden += 1
                continue
            if (label, frame.lineno, frame.name) == last and not hidden:
                repeated += 1  # recursion: one line says how often, as Python's own traceback does
                continue
            lines += _skipped(hidden, repeated, len(lines) > 1)
            hidden = repeated = 0
            last = (label, frame.lineno, frame.name)
            lines.append(f"  {label}, line {frame.lineno}, in {frame.name}")
            if frame.line:
                lines.append(f"    {frame.line.strip()}")
        lines += _skipped(hidden, repeated, len(lines) > 1)
        only = "".join(traceback.format_exception_only(type(exc), exc)).rstrip("\n")
        only = _FILE_LINE.sub(lambda m: _cell_label(shell, m.group(1)) or m.group(0), only)
        if len(lines) == 1:
            lines = []
        lines.append(only if _type_name(exc) in only else f"{_type_name(exc)}: {only}")
        sections.append("\n".join(lines))
        if note:
            sections.append(note)
    return _cut_start("\n\n".join(sections), TRACEBACK_LIMIT)


def _skipped(hidden: int, repeated: int, after_a_frame: bool) -> list[str]:
    """The lines that stand for frames left out: library frames, and a cell frame repeated."""
    lines = [f"  [the frame above repeated {repeated} more times]"] if repeated else []
    if hidden and after_a_frame:
        lines.append(f"  … {hidden} frame{'s' if hidden > 1 else ''} outside the notebook")
    return lines


# ---- text


def _cut(text: str, limit: int) -> str:
    """*text*, or its first *limit* characters and how many were left out."""
    return text if len(text) <= limit else f"{text[:limit]}… [{len(text) - limit} more characters cut]"


def _cut_start(text: str, limit: int) -> str:
    """*text*, or its last *limit* characters (a traceback's end is what matters)."""
    return text if len(text) <= limit else f"[{len(text) - limit} characters cut] …{text[-limit:]}"


def _fenced(text: str, language: str = "") -> str:
    """*text* in a Markdown fence longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())
