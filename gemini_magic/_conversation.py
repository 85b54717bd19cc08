"""``--chat NAME``: named conversations that keep every turn exactly as the API returned it.

Each cell contributes one *exchange*: its user turn, the model's turn(s) and any function
responses in between. Model turns are stored verbatim — every part and every ``thoughtSignature``
— because Gemini 3 rejects a history whose signatures were dropped or moved (400 "Function call is
missing a thought_signature"). Exchanges are keyed by the notebook cell, so re-running a cell
replaces its own exchange (and its history is what came before it) instead of appending a copy.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChatStore", "Conversation"]


@dataclass
class Conversation:
    """One ``--chat NAME`` conversation: each cell's turns, in cell order, keyed by the cell."""

    name: str
    exchanges: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)

    def history(self, key: str) -> list[dict[str, Any]]:
        """The contents that come before this cell's exchange (all of them for a new cell)."""
        contents: list[dict[str, Any]] = []
        for existing, turns in self.exchanges:
            if existing == key:
                break
            contents.extend(turns)
        return copy.deepcopy(contents)

    def record(self, key: str, turns: list[dict[str, Any]]) -> None:
        """Store a cell's exchange, replacing the one it made before."""
        for index, (existing, _) in enumerate(self.exchanges):
            if existing == key:
                self.exchanges[index] = (key, copy.deepcopy(turns))
                return
        self.exchanges.append((key, copy.deepcopy(turns)))

    def turns(self) -> list[dict[str, Any]]:
        """Every stored turn of every cell, in order (the whole conversation as the API saw it)."""
        return [turn for _, turns in self.exchanges for turn in turns]


class ChatStore(dict[str, Conversation]):
    """All conversations of a session, by name."""

    def get_or_create(self, name: str) -> Conversation:
        """The conversation called *name*, started empty the first time it is named."""
        if name not in self:
            self[name] = Conversation(name)
        return self[name]
