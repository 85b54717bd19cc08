"""Images the model returns (``_images``): decoded once, kept in ``_gemini.images``, easy to save."""

from __future__ import annotations

import base64
from pathlib import Path

from gemini_server import GeminiTestServer, sse, text_events
from shell import TestShell
from test_display import PNG

from gemini_magic._images import image_of


def image_part(mime: str, data: str) -> dict[str, object]:
    return {"inlineData": {"mimeType": mime, "data": data}}


def test_an_answer_image_is_kept_shown_and_saved(shell: TestShell, gemini: GeminiTestServer, tmp_path: Path) -> None:
    event = {
        "candidates": [
            {"content": {"role": "model", "parts": [image_part("image/png", base64.b64encode(PNG).decode())]}}
        ]
    }
    gemini.push(sse([event, *text_events(["A dot."])]))
    shell.run("%%gemini --image\nDraw a dot")
    assert gemini.requests[0].body["generationConfig"]["responseModalities"] == ["TEXT", "IMAGE"]
    (image,) = shell.user_ns["_gemini"].images
    assert repr(image) == "GeminiImage(image/png, 70 bytes)"
    shown, _ = shell.display_formatter.format(image)  # what a cell ending with it shows
    assert shown == {"image/png": PNG, "text/plain": repr(image)}
    assert image.base64() == base64.b64encode(PNG).decode()
    (tmp_path / "out").mkdir()
    assert image.save(tmp_path / "out") == tmp_path / "out" / "gemini-image.png"
    assert image.save(tmp_path / "named") == tmp_path / "named.png"
    assert image.save(tmp_path / "as.bin").read_bytes() == PNG


def test_image_parts_in_any_base64_and_only_of_image_types() -> None:
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256))
    urlsafe = base64.urlsafe_b64encode(jpeg).decode().rstrip("=")
    found = image_of(image_part("IMAGE/JPEG", urlsafe))
    assert found is not None and found.data == jpeg and found.extension == "jpg"
    assert image_of(image_part("application/pdf", base64.b64encode(b"%PDF-").decode())) is None
    assert image_of(image_part("image/png", "abcde")) is None
    assert image_of(image_part("image/png", "")) is None
    assert image_of({"inlineData": "nope"}) is None and image_of({"text": "x"}) is None
