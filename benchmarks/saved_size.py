"""How big a saved notebook is next to the answers it holds (issue 13, item 7). Prints figures.

Run:  .venv/bin/python benchmarks/saved_size.py [--answers N]

For each kind of answer — prose (1.4, 2.7 and 4.1 kB), a mixed answer (a heading, a list, a table,
a code block; 1.2 and 4.7 kB), a cited answer (the recorded Google Search stream) and an image
answer (text, a 640×480 PNG, text) — a notebook of ``%load_ext gemini_magic`` and N answer cells is
executed by nbclient as ``nbconvert --execute`` does, written with nbformat, and measured: the
saved size over the answers' text (for the image answer, over text + the image's base64, which the
notebook holds anyway), as JupyterLab saves it by default and as ``nbconvert --execute`` does.
Under each kind, what each part of an answer cell adds to the file (text/html, text/markdown,
text/plain, the output metadata, the cell's own JSON; content → as written, which adds nbformat's
one JSON string per line, indentation, quotes and escapes) and the stylesheet inside the HTML. The
issue's goal is ≤ 2.5 ×. Google's Search Suggestions chip (HTML that Google sends and its terms
require us to show) is a fixed ~5 kB per cited answer, so the cited line also gives the ratio
without it. Everything talks to the loopback server; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import struct
import sys
import zlib
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import nbformat  # noqa: E402 - tests/ and benchmarks/ are on the path only now
from gemini_server import GeminiTestServer, Reply, fixture_bytes, fixture_sse, sse, text_events  # noqa: E402
from kernels import kernel_env  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

KEY = "bench-fake-key"
GOAL = 2.5
SEARCH = "pydantic-ai__google-search-grounding_gemini-2.5-pro.sse"
WIDGETS = "application/vnd.jupyter.widget-state+json"


def png(width: int = 640, height: int = 480) -> bytes:
    """A real PNG (a smooth gradient, a few kB), built without an imaging library."""
    raw = b"".join(
        b"\0" + b"".join(bytes((x * 255 // width, y * 255 // height, 128)) for x in range(width)) for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


ANSWER = """## How {topic} works

{topic} is easier to follow as a sequence of steps than as one definition. In short: energy comes in, something is transformed along the way, and what is left over leaves the system. Each step below names what goes in and what comes out, so the whole process can be checked piece by piece.

1. **The input.** Everything starts with a source of energy; without it nothing else happens.
2. **The transformation.** The energy is stored in a form the system can use later, such as a chemical bond or a charged battery.
3. **The output.** What was made is used, and the waste is released to the surroundings.

A small table of the quantities involved:

| quantity | typical value | unit |
|---|---:|---|
| input power | 120 | W |
| efficiency | 0.35 | — |
| output power | 42 | W |

The same calculation in Python, for checking your own numbers:

```python
def output_power(input_power: float, efficiency: float) -> float:
    return input_power * efficiency
```

Two things students often get wrong: the efficiency is a fraction, not a percentage, and the output can never exceed the input. If your result does, look again at the units of each step.
"""  # noqa: E501 - models write a paragraph on one line


PROSE = """Photosynthesis is how plants, algae and some bacteria turn light into chemical energy. In the leaves, **chlorophyll** absorbs mostly red and blue light and uses that energy to split water into oxygen, protons and electrons. The oxygen is released into the air, which is why forests and the ocean's phytoplankton matter so much for the atmosphere we breathe.

The electrons travel along a chain of proteins in the thylakoid membrane. As they move, protons are pumped across the membrane, and the flow of protons back through an enzyme called ATP synthase makes ATP, the cell's energy currency. The same chain also produces NADPH, a carrier of electrons.

In the second stage, the **Calvin cycle**, the plant uses ATP and NADPH to fix carbon dioxide from the air into sugars. The key enzyme, RuBisCO, is probably the most abundant protein on Earth, yet it is slow and sometimes grabs oxygen instead of carbon dioxide, which wastes energy.

