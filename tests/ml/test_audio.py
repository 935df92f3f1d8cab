"""Audio I/O through PyAV: every container users send decodes; bad files raise readable typed errors."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest

from ml.audio import SAMPLE_RATE, decode_audio, encode_voice, probe_duration
from ml.errors import EmptyAudio, TooLong, UnsupportedAudio


def _tone(seconds: float = 2.0, rate: int = 44_100) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def _encode(fmt: str, codec: str, rate: int = 44_100, video: bool = False, audio: bool = True) -> bytes:
    """Write a 2 s 440 Hz tone (and optionally a video track) with PyAV into an in-memory container."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as container:
        vstream = None
        if video:
            vstream = container.add_stream("mpeg4", rate=25)
            vstream.width, vstream.height, vstream.pix_fmt = 64, 64, "yuv420p"
        astream = container.add_stream(codec, rate=rate, layout="mono") if audio else None
        if vstream is not None:
            for i in range(50):
                frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), i * 4, np.uint8), format="rgb24")
                for packet in vstream.encode(frame):
                    container.mux(packet)
            for packet in vstream.encode(None):
                container.mux(packet)
        if astream is not None:
            pcm = _tone(rate=rate)
            fmt_name = astream.codec_context.codec.audio_formats[0].name
            if fmt_name in ("s16", "s16p"):
                data = (pcm * 32767).astype(np.int16).reshape(1, -1)
            else:
                data = pcm.reshape(1, -1)
                fmt_name = "fltp" if fmt_name.endswith("p") else "flt"
            frame = av.AudioFrame.from_ndarray(data, format=fmt_name, layout="mono")
            frame.sample_rate = rate
            for packet in astream.encode(frame):
                container.mux(packet)
            for packet in astream.encode(None):
                container.mux(packet)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "codec", "rate"),
    [
        ("wav", "pcm_s16le", 44_100),
        ("flac", "flac", 44_100),
        ("mp3", "libmp3lame", 44_100),
        ("ipod", "aac", 44_100),  # .m4a
        ("ogg", "libopus", 48_000),  # Telegram voice
    ],
)
def test_decodes_common_formats_to_16k_mono(fmt: str, codec: str, rate: int) -> None:
    audio = decode_audio(_encode(fmt, codec, rate))
    assert audio.dtype == np.float32
    assert abs(audio.size / SAMPLE_RATE - 2.0) < 0.1
    spectrum = np.abs(np.fft.rfft(audio))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / audio.size
    assert abs(peak_hz - 440) < 5


def test_decodes_round_video_note_sound() -> None:
    audio = decode_audio(_encode("mp4", "aac", 44_100, video=True))
    assert abs(audio.size / SAMPLE_RATE - 2.0) < 0.1


def test_video_without_sound_is_unsupported() -> None:
    with pytest.raises(UnsupportedAudio, match="no sound"):
        decode_audio(_encode("mp4", "aac", video=True, audio=False))


def test_garbage_is_unsupported() -> None:
    with pytest.raises(UnsupportedAudio, match="not audio"):
        decode_audio(np.random.default_rng(0).bytes(5000))


def test_zero_bytes_are_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty.ogg"
    empty.write_bytes(b"")
    with pytest.raises(EmptyAudio):
        decode_audio(empty)


def test_truncated_ogg_keeps_what_decodes() -> None:
    data = _encode("ogg", "libopus", 48_000)
    audio = decode_audio(data[: len(data) // 2])
    assert 0.3 < audio.size / SAMPLE_RATE < 2.0


def test_too_long_stops_early() -> None:
    with pytest.raises(TooLong) as info:
        decode_audio(_encode("wav", "pcm_s16le"), max_duration_s=1.0)
    assert "limit is" in str(info.value)


def test_voice_encoding_is_telegram_voice(tmp_path: Path) -> None:
    audio = decode_audio(_encode("wav", "pcm_s16le"))
    data = encode_voice(audio)
    path = tmp_path / "voice.ogg"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        assert container.format.name == "ogg"
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "opus"
        assert stream.rate == 48_000
        assert stream.codec_context.layout.nb_channels == 1
    kbps = len(data) * 8 / 2.0 / 1000
    assert 20 < kbps < 56, kbps
    back = decode_audio(path)
    assert back.size == audio.size  # same length: Opus pre-skip is honoured
    assert probe_duration(path) == pytest.approx(2.0, abs=0.05)
