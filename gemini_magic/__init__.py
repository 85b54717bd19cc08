"""gemini-magic: Google's Gemini models in Jupyter, as ``%%gemini``.

Loading the extension imports only IPython-side glue; ``requests``, ``ipywidgets``,
``markdown`` and ``nh3`` are imported on the first call, so ``%load_ext gemini_magic`` is fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%%gemini`` (called by ``%load_ext gemini_magic``)."""
    from ._magics import GeminiMagic

    ipython.register_magics(GeminiMagic)


def unload_ipython_extension(ipython: Any) -> None:
    """Close pooled connections and remove the input transformer the magic added."""
    from ._magics import _keep_question_marks

    if _keep_question_marks in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.remove(_keep_question_marks)
    magics = ipython.magics_manager.registry.get("GeminiMagic")
    if magics is not None and magics._client is not None:
        magics._client.close()
