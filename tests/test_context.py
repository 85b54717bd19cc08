"""The notebook's own cells as prompt material (issue 10, items 1, 3, 4), in the in-process shell:
errors recorded by a post_run_cell handler, ``{In[n]}``/``{Out[n]}``/``{Err[n]}``, the prompt of
``%gemini fix`` and ``--context N``. The kernel side is in test_context_kernel.py."""

from __future__ import annotations

import os
from typing import Any

import pytest
from conftest import FAKE_KEY
from gemini_server import GeminiTestServer, sse, text_events
from IPython.core.error import UsageError
from shell import TestShell

from gemini_magic import _context

FRAME = "import pandas as pd\nsales = pd.DataFrame({'city': list('ABCDEFG'), 'amount': [1.5, 2, 3, 4, 5, 6, 7]})"
FAILING = "total = sales['revenue'].sum()\nprint(total)"
SECRET_VALUE = "s3cr3t-env-value-8d1f6a"


@pytest.fixture
def ip(shell: TestShell, monkeypatch: pytest.MonkeyPatch) -> TestShell:
    """The shell with recording on (the extension installs it on load; installing twice is a no-op)."""
    monkeypatch.setenv("WAREHOUSE_TOKEN", SECRET_VALUE)
    shell.history_manager.outputs.clear()  # IPython keeps it on the class: the last test's shell filled it
    _context.install(shell)
    return shell


def cell(ip: TestShell, code: str) -> Any:
    """Run *code* as a cell (store_history, as a notebook does) and return its error, if any."""
    result = ip.run_cell(code, store_history=True)
    return result.error_before_exec or result.error_in_exec


def evaluate(ip: TestShell, expression: str) -> Any:
    """*expression* evaluated inside a cell of its own, as the magic runs: that cell is the current one."""
    ip.run(f"from gemini_magic import _context\n_value = {expression}")
    return ip.user_ns.pop("_value")


# ---- recording


def test_a_failing_cell_is_recorded_with_the_notebooks_own_frames_only(ip: TestShell) -> None:
    cell(ip, FRAME)
    error = cell(ip, FAILING)
    assert isinstance(error, KeyError), "the cell's error is still raised as IPython raised it"
    recorded = _context.history(ip)
    assert list(recorded) == [2]
    entry = recorded[2]
    assert (entry.cell, entry.source, entry.type_name, entry.message) == (2, FAILING, "KeyError", "'revenue'")
    lines = entry.traceback.splitlines()
    assert lines[0] == "Traceback (the notebook's own frames; other frames left out):"
    assert lines[1:3] == ["  Cell In[2], line 1, in <module>", "    total = sales['revenue'].sum()"]
    assert lines[-1] == "KeyError: 'revenue'"
    assert entry.traceback.count("KeyError: 'revenue'") == 1, "pandas' inner KeyError (no notebook frame) is left out"
    for library in ("site-packages", "pandas/core", "interactiveshell", "gemini_magic", "File "):
        assert library not in entry.traceback


def test_frames_of_functions_defined_in_cells_are_kept_in_order(ip: TestShell) -> None:
    cell(ip, "def ratio(a, b):\n    return a / b")
    cell(ip, "def report(x):\n    return ratio(x, 0)")
    cell(ip, "report(3)")
    text = _context.history(ip)[3].traceback
    assert [line for line in text.splitlines() if line.startswith("  Cell")] == [
        "  Cell In[3], line 1, in <module>",
        "  Cell In[2], line 2, in report",
        "  Cell In[1], line 2, in ratio",
    ]
    assert text.endswith("ZeroDivisionError: division by zero")


def test_a_chained_error_raised_in_the_notebook_keeps_both(ip: TestShell) -> None:
    cell(ip, "try:\n    {}['a']\nexcept KeyError as e:\n    raise ValueError('no a') from e")
    text = _context.history(ip)[1].traceback
    assert text.index("KeyError: 'a'") < text.index("direct cause") < text.index("ValueError: no a")


def test_a_syntax_error_names_the_cell_not_a_file(ip: TestShell) -> None:
    cell(ip, "x = (1,\ny = 2 +")
    entry = _context.history(ip)[1]
    assert entry.type_name == "SyntaxError"
    assert "Cell In[1]" in entry.traceback or "<ipython-input" not in entry.traceback
    assert entry.traceback.splitlines()[-1].startswith("SyntaxError:")


