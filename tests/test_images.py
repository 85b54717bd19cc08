"""Images the model returns (``_images``): decoded once, kept in ``_gemini.images``, easy to save."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import pytest
from gemini_server import GeminiTestServer, sse, text_events
from shell import TestShell
from test_display import PNG

from gemini_magic._images import image_of, pixel_size


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
    assert repr(image) == "GeminiImage(image/png, 1×1, 70 bytes)"
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


def png_of(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk (all :func:`pixel_size` reads)."""
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sII", 13, b"IHDR", width, height) + bytes(9)


def test_image_size_read_from_each_format_header() -> None:
    assert pixel_size(PNG) == (1, 1)
    assert pixel_size(png_of(2048, 1152)) == (2048, 1152)
    assert pixel_size(b"GIF89a" + struct.pack("<HH", 640, 480) + bytes(8)) == (640, 480)
    # JPEG: SOI, an APP0 segment to skip, then SOF0 with height 1536 and width 2752
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + bytes(14)
    sof0 = b"\xff\xc0" + struct.pack(">HBHH", 17, 8, 1536, 2752) + bytes(12)
    assert pixel_size(b"\xff\xd8" + app0 + sof0) == (2752, 1536)
    assert pixel_size(b"\xff\xd8" + app0 + b"\xff" + sof0) == (2752, 1536)  # a fill byte before the marker
    webp_x = b"RIFF" + bytes(4) + b"WEBPVP8X" + bytes(8) + (4095).to_bytes(3, "little") + (2047).to_bytes(3, "little")
    assert pixel_size(webp_x) == (4096, 2048)
    bits = (1023) | (767 << 14)
    assert pixel_size(b"RIFF" + bytes(4) + b"WEBPVP8L" + bytes(5) + bits.to_bytes(4, "little")) == (1024, 768)
    assert pixel_size(b"RIFF" + bytes(4) + b"WEBPVP8 " + bytes(10) + struct.pack("<HH", 300, 200)) == (300, 200)
    assert pixel_size(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00") is None  # cut short
    assert pixel_size(b"\xff\xd8\x00\x00" + bytes(20)) is None and pixel_size(b"") is None
    big = image_of(image_part("image/png", base64.b64encode(png_of(4096, 4096)).decode()))
    assert big is not None and big.size == (4096, 4096)
    assert repr(big).startswith("GeminiImage(image/png, 4096×4096, ")


@pytest.mark.parametrize(
    ("line", "config"),
    [
        ("--image-size 2k", {"responseModalities": ["TEXT", "IMAGE"], "imageConfig": {"imageSize": "2K"}}),
        (
            "--image-size 4K --aspect-ratio 16:9",
            {"responseModalities": ["TEXT", "IMAGE"], "imageConfig": {"aspectRatio": "16:9", "imageSize": "4K"}},
        ),
        ("--aspect-ratio 1:1", {"responseModalities": ["TEXT", "IMAGE"], "imageConfig": {"aspectRatio": "1:1"}}),
        ("--media-resolution low", {"mediaResolution": "MEDIA_RESOLUTION_LOW"}),
        ("--media-resolution High", {"mediaResolution": "MEDIA_RESOLUTION_HIGH"}),
    ],
)
def test_image_and_resolution_options_in_the_request_body(
    shell: TestShell, gemini: GeminiTestServer, line: str, config: dict[str, object]
) -> None:
    gemini.push(sse(text_events(["ok"])))
    shell.run(f"%%gemini {line}\nDraw")
    (request,) = gemini.requests
    assert request.body["generationConfig"] == config
    assert set(request.body) == {"contents", "generationConfig"}  # nothing at the top level
