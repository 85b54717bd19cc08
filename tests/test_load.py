"""%load_ext gemini_magic stays fast: nothing heavy is imported until the first call."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("requests", "ipywidgets", "markdown", "nh3", "urllib3")

CODE = f"""
import sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
before = set(sys.modules)
shell.run_line_magic("load_ext", "gemini_magic")
loaded = sorted(m for m in {HEAVY!r} if m in sys.modules and m not in before)
print("loaded:", loaded)
print("magic:", "gemini" in shell.magics_manager.magics["cell"])
"""


def test_load_ext_imports_nothing_heavy() -> None:
    result = subprocess.run([sys.executable, "-c", CODE], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout
    assert "magic: True" in result.stdout


def test_help_lists_every_option() -> None:
    from gemini_magic._magics import GeminiMagic

    doc = GeminiMagic.gemini.__doc__
    for option in ("--model", "--system", "--thinking", "--show-thoughts", "--temperature", "--top-p", "--top-k",
                   "--max-tokens", "--seed", "--stop", "--json", "--schema", "--image", "--aspect-ratio", "--search",
                   "--maps", "--url-context", "--code-execution", "--safety", "--cached-content", "--no-stream",
                   "--dry-run", "--timeout", "--base-url", "--auth", "--no-interpolate", "--out"):  # fmt: skip
        assert option in doc, option