def test_recording_is_one_post_run_cell_handler_removed_on_uninstall(ip: TestShell) -> None:
    def ours() -> list[Any]:
        return [
            c
            for c in ip.events.callbacks["post_run_cell"]
            if getattr(c, "__self__", None).__class__.__name__ == "_History"
        ]

    _context.install(ip)
    _context.install(ip)
    assert len(ours()) == 1
    assert ip.custom_exceptions == (), "no set_custom_exc: errors look as they always did"
    cell(ip, "1 / 0")
    assert list(_context.history(ip)) == [1]
    _context.uninstall(ip)
    assert ours() == []
    cell(ip, "1 / 0")
    assert _context.history(ip) == {}
    _context.install(ip)  # back for the shell fixture's unload


def test_our_own_errors_interrupts_and_successes_are_not_recorded(ip: TestShell, gemini: GeminiTestServer) -> None:
    assert isinstance(cell(ip, "%%gemini --thinking nonsense\nHello"), UsageError)
    assert isinstance(cell(ip, "raise KeyboardInterrupt"), KeyboardInterrupt)
    assert cell(ip, "x = 1") is None
    assert isinstance(
        cell(ip, "from gemini_magic import _context\n_context.fix_prompt(get_ipython(), None, '')"), UsageError
    )
    assert _context.history(ip) == {}
    assert gemini.requests == []


def test_the_record_is_bounded(ip: TestShell) -> None:
    for number in range(_context.MAX_ERRORS + 5):
        cell(ip, f"raise ValueError({number})")
    recorded = _context.history(ip)
    assert len(recorded) == _context.MAX_ERRORS
    assert min(recorded) == 6 and recorded[max(recorded)].message == str(_context.MAX_ERRORS + 4)
    cell(ip, "def down(n):\n    return down(n + 1)")
    cell(ip, "down(0)")
    deep = _context.history(ip)[max(_context.history(ip))]
    assert len(deep.traceback) <= _context.TRACEBACK_LIMIT + 40
    assert deep.traceback.endswith("RecursionError: maximum recursion depth exceeded")
    assert "  Cell In[106], line 2, in down\n    return down(n + 1)\n  [the frame above repeated " in deep.traceback
    assert deep.traceback.count("in down") == 1
    cell(ip, "raise ValueError('x' * 50_000)")
    assert len(_context.history(ip)[max(_context.history(ip))].message) < _context.MESSAGE_LIMIT + 40


# ---- {In[n]}, {Out[n]}, {Err[n]}


def test_cells_by_number_and_counting_back(ip: TestShell) -> None:
    cell(ip, "value = 6 * 7\nvalue")  # 1: an output
    cell(ip, "print('no result here')")  # 2
    cell(ip, "int('x')")  # 3: an error
    prompt = "A {In[1]} B {Out[1]} C {Err[3]} D {In[-1]} E {Out[-3]} F {In[-2]}"
    text = evaluate(ip, f"_context.expand_cells({prompt!r}, get_ipython())")  # cell 4
    err = _context.history(ip)[3].traceback
    assert text == f"A value = 6 * 7\nvalue B 42 C {err} D int('x') E 42 F print('no result here')"
    assert err.endswith("ValueError: invalid literal for int() with base 10: 'x'")


def test_other_braces_are_left_for_interpolation(ip: TestShell) -> None:
    cell(ip, "a = 1")
    prompt = 'Keep {{In[1]}}, {In}, {In[x]}, {"In": [1]}, {name} and {_i1} as written.'
    assert evaluate(ip, f"_context.expand_cells({prompt!r}, get_ipython())") == prompt


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("{Out[1]}", "{Out[1]}: cell 1 has no output"),
        ("{Err[1]}", "{Err[1]}: cell 1 raised no error"),
        ("{In[40]}", "{In[40]}: there is no cell 40"),
        ("{In[0]}", "{In[0]}: there is no cell 0"),
        ("{Out[-9]}", "{Out[-9]}: there are not 9 cells before this one"),
    ],
)
def test_a_missing_entry_is_one_line_naming_it(
    ip: TestShell, gemini: GeminiTestServer, prompt: str, message: str
) -> None:
    cell(ip, "a = 1")
    with pytest.raises(UsageError) as caught:
        evaluate(ip, f"_context.expand_cells({prompt!r}, get_ipython())")
    assert str(caught.value) == message
    assert gemini.requests == []


def test_a_failing_repr_is_one_line(ip: TestShell) -> None:
    cell(
        ip,
        "class Bad:\n    fine = True\n    def __repr__(self):\n        if Bad.fine:\n            return 'fine'\n"
        "        raise RuntimeError('no\\nrepr')\nBad()",
    )
    cell(ip, "Bad.fine = False")
    with pytest.raises(UsageError, match=r"^\{Out\[1\]\}: its repr failed: RuntimeError: no repr$"):
        evaluate(ip, "_context.expand_cells('{Out[1]}', get_ipython())")