Some plants have found ways around this: maize and sugarcane concentrate carbon dioxide around RuBisCO (C4 photosynthesis), and cacti open their pores only at night (CAM) to save water. These strategies are why some crops grow so well in hot, dry places.

For a first-year student, the short version is: light in, water split, oxygen out, energy stored as ATP and NADPH, and that energy used to build sugar from carbon dioxide.
"""  # noqa: E501 - models write a paragraph on one line


def prose_answer(n: int, repeat: int = 1) -> tuple[Reply, int]:
    """Five paragraphs of explanation (~1.4 kB, or *repeat* times as long), the kind of answer a
    teaching notebook is full of."""
    text = "\n".join(PROSE.replace("Photosynthesis", f"Photosynthesis ({n}.{k})", 1) for k in range(repeat))
    step = len(text) // 20 + 1
    return sse(text_events([text[i : i + step] for i in range(0, len(text), step)])), len(text)


def text_answer(n: int, repeat: int = 1) -> tuple[Reply, int]:
    """A typical chat answer (a heading, paragraphs, a list, a table, a code block: ~1.2 kB, or
    *repeat* of them), in 20 events."""
    text = "\n".join(ANSWER.format(topic=f"Process {n}.{k}") for k in range(repeat))
    step = len(text) // 20 + 1
    return sse(text_events([text[i : i + step] for i in range(0, len(text), step)])), len(text)


def cited_answer(n: int) -> tuple[Reply, int]:
    """The recorded grounded answer (926 characters, 5 sources, Search Suggestions)."""
    raw = fixture_bytes(SEARCH).decode()
    chars = 0
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        if block.startswith("data:"):
            for candidate in json.loads(block[5:]).get("candidates", []):
                chars += sum(len(p.get("text", "")) for p in candidate.get("content", {}).get("parts", []))
    return fixture_sse(SEARCH), chars


def image_answer(n: int, picture: bytes = png()) -> tuple[Reply, int]:
    """A sentence, a 640×480 PNG, a paragraph: counted as text plus the image's base64."""
    before, after = f"Here is picture {n}, as asked.", "It shows a gradient from dark to light. " * 12
    image = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(picture).decode()}}
    events = text_events([before, after])
    events.insert(1, {"candidates": [{"content": {"role": "model", "parts": [image]}}]})
    return sse(events), len(before) + len(after) + len(image["inlineData"]["data"])


def measure(
    server: GeminiTestServer, make: Callable[[int], tuple[Reply, int]], answers: int, magic: str
) -> dict[str, Any]:
    """Execute a notebook of *answers* cells answered by *make*; sizes of what nbformat writes.

    ``saved`` is the notebook as ``nbconvert --execute`` writes it (widget state, execution times);
    ``lab`` as JupyterLab saves it by default (neither: its "save widget state" and "record timing"
    are off); ``parts`` what each component of the answer cells adds to the ``lab`` file.
    """
    server.reset()
    chars = 0
    for n in range(answers):
        reply, size = make(n)
        server.push(reply)
        chars += size
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("%load_ext gemini_magic\n%config GeminiMagic.log = False")]
    nb.cells += [nbformat.v4.new_code_cell(f"{magic}\nQuestion {n}") for n in range(answers)]
    NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True).execute(
        env=kernel_env(server.url, KEY)
    )
    saved = nbformat.writes(nb)
    models = len(nb.metadata.get("widgets", {}).get(WIDGETS, {}).get("state", {}))
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    lab = nbformat.writes(nb)
    css = sum(len(m) for m in re.findall(r"<style>.*?</style>", lab))  # our stylesheet (_theme)
    return {
        "saved": len(saved),
        "lab": len(lab),
        "chars": chars,
        "models": models,
        "chip": chip_size(saved),
        "css": css,
        "parts": breakdown(nb, len(lab)),
    }


