"""Speech out (``--speech``, ``--speakers``; ``_audio``): raw PCM wrapped as WAV, joined across a
stream, capped, shown as a player that survives saving, and saved by ``_gemini.audio[0].save()``."""

from __future__ import annotations

import base64
import io
import json
import re
import struct
import time
import wave
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from conftest import displays
from gemini_server import GeminiTestServer, Reply, sse, text_events
from ipywidgets.widgets.widget import _instances
from kernels import Kernel
from media_replies import PCM_MIME, audio_part, speech_events, speech_reply, tone
from shell import Shown, TestShell

from gemini_magic._audio import MAX_AUDIO_BYTES, GeminiAudio, audio_of, pcm_format, wav_bytes
from gemini_magic._display import MAX_INTERVAL
from gemini_magic._errors import GeminiStreamError
from gemini_magic._response import ResponseAccumulator
from gemini_magic._sanitize import sanitize

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PLAYER = re.compile(r'<audio controls="" src="data:audio/wav;base64,([A-Za-z0-9+/=]+)"></audio>')


def players(fragment: str) -> list[dict[str, str | None]]:
    """The attributes of every <audio> element a browser would build from *fragment*."""
    found: list[dict[str, str | None]] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "audio":
                found.append(dict(attrs))
            assert tag not in ("source", "script", "video"), tag

    Parser().feed(fragment)
    return found


# -- the WAV wrapper ------------------------------------------------------------------------------


def test_wav_header_fields_and_duration() -> None:
    pcm = tone(1.0)
    audio = GeminiAudio(pcm, PCM_MIME)
    data = audio.data
    assert len(data) == 44 + len(pcm) == 48_044
    assert data[0:4] == b"RIFF" and struct.unpack("<I", data[4:8])[0] == 36 + len(pcm)
    assert data[8:16] == b"WAVEfmt " and struct.unpack("<I", data[16:20])[0] == 16
    assert struct.unpack("<HHIIHH", data[20:36]) == (1, 1, 24_000, 48_000, 2, 16)
    assert data[36:40] == b"data" and struct.unpack("<I", data[40:44])[0] == len(pcm)
    assert audio.pcm == pcm and audio.rate == 24_000 and audio.channels == 1
    assert audio.mime == "audio/wav" and audio.source_mime == PCM_MIME and audio.extension == "wav"
    assert audio.duration == 1.0
    assert repr(audio) == "GeminiAudio(audio/wav, 1.00 s, 24000 Hz, 48,044 bytes)"


def test_rate_and_channels_come_from_the_mime_parameters() -> None:
    stereo = GeminiAudio(bytes(64_000), "AUDIO/L16; codec=pcm; rate=16000; channels=2")
    assert (stereo.rate, stereo.channels, stereo.duration) == (16_000, 2, 1.0)
    assert struct.unpack("<HHIIHH", stereo.data[20:36]) == (1, 2, 16_000, 64_000, 4, 16)
    assert pcm_format("audio/L16;codec=pcm") == (24_000, 1)  # Gemini's defaults when unsaid
    assert pcm_format("audio/L16;rate=abc;channels=0") == (24_000, 1)
    assert pcm_format("audio/L16;rate=99999999") == (24_000, 1)
    assert pcm_format("audio/L16;rate=²;channels=" + "9" * 5000) == (24_000, 1)  # no int() of odd digits
    assert pcm_format("audio/pcm;rate=8000") == (8_000, 1)
    assert pcm_format("audio/mpeg") is None and pcm_format("audio/wav") is None


def test_other_audio_types_are_kept_as_sent(tmp_path: Path) -> None:
    mp3 = b"ID3\x04" + bytes(100)
    audio = GeminiAudio(mp3, "audio/mpeg")
    assert audio.data == mp3 and audio.mime == "audio/mpeg" and audio.extension == "mp3"
    assert audio.duration is None and audio.pcm is None and audio.rate is None
    assert audio.save(tmp_path / "song") == tmp_path / "song.mp3"
    wav = wav_bytes(tone(0.5, 8_000), 8_000)
    kept = audio_of({"inlineData": {"mimeType": "audio/wav", "data": base64.b64encode(wav).decode()}})
    assert kept is not None and kept.data == wav and (kept.rate, kept.duration) == (8_000, 0.5)
    eight_bit = io.BytesIO()
    with wave.open(eight_bit, "wb") as writer:  # 8-bit stereo: the header, not 16-bit mono, gives the length
        writer.setnchannels(2)
        writer.setsampwidth(1)
        writer.setframerate(4_000)
        writer.writeframes(bytes(8_000))
    assert GeminiAudio(eight_bit.getvalue(), "audio/wav").duration == 1.0
    hostile = GeminiAudio(b"x", "audio/../../evil")  # the type names the file: it must not reach a path
    assert hostile.extension == "bin" and hostile.save(tmp_path) == tmp_path / "gemini-speech.bin"
    assert audio_of({"inlineData": {"mimeType": "audio/L16", "data": "not base64!"}}) is None
    assert audio_of({"inlineData": {"mimeType": "image/png", "data": "AAAA"}}) is None


