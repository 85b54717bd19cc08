"""gemini-magic: Google's Gemini models in Jupyter, as ``%%gemini``, and from Python code.

In a notebook::

    %load_ext gemini_magic

    %%gemini -m gemini-3-flash-preview --search
    Summarise {topic} for a first-year student, with sources.

From code (same settings, cache and retries; shows nothing unless ``display=True``)::

    from gemini_magic import generate
    answer = generate("Name three moons of Jupiter", temperature=0)
    answer.text

Loading the extension imports only IPython-side glue; ``requests``, ``ipywidgets``, ``markdown``
and ``nh3`` are imported on the first call, and the public names below on first access, so
``%load_ext gemini_magic`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = [
    "GeminiAPIError",
    "GeminiAnswerError",
    "GeminiAudio",
    "GeminiCandidate",
    "GeminiConnectionError",
    "GeminiError",
    "GeminiImage",
    "GeminiInterrupted",
    "GeminiResponse",
    "GeminiStreamError",
    "TokenCount",
    "__version__",
    "embed",
    "generate",
    "generate_each",
    "load_ipython_extension",
    "unload_ipython_extension",
]

if TYPE_CHECKING:
    from ._answer import GeminiCandidate
    from ._api import generate
    from ._audio import GeminiAudio
    from ._count import TokenCount
    from ._embed import embed
    from ._errors import (
        GeminiAnswerError,
        GeminiAPIError,
        GeminiConnectionError,
        GeminiError,
        GeminiInterrupted,
        GeminiStreamError,
    )
    from ._images import GeminiImage
    from ._response import GeminiResponse
    from ._rows import generate_each

_LAZY = {
    "generate": "_api",
    "generate_each": "_rows",
    "embed": "_embed",
    "GeminiResponse": "_response",
    "GeminiImage": "_images",
    "GeminiAudio": "_audio",
    "GeminiCandidate": "_answer",
    "TokenCount": "_count",
    **dict.fromkeys(
        (
            "GeminiError",
            "GeminiAPIError",
            "GeminiAnswerError",
            "GeminiConnectionError",
            "GeminiInterrupted",
            "GeminiStreamError",
        ),
        "_errors",
    ),
}


def __getattr__(name: str) -> Any:
    """The public names, imported on first access (PEP 562)."""
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%%gemini`` (called by ``%load_ext gemini_magic``)."""
    from ._magics import GeminiMagic

    ipython.register_magics(GeminiMagic)


def unload_ipython_extension(ipython: Any) -> None:
    """Close pooled connections; remove the input transformer and the cell-error recorder."""
    from . import _context
    from ._magics import _keep_question_marks

    if _keep_question_marks in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.remove(_keep_question_marks)
    _context.uninstall(ipython)
    magics = ipython.magics_manager.registry.get("GeminiMagic")
    if magics is not None and magics._client is not None:
        magics._client.close()