def chip_size(saved: str) -> int:
    """Bytes of Google's Search Suggestions HTML (the iframe's ``srcdoc``) in a saved notebook."""
    return sum(len(rest.split('\\"')[0]) for rest in saved.split('srcdoc=\\"')[1:])


def breakdown(nb: Any, total: int) -> dict[str, tuple[int, int]]:
    """What each component of the answer cells adds to the saved file, as (characters of content,
    characters nbformat writes for it): each is measured by writing the notebook without it, so the
    second figure includes nbformat's one JSON string per line, its indentation, quotes and escapes."""
    answers = nb.cells[1:]

    def without(strip: Callable[[Any], None]) -> int:
        copy = nbformat.from_dict(json.loads(nbformat.writes(nb)))
        for cell in copy.cells[1:]:
            strip(cell)
        return total - len(nbformat.writes(copy))

    def drop_mime(mime: str) -> Callable[[Any], None]:
        def strip(cell: Any) -> None:
            for output in cell.outputs:
                output.get("data", {}).pop(mime, None)

        return strip

    def raw(mime: str) -> int:
        return sum(len(o.get("data", {}).get(mime, "")) for c in answers for o in c.outputs)

    parts: dict[str, tuple[int, int]] = {}
    mimes = sorted({m for c in answers for o in c.outputs for m in o.get("data", {})})
    for mime in mimes:
        parts[mime] = (raw(mime), without(drop_mime(mime)))
    metadata = sum(len(json.dumps(o.get("metadata", {}), ensure_ascii=False)) for c in answers for o in c.outputs)
    parts["output metadata"] = (metadata, without(lambda c: [o.__setitem__("metadata", {}) for o in c.outputs]))
    rest = total - sum(stored for _, stored in parts.values())
    fixed = len(nbformat.writes(nbformat.from_dict({**nb, "cells": nb.cells[:1]})))
    parts["cells, outputs (JSON)"] = (0, rest - fixed)
    parts["notebook, first cell"] = (0, fixed)
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=10)
    args = parser.parse_args()
    server = GeminiTestServer().start()
    try:
        print(f"Saved notebook / answer text, {args.answers} answers each; goal ≤ {GOAL} ×")
        print("(JupyterLab's default save: no widget state, no execution times; nbconvert --execute keeps both.")
        print(" The image answer counts its base64 as answer text.)\n")
        for label, make, magic in (
            ("prose answer", prose_answer, "%%gemini"),
            ("prose, 2× long", partial(prose_answer, repeat=2), "%%gemini"),
            ("prose, 3× long", partial(prose_answer, repeat=3), "%%gemini"),
            ("mixed answer", text_answer, "%%gemini"),
            ("4× as long", partial(text_answer, repeat=4), "%%gemini"),
            ("cited answer", cited_answer, "%%gemini --search"),
            ("image answer", image_answer, "%%gemini --image"),
        ):
            m = measure(server, make, args.answers, magic)
            lab, saved = m["lab"] / m["chars"], m["saved"] / m["chars"]
            widgets = (m["saved"] - m["lab"]) / args.answers
            line = (
                f"{label:<15} {m['chars'] / args.answers:>7,.0f} chars/answer: {lab:4.2f} × as JupyterLab saves"
                f" ({m['lab']:,} bytes); {saved:4.2f} × from nbconvert --execute"
                f" (+{widgets:,.0f} bytes/answer of widget state and times, {m['models']} models)"
            )
            if m["chip"]:
                line += f"; {(m['lab'] - m['chip']) / m['chars']:4.2f} × without Google's chip"
            print(line + ("" if lab <= GOAL else "   — over the goal"))
            for name, (content, stored) in m["parts"].items():
                size = f"{content / args.answers:>8,.0f} →" if content else " " * 10
                print(f"    {name:<24}{size}{stored / args.answers:>8,.0f} bytes/answer")
            print(f"    {'(stylesheet, in html)':<24}{m['css'] / args.answers:>8,.0f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
