"""``--attach`` in process (``_attach``): notebook objects, files and YouTube links become request
parts in order, before the prompt; audio and video are named by extension and first bytes; anything
that cannot be sent is one UsageError and nothing is sent."""

from __future__ import annotations

import base64
import io
import re
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
        ("blob = b'not an image'", "blob", "bytes that are not PNG, JPEG, WebP, GIF, PDF, audio or video"),
        ("from pathlib import Path; gone = Path('gone.txt')", "gone", "--attach gone: no file at gone.txt"),
        ("import os; os.mkdir('folder')", "folder", "--attach folder: is a directory, not a file"),
        ("open('bin.dat', 'wb').write(b'\\xff\\xfe\\x00')", "bin.dat", "not a text file, nor an image, PDF, audio or"),
        ("thing = object()", "thing", "cannot send a object (attach images, figures, audio, video"),
        ("from IPython.display import Audio; a = Audio(url='https://x/a.wav')", "a", "this Audio holds no data"),
        ("", "https://www.youtube.com/playlist?list=PL1", "not a link to one YouTube video (watch?v=…"),
        ("", "https://example.com/a.mp4", "only YouTube links are attached as links; download the file"),
    ],
)
def test_what_cannot_be_sent_is_one_usage_error(
    shell: TestShell, gemini: GeminiTestServer, setup: str, attach: str, message: str
) -> None:
    shell.run(setup)
    with pytest.raises(UsageError, match=re.escape(message)):
        shell.run(f"%%gemini --attach {attach}\nx")
    assert gemini.requests == []


WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28)
MEDIA = {  # file name → (first bytes, the type sent)
    "a.wav": (WAV, "audio/wav"),
    "a.mp3": (b"ID3\x04\x00" + bytes(20), "audio/mp3"),
    "frames.mp3": (b"\xff\xfb\x90\x00" + bytes(20), "audio/mp3"),
    "a.aiff": (b"FORM\x00\x00\x00\x20AIFFCOMM" + bytes(20), "audio/aiff"),
    "a.aac": (b"\xff\xf1\x50\x80" + bytes(20), "audio/aac"),
    "a.ogg": (b"OggS\x00\x02" + bytes(20), "audio/ogg"),
    "a.flac": (b"fLaC\x00\x00\x00\x22" + bytes(20), "audio/flac"),
    "recording.bin": (b"fLaC\x00\x00\x00\x22" + bytes(20), "audio/flac"),  # the bytes say what it is
    "cover.mp3": (b"\x89PNG\r\n\x1a\n" + bytes(20), "image/png"),  # …even against the extension
}


def test_audio_files_go_inline_named_by_extension_and_bytes(
    shell: TestShell, gemini: GeminiTestServer, tmp_path: Path
) -> None:
    for name, (head, _) in MEDIA.items():
        (tmp_path / name).write_bytes(head)
    gemini.push(sse(text_events(["Heard."])))
    shell.run("%%gemini " + " ".join(f"--attach {n}" for n in MEDIA) + "\nTranscribe")
    parts = gemini.requests[0].body["contents"][0]["parts"]
    assert [p["inlineData"]["mimeType"] for p in parts[:-1]] == [mime for _, mime in MEDIA.values()]
    assert base64.b64decode(parts[0]["inlineData"]["data"]) == WAV


VIDEO_HEADS = {
    "a.mp4": (b"\x00\x00\x00\x18ftypisom", "video/mp4"),
    "a.mov": (b"\x00\x00\x00\x14ftypqt  ", "video/mov"),
    "a.3gp": (b"\x00\x00\x00\x14ftyp3gp4", "video/3gpp"),
    "a.mpeg": (b"\x00\x00\x01\xba\x44", "video/mpeg"),
    "a.mpg": (b"\x00\x00\x01\xba\x44", "video/mpg"),
    "a.avi": (b"RIFF\x00\x00\x00\x00AVI LIST", "video/avi"),
    "a.flv": (b"FLV\x01\x05", "video/x-flv"),
    "a.webm": (b"\x1a\x45\xdf\xa3\x9f", "video/webm"),
    "a.wmv": (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "video/wmv"),
    "clip.dat": (b"\x00\x00\x00\x18ftypmp42", "video/mp4"),
}


def test_every_video_type_goes_through_the_files_api() -> None:
    from gemini_magic._attach import Media, attachment_parts

    uploaded: list[Media] = []

    def upload(media: Media) -> dict[str, object]:
        uploaded.append(media)
        return {"fileData": {"mimeType": media.mime, "fileUri": "u"}}

    import os
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        for name, (head, _) in VIDEO_HEADS.items():
            Path(folder, name).write_bytes(head + bytes(100))
        names = tuple(os.path.join(folder, n) for n in VIDEO_HEADS)
        parts = attachment_parts(names, {}, upload=upload)  # tiny, but video is read from the Files API
        assert [m.mime for m in uploaded] == [mime for _, mime in VIDEO_HEADS.values()]
        assert all(m.path is not None and m.size == len(VIDEO_HEADS[m.path.name][0]) + 100 for m in uploaded)
        assert parts == [{"fileData": {"mimeType": m.mime, "fileUri": "u"}} for m in uploaded]
        with pytest.raises(UsageError, match="video is read from the Files API, which this call cannot use"):
            attachment_parts(names[:1], {})


def test_audio_objects_and_bytes_go_inline(shell: TestShell, gemini: GeminiTestServer) -> None:
    shell.run(
        "import numpy as np\nfrom IPython.display import Audio\n"
        "tone = Audio(np.sin(np.linspace(0, 440, 8000)), rate=8000)\n"
        f"wav = {WAV!r}\nogg = b'OggS' + bytes(30)"
    )
    gemini.push(sse(text_events(["Heard."])))
    shell.run("%%gemini --attach tone --attach wav --attach ogg\nWhat is it?")
    parts = gemini.requests[0].body["contents"][0]["parts"]
    assert [p["inlineData"]["mimeType"] for p in parts[:-1]] == ["audio/wav", "audio/wav", "audio/ogg"]
    assert base64.b64decode(parts[0]["inlineData"]["data"]) == shell.user_ns["tone"].data


@pytest.mark.parametrize(
    "link",
    [
        "https://www.youtube.com/watch?v=9hE5-98ZeCg",
        "https://youtube.com/watch?feature=share&v=9hE5-98ZeCg&t=10s",
        "youtube.com/watch?v=9hE5-98ZeCg",
        "https://youtu.be/9hE5-98ZeCg?si=abc",
        "https://m.youtube.com/shorts/9hE5-98ZeCg",
        "http://www.youtube.com/live/9hE5-98ZeCg",
    ],
)
def test_youtube_links_become_file_data_with_the_watch_url(
    shell: TestShell, gemini: GeminiTestServer, link: str
) -> None:
    gemini.push(sse(text_events(["Watched."])), sse(text_events(["Again."])))
    shell.user_ns["video"] = link
    shell.run(f"%%gemini --attach '{link}'\nSummarise")
    shell.run("%%gemini --attach video\nSummarise")  # a string variable holding a link too
    for request in gemini.requests:
        assert request.body["contents"][0]["parts"][0] == {
            "fileData": {"fileUri": "https://www.youtube.com/watch?v=9hE5-98ZeCg"}
        }
