"""Prompt interpolation leaves code and JSON alone."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from gemini_magic._prompt import interpolate


class Person:
    name = "Ada"

    @property
    def broken(self) -> str:
        raise RuntimeError("boom")


NS = {"topic": "entropy", "n": 3, "p": Person()}


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("About {topic}, {n} times", "About entropy, 3 times"),
        ("Hi {p.name}", "Hi Ada"),
        ('{"key": {topic}}', '{"key": entropy}'),
        ('{"key": "value"}', '{"key": "value"}'),
        ("def f(): return {}", "def f(): return {}"),
        ("{undefined} and {undefined.attr}", "{undefined} and {undefined.attr}"),
        ("{{topic}} stays", "{{topic}} stays"),
        ("f'{x!r}' and {topic:>10}", "f'{x!r}' and {topic:>10}"),
        ("set {1, 2}", "set {1, 2}"),
    ],
)
def test_interpolate(prompt: str, expected: str) -> None:
    assert interpolate(prompt, NS) == expected


def test_bad_attribute_is_a_user_error() -> None:
    with pytest.raises(UsageError, match=r"\{p.missing\} in the prompt: AttributeError"):
        interpolate("{p.missing}", NS)
    with pytest.raises(UsageError, match="RuntimeError: boom"):
        interpolate("{p.broken}", NS)