def test_long_output_and_secrets_in_cells_are_cut_and_blanked(ip: TestShell) -> None:
    cell(ip, "'y' * 10_000")
    cell(ip, f"token_holder = '{FAKE_KEY}'  # pasted by mistake\n'{SECRET_VALUE}'")
    out = evaluate(ip, "_context.expand_cells('{Out[1]}', get_ipython())")
    assert len(out) < _context.OUTPUT_LIMIT + 50 and out.endswith("more characters cut]")
    both = evaluate(ip, "_context.expand_cells('{In[2]} {Out[2]}', get_ipython())")
    assert FAKE_KEY not in both and SECRET_VALUE not in both
    assert both == "token_holder = '[redacted]'  # pasted by mistake\n'[redacted]' '[redacted]'"


# ---- %gemini fix


def test_fix_prompt_holds_the_cell_the_error_and_the_variables_it_uses(ip: TestShell) -> None:
    cell(ip, FRAME)
    cell(ip, "notes = 'n' * 500\nitems = {'a': 1, 'b': 2}\nimport numpy as np\ngrid = np.arange(40).reshape(8, 5)")
    cell(ip, f"api_key = '{FAKE_KEY}'\nwarehouse = '{SECRET_VALUE}'\nunused = 'never described'")
    failing = (
        "sales['total'] = sales['amount'] * 2\nprint(notes, items, grid, api_key, warehouse)\nsales['revenue'].sum()"
    )
    cell(ip, failing)
    prompt = evaluate(ip, "_context.fix_prompt(get_ipython(), None, '  Keep the print.  ')")
    assert prompt.startswith(_context.FIX_INSTRUCTION)
    assert f"Cell In[4]:\n```python\n{failing}\n```" in prompt
    assert "Error:\n```\nTraceback (the notebook's own frames" in prompt
    assert "    sales['revenue'].sum()\n  … 2 frames outside the notebook\nKeyError: 'revenue'\n```" in prompt
    variables = prompt.split("Variables the cell uses, as they are now:\n")[1].split("\n\nAlso:\n")[0]
    assert variables.startswith("- sales: pandas.DataFrame, shape (7, 3)\n  dtypes: city ")
    assert ", amount float64, total float64\n  first 5 rows:\n" in variables
    rows = variables.split("first 5 rows:\n")[1].split("\n- ")[0].splitlines()
    assert len(rows) == 6 and rows[1].split()[:2] == ["0", "A"] and rows[5].split()[:2] == ["4", "E"]
    assert "- notes: str, len 500: 'nnn" in variables
    notes_line = next(line for line in variables.splitlines() if line.startswith("- notes"))
    assert len(notes_line) <= len("- notes: str, len 500: ") + _context.REPR_LIMIT + 40
    assert "- items: dict, len 2: {'a': 1, 'b': 2}" in variables
    assert "- grid: numpy.ndarray, shape (8, 5), dtype int64\n  first 5 rows:\n    [[ 0  1  2  3  4]\n" in variables
    assert "[20 21 22 23 24]]" in variables and "25" not in variables, "only the first 5 rows of an array"
    assert "api_key" not in variables and "warehouse" not in variables and "unused" not in prompt
    assert prompt.endswith("\n\nAlso:\nKeep the print.")
    assert FAKE_KEY not in prompt and SECRET_VALUE not in prompt and "'[redacted]'" not in variables


def test_fix_takes_a_cell_number_or_counts_back(ip: TestShell) -> None:
    cell(ip, "int('first')")
    cell(ip, "float('second')")
    assert "Cell In[1]:\n```python\nint('first')" in evaluate(ip, "_context.fix_prompt(get_ipython(), 1, '')")
    assert "Cell In[2]:" in evaluate(ip, "_context.fix_prompt(get_ipython(), None, '')")
    assert "Cell In[2]:" in evaluate(ip, "_context.fix_prompt(get_ipython(), -3, '')")  # run in cell 5


def test_fix_without_an_error_is_one_line(ip: TestShell, gemini: GeminiTestServer) -> None:
    with pytest.raises(UsageError, match=r"^no error to fix yet: run a cell that fails first$"):
        evaluate(ip, "_context.fix_prompt(get_ipython(), None, '')")
    cell(ip, "1 / 0")
    with pytest.raises(UsageError) as caught:
        evaluate(ip, "_context.fix_prompt(get_ipython(), 1, '')")  # cell 1 raised a UsageError of ours
    assert str(caught.value) == "cell 1 raised no error to fix (cells that failed: 2)"
    assert gemini.requests == []


def test_a_cell_holding_fences_is_fenced_longer(ip: TestShell) -> None:
    source = "doc = '''\n```python\nx\n```\n'''\nundefined_name"
    cell(ip, source)
    prompt = evaluate(ip, "_context.fix_prompt(get_ipython(), None, '')")
    assert f"````python\n{source}\n````" in prompt


