"""The layout and style all our live widgets share, open only while one of them is on screen.

Every ipywidgets DOM widget comes with a ``Layout`` model (46 traits, ~1.2 kB of state) and an
``HTML`` with an ``HTMLStyle`` (~0.5 kB): three models for one live answer, and ``nbconvert
--execute`` (nbclient) saves the last state of every model ever opened, closed or not. So the live
views draw on one pair: opened when the first view starts, closed when the last one ends (between
answers nothing stays open in the kernel), and reopened under the same model id, so a notebook that
keeps closed models' state keeps this pair once rather than once per answer.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["SharedModels", "shared_models"]


class SharedModels:
    """A ``Layout`` and an ``HTMLStyle``, counted: :meth:`acquire` opens them, the last :meth:`release` closes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._pair: dict[str, Any] = {}

    def acquire(self) -> dict[str, Any]:
        """``{"layout": …, "style": …}`` to pass to a new widget (only ``HTML`` takes the style)."""
        import ipywidgets
        from ipywidgets.widgets.widget_string import HTMLStyle

        with self._lock:
            if not self._pair:
                self._pair = {"layout": ipywidgets.Layout(), "style": HTMLStyle()}
            elif self._users == 0:
                for model in self._pair.values():
                    model.open()  # the same model id as before: saved widget state keeps one entry
            self._users += 1
            return dict(self._pair)

    def release(self) -> None:
        """One user fewer; with none left, close the pair."""
        with self._lock:
            self._users = max(0, self._users - 1)
            if self._users == 0:
                for model in self._pair.values():
                    model.close()

    @property
    def open(self) -> bool:
        """Whether the pair is open (some live view is on screen)."""
        return self._users > 0


shared_models = SharedModels()
