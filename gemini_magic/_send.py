"""How the workers of a job (``--each``, ``embed``) send: politely, through one pooled session.

* :func:`send_row`: one request when the shared :class:`~._limiter.Limiter` lets it go; a 429
  pauses every worker (and slows the job to what was getting through), a 5xx is retried by its
  own row, anything else is raised for the row to keep as its ``error``.
* :func:`widen_pool`: one pooled connection per worker.
* :func:`environment_read_once`: the proxy variables read once per job, not once per request.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ._errors import GeminiAPIError

if TYPE_CHECKING:
    import requests

    from ._client import GeminiClient
    from ._limiter import Limiter
    from ._settings import Settings

__all__ = ["MAX_RATE_LIMITED", "Pacing", "environment_read_once", "send_row", "widen_pool"]

MAX_RATE_LIMITED = 20  # 429s one row waits out before it counts as failed


@dataclass(frozen=True)
class Pacing:
    """How a job's workers share the quota: one limiter, one stop event, one retry counter."""

    limiter: Limiter
    stop: threading.Event
    on_retry: Callable[[], None] = lambda: None


def send_row(
    client: GeminiClient, url: str, body: dict[str, Any], settings: Settings, pacing: Pacing
) -> dict[str, Any] | None:
    """POST *body* when the limiter lets this worker; None when *stop* is set first.

    A 429 pauses every worker (its ``RetryInfo`` delay, else a backoff; the limiter then goes on at
    the rate that was getting through) and is sent again, up to
    ``MAX_RATE_LIMITED`` times; a 500/502/503/504 waits for this row alone, ``max_retries`` times.
    The last failure is raised (a ``GeminiError``).
    """
    from ._client import _retry_delay

    limiter, stop, on_retry = pacing.limiter, pacing.stop, pacing.on_retry
    once = replace(settings, max_retries=0)  # the retries are decided here, for all workers at once
    rate_limited = failed = 0
    while limiter.wait(stop):
        try:
            data = client.generate(url, body, once)
        except GeminiAPIError as exc:
            throttled = exc.code == 429
            attempt = rate_limited if throttled else failed
            delay = _retry_delay(exc, attempt, MAX_RATE_LIMITED if throttled else settings.max_retries)
            if delay is None:
                raise
            on_retry()
            if throttled:
                rate_limited += 1
                limiter.pause(delay)
            else:
                failed += 1
                if stop.wait(delay):
                    return None
        else:
            limiter.answered()
            return data
    return None


def widen_pool(client: GeminiClient, workers: int) -> None:
    """One pooled connection per worker: requests keeps 10 per host unless told otherwise."""
    from requests.adapters import HTTPAdapter

    session = client.session
    for prefix in ("https://", "http://"):
        adapter = session.get_adapter(prefix)
        if getattr(adapter, "_pool_maxsize", 0) < workers:
            session.mount(prefix, HTTPAdapter(pool_maxsize=workers))


@contextlib.contextmanager
def environment_read_once(session: requests.Session, url: str) -> Iterator[None]:
    """The proxy and CA-bundle variables read once for a job, not once per request.

    With ``trust_env`` requests scans the whole environment for ``*_proxy`` (twice) and checks
    ``no_proxy`` on every request, a tenth of a row's CPU. Every row goes to the same host, so what
    it finds is the same each time: it is read here for *url* and put on the session for the job,
    and ``trust_env`` restored afterwards (a later ``%env HTTPS_PROXY=…`` still counts).
    """
    if not session.trust_env:
        yield
        return
    found = session.merge_environment_settings(url, {}, None, None, None)
    saved = session.proxies, session.verify, session.cert
    session.proxies, session.verify, session.cert = found["proxies"], found["verify"], found["cert"]
    session.trust_env = False
    try:
        yield
    finally:
        session.trust_env = True
        session.proxies, session.verify, session.cert = saved
