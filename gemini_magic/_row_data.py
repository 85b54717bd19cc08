"""The rows of ``--each``: what a table, a Series or a list holds, and each row's prompt.

The cell is a template: ``{column}``, ``{row.column}`` and ``{index}`` come from each row, then
``{name}`` from the notebook as in any cell (:mod:`._prompt`; a value put in is never read again, so
a row holding ``{secret}`` cannot pull in a variable). Missing cells (None, NaN, ``pd.NA``) are
sent as empty, anything else that is not a string as ``str()``. A template naming a column the
rows do not have is caught before anything is sent.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from IPython.core.error import UsageError

from ._prompt import _FIELD, interpolate

__all__ = ["cell_text", "check_template", "fill", "is_missing", "rows_of"]


def rows_of(data: Any) -> tuple[list[Any], list[dict[str, Any]]]:
    """The rows of a DataFrame, a Series, a list of dicts or a list of values, with their index
    labels. A Series or a plain list gives ``{value}`` (and a Series also ``{its_name}``)."""
    pandas = sys.modules.get("pandas")  # a DataFrame exists only once pandas is imported
    if pandas is not None and isinstance(data, pandas.DataFrame):
        columns = [str(c) for c in data.columns]
        return list(data.index), [dict(zip(columns, v, strict=True)) for v in data.itertuples(index=False, name=None)]
    if pandas is not None and isinstance(data, pandas.Series):
        names = ["value", *([str(data.name)] if data.name is not None and str(data.name) != "value" else [])]
        return list(data.index), [dict.fromkeys(names, value) for value in data.tolist()]
    if hasattr(data, "tolist") and not isinstance(data, Mapping):  # a 1-D numpy array
        data = data.tolist()
    if not isinstance(data, list | tuple):
        raise UsageError(
            f"--each takes a DataFrame, a Series, a list of strings or a list of dicts, not a {type(data).__name__}"
        )
    dicts = sum(isinstance(item, Mapping) for item in data)
    if dicts and dicts < len(data):
        raise UsageError("--each: a list is either all dicts (one per row) or all values, not a mix")
    if not dicts:
        return list(range(len(data))), [{"value": item} for item in data]
    columns = list(dict.fromkeys(str(key) for item in data for key in item))
    rows = [{str(k): v for k, v in item.items()} for item in data]
    return list(range(len(data))), [{c: row.get(c) for c in columns} for row in rows]


def is_missing(value: Any) -> bool:
    """None, NaN, ``pd.NA`` or ``NaT``: a cell with nothing in it, sent as empty."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")


def cell_text(value: Any) -> str:
    """A cell as prompt text: strings as they are, missing cells empty, anything else ``str()``."""
    if isinstance(value, str):
        return value
    return "" if is_missing(value) else str(value)


class _Row:
    """``{row.column}``: a row's cells as attributes."""

    __slots__ = ("_cells",)

    def __init__(self, cells: Mapping[str, Any]) -> None:
        self._cells = cells

    def __getattr__(self, name: str) -> str:
        try:
            return cell_text(self._cells[name])
        except KeyError:
            raise AttributeError(f"the rows have no column {name!r}") from None


class _RowNames(Mapping[str, Any]):
    """What a row's template reads: its cells, ``index`` and ``row``, then the notebook's names."""

    def __init__(self, row: Mapping[str, Any], index: Any, namespace: Mapping[str, Any]) -> None:
        self._row, self._index, self._namespace = row, index, namespace

    def __getitem__(self, name: str) -> Any:
        if name in self._row:
            return cell_text(self._row[name])
        if name == "index":
            return self._index
        if name == "row":
            return _Row(self._row)
        return self._namespace[name]

    def __contains__(self, name: object) -> bool:
        return name in self._row or name in ("index", "row") or name in self._namespace

    def __iter__(self) -> Iterator[str]:
        yield from dict.fromkeys([*self._row, "index", "row", *self._namespace])

    def __len__(self) -> int:
        return sum(1 for _ in self)


def fill(template: str, row: Mapping[str, Any], index: Any, namespace: Mapping[str, Any]) -> str:
    """One row's prompt: ``{column}``, ``{row.column}``, ``{index}``, then ``{name}`` from *namespace*."""
    return interpolate(template, _RowNames(row, index, namespace))


def check_template(template: str, columns: list[str], namespace: Mapping[str, Any]) -> list[str]:
    """The columns *template* uses; a ``{field}`` that is neither a column nor a defined name is a
    typo to report before anything is sent (``{{field}}`` is kept as written, as everywhere)."""
    used: list[str] = []
    unknown: list[str] = []
    for match in _FIELD.finditer(template):
        start, end = match.span()
        if template[start - 1 : start] == "{" and template[end : end + 1] == "}":
            continue
        name, attrs = match.group(1), match.group(2).split(".")[1:]
        if name == "row" and "row" not in columns:
            column = attrs[0] if attrs else ""
            if column in columns:
                used.append(column)
            else:
                unknown.append(f"row.{column}" if column else "row")
        elif name in columns:
            used.append(name)
        elif name != "index" and name not in namespace:
            unknown.append(name)
    if unknown:
        fields = ", ".join(f"{{{n}}}" for n in dict.fromkeys(unknown))
        raise UsageError(
            f"the template names {fields}, which the rows do not have (columns: {', '.join(columns) or 'none'}); "
            "nothing was sent"
        )
    return list(dict.fromkeys(used))
