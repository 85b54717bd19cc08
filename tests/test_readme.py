"""The README's option table is generated from the magic's own parser, so it cannot drift."""

from __future__ import annotations

from pathlib import Path

from gemini_magic._magics import GeminiMagic

README = Path(__file__).resolve().parents[1] / "README.md"


def option_table() -> str:
    rows = ["| option | value | what it does |", "|---|---|---|"]
    for action in GeminiMagic.gemini.parser._actions:
        flags = ", ".join(f"`{flag}`" for flag in action.option_strings)
        metavar = (action.metavar or action.dest.upper()).replace("|", "\\|")
        value = "" if action.nargs == 0 else f"`{metavar}`"
        help_text = " ".join((action.help or "").split()).replace("%%", "%").replace("|", "\\|")
        rows.append(f"| {flags} | {value} | {help_text} |")
    return "\n".join(rows)


def test_readme_lists_every_option_as_the_parser_defines_it() -> None:
    table = option_table()
    assert table in README.read_text(), "README option table is stale; paste:\n" + table


def test_readme_names_the_two_commands_and_ci_runs_the_test_command() -> None:
    text = README.read_text()
    assert "bash tests/run.sh" in text
    assert "jupyter lab notebooks/" in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert "bash tests/run.sh" in ci
