"""The limiter a job's workers share: ``--rpm`` spacing, one pause for everyone after a 429, and no
429 storm after it (the workers go on one slot apart at the rate that was getting through).

Real threads and real time, against a token bucket like the loopback server's :class:`RateLimited`
(without the HTTP, so the timing is the limiter's alone).
"""

from __future__ import annotations

import itertools
import threading
import time

from gemini_magic._limiter import BACKOFF, Limiter


class Bucket:
    """A quota: *rate* requests a second, *burst* at once; says how long until the next token."""

    def __init__(self, rate: float, burst: float = 2.0) -> None:
        self.rate, self.burst, self.tokens = rate, burst, burst
        self.last = time.monotonic()
        self.accepted = self.refused = 0
        self.lock = threading.Lock()

    def take(self) -> float:
        """0 when accepted, else the RetryInfo delay in seconds."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                self.accepted += 1
                return 0.0
            self.refused += 1
            return (1 - self.tokens) / self.rate


def run_job(limiter: Limiter, bucket: Bucket, rows: int, workers: int = 8, latency: float = 0.02) -> float:
    """*rows* requests by *workers* threads as ``send_row`` makes them; the seconds it took."""
    left = iter(range(rows))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if next(left, None) is None:
                    return
            while limiter.wait():
                delay = bucket.take()
                if delay:
                    limiter.pause(delay)
                    continue
                time.sleep(latency)
                limiter.answered()
                break

    started = time.monotonic()
    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return time.monotonic() - started


def test_rpm_spaces_the_requests_of_all_workers() -> None:
    limiter = Limiter(rpm=600)  # one every 0.1 s
    times: list[float] = []

    def work() -> None:
        for _ in range(2):
            assert limiter.wait()
            times.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    times.sort()
    assert len(times) == 8 and times[-1] - times[0] >= 0.6  # 7 gaps of 0.1 s (less a late first note)


def test_a_429_holds_every_worker_for_its_delay() -> None:
    limiter = Limiter()
    limiter.pause(0.3)
    started = time.monotonic()
    assert limiter.wait()
    assert time.monotonic() - started >= 0.28
    assert limiter.pauses == 1


def test_after_a_pause_the_workers_go_one_slot_apart_not_all_at_once() -> None:
    """100 answers a second got through, then a 429: the 8 waiting workers resume at about
    0.9 × 100 a second, so in the first 100 ms after the pause at most ~10 go, not all 8 at once
    and then the next 8 as soon as they are refused again."""
    limiter = Limiter()
    for _ in range(50):
        limiter.answered()
        time.sleep(0.01)
    limiter.pause(0.2)
    resumed = time.monotonic() + 0.2
    sent: list[float] = []
    stop = threading.Event()

    def work() -> None:
        while limiter.wait(stop):
            sent.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.45)
    stop.set()
    for thread in threads:
        thread.join(5)
    assert min(sent) >= resumed - 0.01  # nobody went during the pause
    first = [t for t in sent if t < resumed + 0.1]
    assert 2 <= len(first) <= 11, len(first)
    gaps = sorted(b - a for a, b in itertools.pairwise(sorted(sent)))
    assert gaps[len(gaps) // 2] >= 0.8 / (BACKOFF * 100), gaps  # about 11 ms apart, not together
    assert 0.9 * 100 * 0.25 * 0.8 <= len(sent) <= 100 * 0.25 * 1.3  # ~90/s, a bit faster every second


def test_only_the_first_429_of_a_burst_slows_the_job() -> None:
    limiter = Limiter()
    for _ in range(20):
        limiter.answered()
        time.sleep(0.005)
    assert limiter.wait()  # this worker's request went before the slow-down below
    before = limiter.spacing()

    def refused() -> None:  # another worker's request, sent now and refused
        limiter.wait()
        limiter.pause(0.0)

    other = threading.Thread(target=refused)
    other.start()
    other.join(5)
    slowed = limiter.spacing()
    assert before == 0.0 and slowed > 0.005
    limiter.pause(0.0)  # the refusal of a request sent before that: the same burst
    assert limiter.spacing() <= slowed


def test_a_job_against_a_quota_keeps_near_it_without_a_429_storm() -> None:
    """8 workers at 20 ms each could send 400 a second to a 200-a-second quota: without the slow-down
    after a 429 about two requests in three are refused (the storm the benchmark saw); with it a few
    in a hundred, and the job still runs at nearly the quota's rate."""
    rate, rows = 200.0, 600
    bucket = Bucket(rate)
    seconds = run_job(Limiter(), bucket, rows)
    assert bucket.accepted == rows
    assert bucket.refused <= rows * 0.1, bucket.refused
    assert seconds <= 1.25 * rows / rate, seconds
