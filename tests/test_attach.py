"""``--attach`` in process (``_attach``): notebook objects and files become request parts in order,
before the prompt; anything that cannot be sent is one UsageError and nothing is sent."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from gemini_server import GeminiTestServer, sse, text_events
from IPython.core.error import UsageError
from shell import TestShell
from test_display import PNG

OBJECTS = """
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from pathlib import Path
from PIL import Image

fig, ax = plt.subplots(figsize=(1, 1)); ax.plot([1, 2]); plt.close(fig)
pil = Image.new("CMYK", (4, 3))
df = pd.DataFrame({"x": range(300)})
series = pd.Series([1, 2], name="s")
note = "A plain string."
readme = Path("notes.md")
"""


def test_objects_and_files_in_order_before_the_prompt(
    shell: TestShell, gemini: GeminiTestServer, tmp_path: Path
) -> None:
    (tmp_path / "notes.md").write_text("# Notes\r\nline\r\n")
    (tmp_path / "scan.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    shell.run(OBJECTS)
    shell.user_ns["png"] = PNG
    shell.user_ns["webp"] = bytearray(b"RIFF\x00\x00\x00\x00WEBPVP8 ")
    gemini.push(sse(text_events(["Seen."])))
    names = ["png", "webp", "fig", "pil", "df", "series", "note", "readme", "scan.pdf"]
    shell.run("%%gemini " + " ".join(f"--attach {n}" for n in names) + "\nDescribe")
    parts = gemini.requests[0].body["contents"][0]["parts"]
    mimes = [p["inlineData"]["mimeType"] if "inlineData" in p else "text" for p in parts]
    assert mimes == ["image/png", "image/webp", "image/png", "image/png", *["text"] * 4, "application/pdf", "text"]
    assert base64.b64decode(parts[0]["inlineData"]["data"]) == PNG
    from PIL import Image

    assert Image.open(io.BytesIO(base64.b64decode(parts[3]["inlineData"]["data"]))).size == (4, 3)  # CMYK → PNG
    assert parts[4]["text"].startswith("DataFrame `df` (300 rows × 1 columns; the first 200 rows are shown), as CSV:")
    assert "\n199,199\n" in parts[4]["text"] and "\n200," not in parts[4]["text"]
    assert parts[5]["text"].startswith("DataFrame `series` (2 rows), as CSV:")
    assert parts[6]["text"] == "`note`:\n\nA plain string."
    assert parts[7]["text"] == "File `notes.md`:\n\n```md\n# Notes\nline\n\n```"
    assert parts[-1] == {"text": "Describe"}


@pytest.mark.parametrize(
    ("setup", "attach", "message"),
    [
        ("", "missing.txt", "--attach missing.txt: no notebook variable and no file by that name"),
        ("blob = b'not an image'", "blob", "bytes that are not PNG, JPEG, WebP, GIF or PDF"),
        ("from pathlib import Path; gone = Path('gone.txt')", "gone", "--attach gone: no file at gone.txt"),
        ("import os; os.mkdir('folder')", "folder", "--attach folder: is a directory, not a file"),
        ("open('bin.dat', 'wb').write(b'\\xff\\xfe\\x00')", "bin.dat", "not a text file, nor an image or PDF"),
        ("thing = object()", "thing", "cannot send a object (attach images, figures"),
        ("big = b'%PDF-' + b'0' * (16 * 1024 * 1024)", "big", "over the 20 MB limit for inline data"),
    ],
)
def test_what_cannot_be_sent_is_one_usage_error(
    shell: TestShell, gemini: GeminiTestServer, setup: str, attach: str, message: str
) -> None:
    shell.run(setup)
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        shell.run(f"%%gemini --attach {attach}\nx")
    assert gemini.requests == []
