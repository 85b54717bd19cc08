"""Exception types raised by gemini-magic.

Two families, handled differently on purpose:

* User mistakes (bad option, missing key, unknown variable) are raised as IPython's plain
  ``UsageError`` by the magic: IPython prints them as one line with no traceback, and only for
  that exact class (ipython#14024), so they are *not* part of this hierarchy.
* Everything that goes wrong on the way to or from the API derives from :class:`GeminiError`.
  These stop "Run All" and print a short trace through ``_render_traceback_`` instead of
  IPython's full one, which would only show our own frames.

    GeminiError
    ├── GeminiAPIError        the API answered with an ``{"error": …}`` body (before or mid-stream)
    ├── GeminiConnectionError could not connect, timed out, or the connection dropped
    ├── GeminiStreamError     the stream was malformed or ended without a finishReason
    ├── GeminiAnswerError     a well-formed response that holds no answer (blocked, cut, …)
    └── GeminiInterrupted     Ctrl-C while the answer streamed (also a KeyboardInterrupt)

Messages often quote the server, so :func:`printable` strips control characters from them before
they reach a terminal.
"""

from __future__ import annotations

import re
import sys
from typing import Any

__all__ = [
    "GeminiAPIError",
    "GeminiAnswerError",
    "GeminiConnectionError",
    "GeminiError",
    "GeminiInterrupted",
    "GeminiStreamError",
    "printable",
    "warn_line",
]

# ESC sequences whole (CSI, OSC such as window titles and OSC 52 clipboard writes, DCS/APC/PM/SOS,
# and two-character escapes), then any other C0 control but tab and newline, DEL, and C1.
_ESCAPES = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -/]*[0-~]?)"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def printable(text: str) -> str:
    """*text* without anything a terminal would act on (colours, titles, clipboard, clear screen)."""
    return _ESCAPES.sub("", text)


SHOWN_MESSAGE = 2000  # characters of a server's error message in the one-line error; .message keeps it all


class GeminiError(Exception):
    """Any failure on the way to or from the API; ``except GeminiError:`` catches them all.

    ``str(error)`` is one plain sentence meant for the notebook user. The subclasses say what went
    wrong: :class:`GeminiAPIError` (the API refused), :class:`GeminiConnectionError`,
    :class:`GeminiStreamError`, :class:`GeminiAnswerError` and :class:`GeminiInterrupted`.
    """

    #: Filled in by the magic, so the short trace can say what was kept.
    partial_chars: int = 0
    #: The partial ``GeminiResponse`` received before the failure, for code that calls ``generate()``.
    response: Any = None

    def _render_traceback_(self) -> list[str]:
        """Short trace for IPython: the error class and message, plus what was kept."""
        red, reset = "\x1b[31m", "\x1b[0m"
        lines = [f"{red}{type(self).__name__}{reset}: {printable(str(self))}"]
        if self.partial_chars:
            lines.append(
                f"The {self.partial_chars} characters received before the failure are kept on screen and in _gemini."
            )
        return lines


class GeminiAPIError(GeminiError):
    """The API refused the request or failed mid-answer: a bad key, a quota, an invalid option…

    ``code`` (HTTP status, e.g. 429), ``status`` (e.g. ``"RESOURCE_EXHAUSTED"``), ``message`` (the
    API's words) and ``details`` (its ``google.rpc`` detail objects) come from the API's ``error`` body.
    """

    def __init__(
        self,
        code: int,
        status: str,
        message: str,
        details: list[Any] | None = None,
        *,
        mid_stream: bool = False,
    ) -> None:
        self.code = code
        self.status = status
        self.message = message
        self.details = details or []
        self.mid_stream = mid_stream
        self.retry_after: float | None = None  # from an HTTP Retry-After header, if any
        prefix = f"{code} {status}".strip()[:80]
        where = " (sent mid-stream)" if mid_stream else ""
        shown = message if len(message) <= SHOWN_MESSAGE else f"{message[:SHOWN_MESSAGE]}… (see .message for all of it)"
        super().__init__(f"{prefix}: {shown}{where}" if prefix else shown)

    @classmethod
    def from_body(cls, body: Any, http_status: int = 0, *, mid_stream: bool = False) -> GeminiAPIError:
        """Build from a decoded error body; tolerate gateways that send other shapes."""
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            return cls(
                int(err.get("code") or http_status or 0),
                str(err.get("status") or ""),
                str(err.get("message") or "(no message)"),
                err.get("details") if isinstance(err.get("details"), list) else None,
                mid_stream=mid_stream,
            )
        if isinstance(err, str):
            return cls(http_status, "", err, mid_stream=mid_stream)
        return cls(http_status, "", f"unexpected error body: {str(body)[:300]}", mid_stream=mid_stream)

    def retry_delay(self) -> float | None:
        """Seconds from ``google.rpc.RetryInfo.retryDelay`` (a Duration like ``"34.4s"``) or Retry-After."""
        for detail in self.details:
            if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
                raw = str(detail.get("retryDelay", "")).strip()
                try:
                    return max(0.0, float(raw.removesuffix("s")))
                except ValueError:
                    break
        return self.retry_after

    def is_daily_quota(self) -> bool:
        """True when a ``QuotaFailure`` names a per-day quota: waiting minutes will not help."""
        for detail in self.details:
            if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("QuotaFailure"):
                for violation in detail.get("violations") or []:
                    if "PerDay" in str(violation.get("quotaId", "")):
                        return True
        return False


class GeminiConnectionError(GeminiError):
    """No usable connection: refused, unresolvable, timed out, or dropped mid-stream."""


class GeminiStreamError(GeminiError):
    """The stream broke the wire format: a malformed event, or no finishReason before the end."""


class GeminiAnswerError(GeminiError):
    """A complete response with nothing to show: a blocked prompt, an empty cut answer, and so on."""


class GeminiInterrupted(GeminiError, KeyboardInterrupt):
    """The user pressed Ctrl-C (interrupted the kernel) while the answer streamed.

    Still a ``KeyboardInterrupt``, so ``except KeyboardInterrupt`` and "Run All" behave as usual,
    but shown as one line instead of the trace through the network library.
    """

    def __init__(self, message: str = "stopped by the user (interrupt); the connection was closed") -> None:
        super().__init__(message)

    def _render_traceback_(self) -> list[str]:
        kept = f"; the {self.partial_chars} characters received are kept in _gemini" if self.partial_chars else ""
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self}{kept}"]


def warn_line(text: str) -> None:
    """One warning line on stderr, written at once: ``print`` writes the text and the newline
    separately, and a kernel may send them as two outputs."""
    sys.stderr.write(f"{text}\n")
    sys.stderr.flush()
