"""Structure rules the code keeps (issue 9): they fail the suite when a change breaks them."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "gemini_magic"
MAX_PARAMETERS = 6


def functions() -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found.append((path.name, node))
    return found


def test_no_function_takes_more_than_six_parameters() -> None:
    """Calls pass one frozen object (``_prepare.Call``), not a dozen copied flags."""
    too_many = []
    for module, node in functions():
        args = node.args
        names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
        if names[:1] in (["self"], ["cls"]):
            names = names[1:]
        if len(names) > MAX_PARAMETERS:
            too_many.append(f"{module}:{node.lineno} {node.name}({', '.join(names)})")
    assert len(functions()) > 100
    assert too_many == []


def test_only_the_display_module_calls_display() -> None:
    """One display surface: every other module renders bundles and hands them to ``_display.show``."""
    calls = []
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name == "_display.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "IPython.display":
                calls.append(f"{path.name}:{node.lineno} imports IPython.display")
    assert calls == []