def test_the_player_survives_the_sanitizer_and_nothing_else_does(shell: TestShell) -> None:
    audio = GeminiAudio(tone(0.1), PCM_MIME)
    shown, _ = shell.display_formatter.format(audio)  # what a cell ending with _gemini.audio[0] shows
    assert set(shown) == {"text/html", "text/plain"} and PLAYER.fullmatch(shown["text/html"])
    shown = sanitize(audio.player_html())
    assert PLAYER.fullmatch(shown) and base64.b64decode(PLAYER.fullmatch(shown).group(1)) == audio.data  # type: ignore[union-attr]
    hostile = (
        '<audio controls="no" autoplay loop onplay="alert(1)" style="x" src="data:audio/wav;base64,UklGRg=="></audio>'
        '<audio controls src="javascript:alert(1)"></audio>'
        '<audio controls src="https://tracker.example/a.wav"></audio>'
        '<audio controls src="data:text/html;base64,PHNjcmlwdD4="></audio>'
        '<audio controls src="data:audio/wav;base64,AAAA&quot; onplay=&quot;x"></audio>'
        '<audio controls><source src="data:audio/wav;base64,AAAA"></audio>'
        '<a href="data:text/html,x">a</a><iframe src="data:text/html,x"></iframe>'
    )
    cleaned = sanitize(hostile)
    assert players(cleaned) == [
        {"controls": "", "src": "data:audio/wav;base64,UklGRg=="},
        *[{"controls": ""}] * 5,
    ]
    assert "data:text" not in cleaned and "javascript" not in cleaned and "tracker" not in cleaned


# -- a spoken answer through the loopback server -----------------------------------------------------


@pytest.mark.parametrize(
    ("line", "speech"),
    [
        ("--speech", {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}}),
        ("--speech Puck", {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Puck"}}}),
        (
            '--speakers "Joe=Kore,Jane=Puck"',
            {
                "multiSpeakerVoiceConfig": {
                    "speakerVoiceConfigs": [
                        {"speaker": "Joe", "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}},
                        {"speaker": "Jane", "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Puck"}}},
                    ]
                }
            },
        ),
    ],
)
def test_speech_request_bodies(shell: TestShell, gemini: GeminiTestServer, line: str, speech: dict[str, Any]) -> None:
    gemini.push(speech_reply(0.1))
    shell.run(f"%%gemini -m gemini-2.5-flash-preview-tts {line}\nJoe: Hi!\nJane: Hello!")
    (request,) = gemini.requests
    assert request.path.endswith("/models/gemini-2.5-flash-preview-tts:streamGenerateContent?alt=sse")
    assert request.body["generationConfig"] == {"responseModalities": ["AUDIO"], "speechConfig": speech}


def test_a_split_stream_is_one_recording_shown_as_a_player(notebook: TestShell, gemini: GeminiTestServer) -> None:
    pcm = tone(1.0)
    gemini.push(sse(speech_events(pcm, pieces=5)))
    notebook.run("%%gemini --speech\nSay something", cell_id="s")
    response = notebook.user_ns["_gemini"]
    (audio,) = response.audio
    assert audio.pcm == pcm and audio.duration == 1.0
    assert [part["inlineData"]["mimeType"] for part in response.parts] == [PCM_MIME]  # five pieces, one part
    final = notebook.shown[-1]
    (player,) = PLAYER.findall(final.data["text/html"])
    assert base64.b64decode(player) == audio.data
    assert "_gemini.audio[0].save('speech.wav')" in final.data["text/html"]
    for mime in ("text/markdown", "text/plain"):
        note = final.data[mime]
        assert "1.0 s of audio, 24000 Hz" in note and "_gemini.audio[0].save('speech.wav')" in note, note
        assert len(note) < 400 and "[audio/" not in note  # a note, not the bytes


def live_html(shown: list[Shown]) -> str:
    """Every HTML value of the live widgets (one HTML widget, or a box of pages), in order."""

    def values(widget: Any) -> list[str]:
        if hasattr(widget, "children"):
            return [v for child in widget.children for v in values(child)]
        return [widget.value] if isinstance(getattr(widget, "value", None), str) else []

    live = [s for s in shown if WIDGET_VIEW in s.data]
    return "".join(values(_instances[live[-1].data[WIDGET_VIEW]["model_id"]]))


def look_before_last(reply: Reply, notebook: TestShell, until: str, seen: list[str]) -> None:
    """Before the last event: wait past the live view's longest update interval, send the one before,
    then record the live view once it shows *until* (or after 10 s), while the stream is still open."""

    def look() -> None:
        deadline = time.monotonic() + 10
        while until not in (view := live_html(notebook.shown)) and time.monotonic() < deadline:
            time.sleep(0.02)
        seen.append(view)

    reply.steps[-2:-1] = [MAX_INTERVAL + 0.1, reply.steps[-2], look]


def test_the_live_view_says_speaking_not_bytes(notebook: TestShell, gemini: GeminiTestServer) -> None:
    seen: list[str] = []
    reply = sse(speech_events(tone(2.0), pieces=4))
    look_before_last(reply, notebook, "1.5 s", seen)
    gemini.push(reply)
    notebook.run("%%gemini --speech\nSpeak", cell_id="live")
    (view,) = seen  # after three of the four pieces
    assert "🔊 speaking… 1.5 s" in view, view
    assert "[audio/" not in view and "base64" not in view


