"""``%gemini fix``, ``{In[n]}``/``{Out[n]}``/``{Err[n]}`` and ``--context N`` in a real kernel against the
loopback server: the request holds exactly the cells' text and nothing secret, the fix comes back as
the next cell (``set_next_input`` in the execute_reply), and errors look as they always did."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import FAKE_KEY, kernel_env
from gemini_server import GeminiTestServer, sse, text_events
from kernels import Kernel

SECRET_ENV = "wh-9f2c1e7a-never-send-me"
PASSWORD = "correct-horse-battery-staple"
FRAME = "import pandas as pd\nsales = pd.DataFrame({'city': list('ABCDEFG'), 'amount': [1.5, 2, 3, 4, 5, 6, 7]})"
FAILING = f"db_password = {PASSWORD!r}\nconnect = db_password\nsales['revenue'].sum()"
FIXED = "total = sales['amount'].sum()\ntotal"


@pytest.fixture(scope="module")
def kernel(server: GeminiTestServer) -> Iterator[Kernel]:
    """A kernel of this module's own, with a secret in its environment."""
    with Kernel(kernel_env(server, WAREHOUSE_TOKEN=SECRET_ENV)) as k:
        k.run("%load_ext gemini_magic")
        yield k


def sent_text(gemini: GeminiTestServer) -> str:
    return gemini.requests[-1].body["contents"][-1]["parts"][-1]["text"]  # type: ignore[no-any-return]


def count_of(kernel: Kernel) -> int:
    """The execution count of the last cell run."""
    return kernel.nb.cells[-1].execution_count  # type: ignore[no-any-return]


def answer_with_code(gemini: GeminiTestServer) -> None:
    gemini.push(sse(text_events(["The column is `amount`, not `revenue`.\n\n", f"```python\n{FIXED}\n```\n"])))


def assert_nothing_secret(gemini: GeminiTestServer) -> None:
    request = gemini.requests[-1]
    body = str(request.body)
    assert SECRET_ENV not in body and PASSWORD not in body and FAKE_KEY not in body
    assert FAKE_KEY not in request.path


def next_input(reply: dict[str, Any]) -> list[str]:
    return [p["text"] for p in reply.get("payload", []) if p.get("source") == "set_next_input"]


def test_fix_sends_the_failing_cell_and_offers_the_fix_below(kernel: Kernel, gemini: GeminiTestServer) -> None:
    kernel.run(FRAME)
    outputs = kernel.run(FAILING)
    failed = count_of(kernel)
    error = next(o for o in outputs if o["output_type"] == "error")
    assert error["ename"] == "KeyError"
    assert "pandas" in "\n".join(error["traceback"]), "the error is shown as IPython shows it, untrimmed"
    answer_with_code(gemini)
    outputs = kernel.run("%gemini fix")
    assert kernel.reply["status"] == "ok"
    text = sent_text(gemini)
    assert f"Cell In[{failed}]:\n```python\n{FAILING.replace(PASSWORD, '[redacted]')}\n```" in text
    assert f"  Cell In[{failed}], line 3, in <module>\n    sales['revenue'].sum()\n" in text
    assert "\nKeyError: 'revenue'\n```" in text
    assert "- sales: pandas.DataFrame, shape (7, 2)\n  dtypes: city " in text
    assert "    4    E     5.0" in text and "    5    F" not in text, "the first 5 rows only"
    assert "db_password" not in text.split("Variables the cell uses")[1]
    assert "- connect:" not in text, "a value equal to a secret variable's is not described"
    assert_nothing_secret(gemini)
    assert next_input(kernel.reply) == [FIXED + "\n"] or next_input(kernel.reply) == [FIXED]
    assert "The column is" in str(outputs)


def test_fix_with_instructions_or_a_cell_number(kernel: Kernel, gemini: GeminiTestServer) -> None:
    kernel.run("int('seven')")
    wrong = count_of(kernel)
    kernel.run("x = 1")
    answer_with_code(gemini)
    kernel.run("%%gemini --fix\nKeep it to one line.")
    text = sent_text(gemini)
    assert f"Cell In[{wrong}]:\n```python\nint('seven')\n```" in text
    assert text.endswith("\n\nAlso:\nKeep it to one line.")
    answer_with_code(gemini)
    kernel.run(f"%gemini fix {wrong}")
    assert f"Cell In[{wrong}]:" in sent_text(gemini)
    before = len(gemini.requests)
    fine = count_of(kernel) - 1
    line = kernel.usage_error(f"%gemini fix {fine}")
    assert line.startswith(f"UsageError: cell {fine} raised no error to fix (cells that failed: ")
    assert len(gemini.requests) == before


