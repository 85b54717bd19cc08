"""The answer part of the final output: every candidate under its heading, each with its sources.

One answer (the usual case) is shown as before, without a heading. With ``--candidates N`` each
answer comes under "Answer 1", "Answer 2", … in HTML and plain text alike (the Markdown follows the
same layouts, :func:`candidate_layouts`), and each answer's grounding sources follow that answer
(their ``[n]`` markers number that answer's sources). Speech shows as a player in HTML and as a
note saying how to keep it in plain text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._answer import GeminiCandidate
from ._audio import AudioRun
from ._citations import sources_html
from ._images import GeminiImage
from ._layout import AnswerLayout
from ._response import GeminiResponse

__all__ = ["AnswerSections", "answer_sections", "candidate_layouts"]


@dataclass(frozen=True)
class AnswerSections:
    """The answers, rendered: HTML strings and images in order, and the plain text."""

    segments: list[str | GeminiImage]
    plain: str


def answer_sections(response: GeminiResponse, layout: AnswerLayout) -> AnswerSections:
    """All candidates of *response*, rendered from *layout* (the live view's, so nothing is rendered twice)."""
    segments: list[str | GeminiImage] = []
    plain: list[str] = []
    for answer, candidate in candidate_layouts(response, layout):
        for piece in [*answer.final_segments(candidate), sources_html(candidate)]:
            if isinstance(piece, str) and segments and isinstance(segments[-1], str):
                segments[-1] += piece
            elif piece != "":
                segments.append(piece)
        plain.append(_plain(answer, GeminiCandidate(candidate).text))
    return AnswerSections(segments or [""], "\n\n".join(plain))


def candidate_layouts(response: GeminiResponse, layout: AnswerLayout) -> list[tuple[AnswerLayout, dict[str, Any]]]:
    """Each candidate of *response* with its layout (*layout* for the first, :attr:`AnswerLayout.others`
    for the rest); one the live view never saw is laid out now."""
    pairs = []
    for candidate in response.get("candidates") or [{}]:
        index = candidate.get("index") or 0
        if index == 0:
            pairs.append((layout, candidate))
            continue
        seen = index in layout.others
        answer = layout.other(index)
        if not seen:
            answer.add((candidate.get("content") or {}).get("parts") or [])
        pairs.append((answer, candidate))
    return pairs


def _plain(answer: AnswerLayout, text: str) -> str:
    """The answer's text as is, with its heading and a line for each recording (how to keep it)."""
    notes = [run.note() for run in answer.runs if isinstance(run, AudioRun)]
    lines = [answer.heading(), text or ("" if notes else "(no text)"), *notes]
    return "\n".join(line for line in lines if line)