def test_speech_past_the_cap_stops_with_what_came_kept() -> None:
    piece = "A" * (MAX_AUDIO_BYTES // 2 // 3 * 4)  # just under half the cap, decoded
    event = {"candidates": [{"content": {"parts": [{"inlineData": {"mimeType": PCM_MIME, "data": piece}}]}}]}
    accumulator = ResponseAccumulator()
    accumulator.add(event)
    accumulator.add(event)
    with pytest.raises(GeminiStreamError, match="audio in the answer passed the 64 MB limit"):
        accumulator.add(event)
    assert len(accumulator.result().parts[0]["inlineData"]["data"]) == 2 * len(piece)


def test_text_and_other_audio_are_not_joined_into_the_recording() -> None:
    mp3 = {"inlineData": {"mimeType": "audio/mpeg", "data": base64.b64encode(b"ID3").decode()}}
    parts = [audio_part(b"\x01\x00"), audio_part(b"\x02\x00"), {"text": "and"}, audio_part(b"\x03\x00"), mp3, mp3]
    accumulator = ResponseAccumulator()
    for part in parts:
        accumulator.add({"candidates": [{"content": {"parts": [part]}}]})
    response = accumulator.result()
    assert [a.pcm for a in response.audio] == [b"\x01\x00\x02\x00", b"\x03\x00", None, None]
    assert response.text == "and"


def test_the_spoken_answer_is_saved_as_a_valid_wav_in_a_real_kernel(
    kernel: Kernel, gemini: GeminiTestServer, tmp_path: Path
) -> None:
    gemini.push(speech_reply(1.0, pieces=3))
    outputs = kernel.run("%%gemini --speech Puck\nSay hello")
    (answer,) = displays(outputs)
    assert PLAYER.search(answer["data"]["text/html"])
    target = tmp_path / "hello.wav"
    check = (
        f"import wave; path = _gemini.audio[0].save({str(target)!r})\n"
        "with wave.open(str(path)) as w: print(w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes())"
    )
    printed = "".join(o.get("text", "") for o in kernel.run(check))
    assert printed.split() == ["1", "2", "24000", "24000"]
    with wave.open(str(target)) as reader:
        assert reader.readframes(reader.getnframes()) == tone(1.0)
    saved = json.loads(kernel.saved())
    html = [
        "".join(o["data"]["text/html"])
        for c in saved["cells"]
        for o in c["outputs"]
        if "text/html" in o.get("data", {})
    ]
    assert any(PLAYER.search(page) for page in html)  # the player is in the saved notebook


def test_speech_then_text_and_audio_that_cannot_be_decoded(notebook: TestShell, gemini: GeminiTestServer) -> None:
    broken = {"inlineData": {"mimeType": "audio/mpeg", "data": "%%%"}}
    events = [
        {"candidates": [{"content": {"role": "model", "parts": [audio_part(tone(0.5))]}}]},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Said."}, broken]}}]},
        *text_events(["Done."]),
    ]
    gemini.push(sse(events))
    notebook.run("%%gemini --speech\nSpeak", cell_id="mixed")
    response = notebook.user_ns["_gemini"]
    assert [a.duration for a in response.audio] == [0.5] and response.text == "Said.Done."
    final = notebook.shown[-1].data
    page = final["text/html"]
    assert len(PLAYER.findall(page)) == 1 and page.index("<audio") < page.index("Said.")
    assert "🔊 (audio that could not be decoded)" in page and page.index("Said.") < page.index("could not be decoded")
    plain = final["text/plain"]
    assert plain.startswith("Said.Done.\n🔊 0.5 s of audio, 24000 Hz (audio/wav): _gemini.audio[0].save('speech.wav')")
    assert "🔊 audio that could not be decoded: _gemini.audio[1].save('speech') keeps it" in plain


def test_the_terminal_says_how_to_keep_the_speech(
    shell: TestShell, gemini: GeminiTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Terminal IPython has no player: after the text comes how to keep each recording, then the footer."""
    events = [
        {"candidates": [{"content": {"role": "model", "parts": [audio_part(tone(0.5))]}}]},
        *text_events(["Said."]),
    ]
    gemini.push(sse(speech_events(tone(1.0), pieces=3)), sse(events))
    shell.run("%%gemini --speech\nSay something")
    out = capsys.readouterr().out
    note = "🔊 1.0 s of audio, 24000 Hz (audio/wav): _gemini.audio[0].save('speech.wav') keeps it\n"
    assert (
        out.startswith(note) and out[len(note) :].startswith("gemini-2.5-flash-preview-tts · ") and out.count("\n") == 2
    ), out
    shell.run("%%gemini --speech\nSpeak, then write")
    out = capsys.readouterr().out
    assert out.startswith(f"Said.\n{note.replace('1.0 s', '0.5 s')}gemini-"), out
    assert shell.shown == [] and "base64" not in out