def test_cells_by_number_reach_the_server_exactly(kernel: Kernel, gemini: GeminiTestServer) -> None:
    kernel.run("answer = 6 * 7\nanswer")
    out = count_of(kernel)
    kernel.run("float('half')")
    err = count_of(kernel)
    kernel.run('label = f"{answer} items"  # {braces} of code stay')
    gemini.push(sse(text_events(["Ok."])))
    kernel.run(f"%%gemini\nCode: {{In[{out}]}}\nGave: {{Out[{out}]}}\nError: {{Err[{err}]}}\nLast: {{In[-1]}}")
    text = sent_text(gemini)
    error = text.partition("\nError: ")[2].partition("\nLast: ")[0]
    assert (
        text
        == f"Code: answer = 6 * 7\nanswer\nGave: 42\nError: {error}\nLast: "
        + 'label = f"{answer} items"  # {braces} of code stay'
    )
    assert error.startswith("Traceback (the notebook's own frames")
    assert error.endswith("ValueError: could not convert string to float: 'half'")
    assert "site-packages" not in error
    assert_nothing_secret(gemini)


def test_a_missing_cell_is_one_line_and_sends_nothing(kernel: Kernel, gemini: GeminiTestServer) -> None:
    kernel.run("y = 1")
    line = kernel.usage_error(f"%%gemini\nWhat did {{Out[{count_of(kernel)}]}} mean?")
    assert line == f"UsageError: {{Out[{count_of(kernel) - 1}]}}: cell {count_of(kernel) - 1} has no output\n"
    assert (
        kernel.usage_error("%gemini Explain {Err[99999]}") == "UsageError: {Err[99999]}: cell 99999 raised no error\n"
    )
    assert gemini.requests == []


def test_context_sends_the_previous_cells_with_what_they_printed(kernel: Kernel, gemini: GeminiTestServer) -> None:
    kernel.run("import os\nprint('rows:', 7, os.environ['WAREHOUSE_TOKEN'])")
    first = count_of(kernel)
    kernel.run("empty = sales[sales['amount'] > 100]\nlen(empty)")
    gemini.push(sse(text_events(["Your filter keeps no rows."])))
    kernel.run("%%gemini --context 2\nWhy is my plot empty?")
    text = sent_text(gemini)
    assert text.startswith("The notebook cells I ran before this question, oldest first:\n\n")
    assert f"In [{first}]:\n```python\nimport os\nprint('rows:', 7, os.environ['WAREHOUSE_TOKEN'])\n```" in text
    assert f"Output of [{first}]:\n```\nrows: 7 [redacted]\n```" in text
    assert f"In [{first + 1}]:\n```python\nempty = sales[sales['amount'] > 100]\nlen(empty)\n```\n" in text
    assert f"Output of [{first + 1}]:\n```\n0\n```" in text
    assert text.endswith("\n\nWhy is my plot empty?")
    assert_nothing_secret(gemini)


def test_a_fresh_kernel_has_no_error_to_fix_and_unload_removes_the_recorder(server: GeminiTestServer) -> None:
    server.reset()
    with Kernel(kernel_env(server)) as k:
        k.run("%load_ext gemini_magic")
        assert k.usage_error("%gemini fix") == "UsageError: no error to fix yet: run a cell that fails first\n"
        count = (
            "sum(type(getattr(c, '__self__', None)).__name__ == '_History'"
            " for c in get_ipython().events.callbacks['post_run_cell'])"
        )
        assert k.run(f"print({count})")[0]["text"] == "1\n"
        k.run("%unload_ext gemini_magic")
        assert k.run(f"print({count})")[0]["text"] == "0\n"
        k.run("%load_ext gemini_magic")
        k.run("%load_ext gemini_magic")
        assert k.run(f"print({count})")[0]["text"] == "1\n"
    assert server.requests == []