def test_the_variable_description_is_capped(ip: TestShell) -> None:
    names = [f"v{i}" for i in range(40)]
    cell(ip, "\n".join(f"{n} = list(range(1000))" for n in names))
    cell(ip, f"{' + '.join(names)} + undefined_name")
    text = _context.describe_variables(ip, ip.user_ns["In"][2])
    assert len(text.splitlines()) == _context.MAX_VARIABLES
    assert text.splitlines()[0].startswith("- v0: list, len 1000: [0, 1, 2")
    assert len(text) <= _context.VARIABLES_LIMIT


def test_secret_names_and_environment_values() -> None:
    for name in ("api_key", "OPENAI_API_KEY", "githubToken", "db_password", "client_secret", "auth_header"):
        assert _context.is_secret(name, "x"), name
    for name in ("sales", "author", "frame", "total"):
        assert not _context.is_secret(name, "x"), name
    home = os.environ["PATH"]
    assert _context.is_secret("plain", home) and _context.is_secret("plain", home.encode())
    assert not _context.is_secret("plain", 3)
    assert _context.redact(f"key={FAKE_KEY} sk-{'a' * 30} ok") == "key=[redacted] [redacted] ok"


# ---- --context N


def test_context_holds_the_previous_code_cells_and_what_they_showed(ip: TestShell) -> None:
    cell(ip, "a = 1")  # 1: beyond the two asked for
    cell(ip, "print('hello from two')\nb = 2\nb * 21")  # 2
    cell(ip, "%%gemini --dry-run\nnot context")  # 3: the magic's own cells are skipped
    cell(ip, "int('x')")  # 4
    text = evaluate(ip, "_context.context_text(get_ipython(), 2)")  # 5
    assert text == (
        "The notebook cells I ran before this question, oldest first:\n\n"
        "In [2]:\n```python\nprint('hello from two')\nb = 2\nb * 21\n```\n"
        "Output of [2]:\n```\nhello from two\n42\n```\n\n"
        "In [4]:\n```python\nint('x')\n```\n"
        f"Error of [4]:\n```\n{_context.history(ip)[4].traceback}\n```"
    )
    assert evaluate(ip, "_context.context_text(get_ipython(), 0)") == ""


def test_context_is_cut_per_cell_and_in_total(ip: TestShell) -> None:
    cell(ip, "print('p' * 50_000)")
    cell(ip, "x = 1  # " + "s" * 50_000)
    text = evaluate(ip, "_context.context_text(get_ipython(), 5)")
    assert len(text) <= _context.CONTEXT_LIMIT
    assert text.count("more characters cut]") == 2
    for number in range(10):
        cell(ip, f"print('{number}' * 3_000)")
    many = evaluate(ip, "_context.context_text(get_ipython(), 50)")
    assert len(many) <= _context.CONTEXT_LIMIT + 100
    assert "In [12]:" in many and "In [1]:" not in many, "the newest cells are kept"


def test_context_without_earlier_cells_is_empty(ip: TestShell) -> None:
    assert evaluate(ip, "_context.context_text(get_ipython(), 3)") == ""


# ---- through the magic (once the lead's wiring is in)


def test_gemini_fix_sends_the_failing_cell(ip: TestShell, gemini: GeminiTestServer) -> None:
    cell(ip, FRAME)
    cell(ip, FAILING)
    gemini.push(sse(text_events(["The column is `amount`.\n\n```python\ntotal = sales['amount'].sum()\n```"])))
    ip.run("%gemini fix")
    sent = gemini.requests[-1].body["contents"][-1]["parts"][-1]["text"]
    assert f"```python\n{FAILING}\n```" in sent and "KeyError: 'revenue'" in sent
    assert FAKE_KEY not in str(gemini.requests[-1].body) and SECRET_VALUE not in str(gemini.requests[-1].body)


def test_a_copied_secret_is_neither_described_nor_quoted(ip: TestShell) -> None:
    cell(ip, "db_password = 'hunter2-hunter2'\nalias = db_password\nrows = [1, 2]")
    cell(ip, "%%time\nprint(rows, alias, 'hunter2-hunter2', missing_name)")
    prompt = evaluate(ip, "_context.fix_prompt(get_ipython(), None, '')")
    assert "NameError: name 'missing_name' is not defined" in prompt
    assert "print(rows, alias, '[redacted]', missing_name)" in prompt
    assert "- rows: list, len 2: [1, 2]" in prompt, "a cell magic's body names its variables too"
    assert "hunter2" not in prompt and "- alias" not in prompt
    assert "hunter2" not in evaluate(ip, "_context.context_text(get_ipython(), 2)")
