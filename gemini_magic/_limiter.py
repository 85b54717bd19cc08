"""One request limiter shared by every worker of a job (``--each``, ``embed``).

Three rules, all about the quota being shared:

* requests are spaced to ``--rpm`` (requests per minute) across all workers;
* when any request gets a 429, every worker waits out its ``RetryInfo`` delay before sending
  again — not N workers retrying on their own and hammering the quota N times over;
* after a 429 the job does not let all its workers go at once (they would all be refused again:
  a 429 storm, thousands of refusals for a few thousand rows). It goes on at the rate the quota
  was letting through just before — ``BACKOFF`` of the answers that arrived in the last
  ``WINDOW`` seconds — one request per slot, and speeds up by ``RECOVER`` a second from there,
  so it finds the quota again without being told. Only the first 429 of a burst slows the job
  down: the other workers' refusals of requests sent before it say nothing new. With ``--rpm``
  the requests are a slot apart already, and the user's rate is kept.
"""

from __future__ import annotations

import collections
import threading
import time

__all__ = ["Limiter"]

WINDOW = 2.0  # seconds of answers that say what rate the quota lets through
MIN_ANSWERS = 4  # fewer answers in the window say nothing about the rate (the job has just begun)
BACKOFF = 0.9  # after a 429, go on at this share of the rate that got through
RECOVER = 1.10  # … then this much faster every second, until the next 429 or --rpm
MAX_ANSWERS = 4096  # kept, whatever the rate


class Limiter:
    """Thread-safe: call :meth:`wait` before each request, :meth:`answered` after a success and
    :meth:`pause` after a 429."""

    def __init__(self, rpm: float | None = None) -> None:
        self.interval = 60.0 / rpm if rpm else 0.0  # seconds between two requests, across workers (--rpm)
        self._lock = threading.Lock()
        self._next = 0.0  # monotonic time the next request may go
        self._paused_until = 0.0
        self._learned = 0.0  # spacing the last 429 taught (0: none)
        self._slowed_at = -1.0  # when it was taught: the requests sent before belong to that burst
        self._answers: collections.deque[float] = collections.deque(maxlen=MAX_ANSWERS)  # when successes came
        self._sent = threading.local()  # .at: when this worker's request was let go
        self.pauses = 0

    def spacing(self, now: float | None = None) -> float:
        """Seconds between two requests now: ``--rpm``'s, or what the last 429 taught, relaxed by
        ``RECOVER`` a second since."""
        if not self._learned:
            return self.interval
        now = time.monotonic() if now is None else now
        relaxed: float = self._learned / RECOVER ** max(0.0, now - self._slowed_at)
        return max(self.interval, relaxed)

    def wait(self, stop: threading.Event | None = None) -> bool:
        """Block until this worker may send; False when *stop* was set while waiting (Ctrl-C)."""
        stop = stop or threading.Event()
        while True:
            with self._lock:
                now = time.monotonic()
                ready = max(self._next, self._paused_until)
                if ready <= now:
                    self._next = max(now, self._next) + self.spacing(now)
                    self._sent.at = now
                    return not stop.is_set()
            if stop.wait(min(ready - now, 0.25)):  # wake often enough to notice a stop
                return False

    def answered(self) -> None:
        """A request got through: one more point for the rate the quota allows."""
        now = time.monotonic()
        with self._lock:
            self._answers.append(now)
            while self._answers and self._answers[0] < now - WINDOW:
                self._answers.popleft()

    def pause(self, seconds: float) -> None:
        """A 429: nobody sends for *seconds* (the longest pause asked for wins); then one request
        per slot at the rate that was getting through, if this is the first 429 of its burst."""
        with self._lock:
            now = time.monotonic()
            self._paused_until = max(self._paused_until, now + max(0.0, seconds))
            self._next = max(self._next, self._paused_until)  # the first one goes then, the rest a slot apart
            self.pauses += 1
            sent = getattr(self._sent, "at", now)
            if sent < self._slowed_at:  # sent before the last slow-down: the same burst
                return
            rate = 0.0 if self.interval else self._rate(now)  # --rpm: the user's rate stays, spaced already
            if rate:
                self._learned = max(self.interval, 1 / (BACKOFF * rate))
                self._slowed_at = now

    def _rate(self, now: float) -> float:
        """Answers a second over the last ``WINDOW`` (0 when too few to tell)."""
        recent = [t for t in self._answers if t >= now - WINDOW]
        if len(recent) < MIN_ANSWERS or recent[-1] <= recent[0]:
            return 0.0
        return (len(recent) - 1) / (recent[-1] - recent[0])
