"""One request limiter shared by every worker of a job (``--each``, ``embed``).

Two rules, both about the quota being shared: requests are spaced to ``--rpm`` (requests per
minute) across all workers, and when any request gets a 429 every worker waits out its
``RetryInfo`` delay before sending again — not N workers retrying on their own and hammering the
quota N times over.
"""

from __future__ import annotations

import threading
import time

__all__ = ["Limiter"]


class Limiter:
    """Thread-safe: call :meth:`wait` before each request, :meth:`pause` after a 429."""

    def __init__(self, rpm: float | None = None) -> None:
        self.interval = 60.0 / rpm if rpm else 0.0  # seconds between two requests, across workers
        self._lock = threading.Lock()
        self._next = 0.0  # monotonic time the next request may go
        self._paused_until = 0.0
        self.pauses = 0

    def wait(self, stop: threading.Event | None = None) -> bool:
        """Block until this worker may send; False when *stop* was set while waiting (Ctrl-C)."""
        stop = stop or threading.Event()
        while True:
            with self._lock:
                now = time.monotonic()
                ready = max(self._next, self._paused_until)
                if ready <= now:
                    self._next = max(now, self._next) + self.interval
                    return not stop.is_set()
            if stop.wait(min(ready - now, 0.25)):  # wake often enough to notice a stop
                return False

    def pause(self, seconds: float) -> None:
        """A 429: nobody sends for *seconds* (the longest pause asked for wins)."""
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + max(0.0, seconds))
            self.pauses += 1

    @property
    def paused(self) -> float:
        """Seconds left of the current pause (0 when none)."""
        with self._lock:
            return max(0.0, self._paused_until - time.monotonic())
