"""`voicebot process`, `voicebot models` and `python -m ml denoise`, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ml.audio import decode_audio
from ml.wer import wer
from testkit.settings import DEFAULT_DENOISER

ROOT = Path(__file__).resolve().parents[2]
VOICEBOT = [sys.executable, "-m", "voicebot"]


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "MODEL_CACHE_DIR": str(tmp_path.parent / "model-cache"),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        **env,
    }
    environment.pop("TELEGRAM_BOT_TOKEN", None)
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=environment, timeout=600)


def test_process_noisy_30s_note(noisy_note_30s: tuple[Path, str, float], tmp_path: Path) -> None:
    note, reference, seconds = noisy_note_30s
    result = run([*VOICEBOT, "process", str(note), "--out-dir", str(tmp_path)], tmp_path)
    assert result.returncode == 0, result.stderr

    data = json.loads((tmp_path / "noisy_30s.json").read_text())
    assert {"text", "language", "duration_s", "timings_ms", "models", "segments"} <= set(data)
    assert data["language"] == "en"
    assert data["models"] == {"denoiser": DEFAULT_DENOISER, "whisper": "base"}
    assert data["heard"] == "mix"  # the default strategy (auto) on a noisy note: cleaned with half the original
    assert data["strength"] == "strong"
    assert data["loudness"]["input_lufs"] < -20 and abs(data["loudness"]["output_lufs"] + 16) < 1.0
    assert set(data["timings_ms"]) == {"decode", "denoise", "transcribe", "encode", "total"}
    assert data["duration_s"] == pytest.approx(seconds, abs=0.05)
    error = wer(reference, data["text"])
    print(f"WER {error:.3f} on {seconds:.1f} s")
    assert error <= 0.35

    cleaned = decode_audio(tmp_path / "noisy_30s.ogg")
    assert cleaned.size / 16_000 == pytest.approx(seconds, abs=0.05)
    assert np.abs(cleaned).max() > 0.01
    assert "done" in result.stderr  # progress is shown


def test_garbage_named_ogg_fails_with_one_line(tmp_path: Path) -> None:
    garbage = tmp_path / "note.ogg"
    garbage.write_bytes(np.random.default_rng(7).bytes(20_000))
    result = run([*VOICEBOT, "process", str(garbage), "--out-dir", str(tmp_path / "out"), "-q"], tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [f"voicebot: {garbage}: this file is not audio I can read"]
    assert not (tmp_path / "out" / "note.json").exists()


def test_silence_says_no_speech(tmp_path: Path) -> None:
    from ml.audio import encode_voice

    silent = tmp_path / "silent.ogg"
    silent.write_bytes(encode_voice(np.zeros(16_000 * 3, dtype=np.float32)))
    result = run([*VOICEBOT, "process", str(silent), "--out-dir", str(tmp_path), "-q"], tmp_path)
    assert result.returncode == 1
    assert "no speech found" in result.stderr and "Traceback" not in result.stderr


def test_missing_file_and_unknown_model_are_one_line(tmp_path: Path) -> None:
    missing = run([*VOICEBOT, "process", "nope.ogg", "--out-dir", str(tmp_path)], tmp_path)
    assert missing.returncode == 2 and missing.stderr.strip() == "voicebot: no such file: nope.ogg"
    sample = str(ROOT / "ml" / "samples" / "noisy_note.ogg")
    unknown = run([*VOICEBOT, "process", sample, "--out-dir", str(tmp_path), "--whisper", "huge"], tmp_path)
    assert unknown.returncode == 3
    assert "unknown whisper version 'huge'; available: tiny.en, base" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_models_json_lists_versions_and_active(tmp_path: Path) -> None:
    result = run([*VOICEBOT, "models", "--json"], tmp_path, DENOISER_VERSION="none", WHISPER_VERSION="tiny.en")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert listing["denoiser"]["active"] == "none"
    assert listing["whisper"]["active"] == "tiny.en"
    denoisers = {item["name"] for item in listing["denoiser"]["available"]}
    assert {"none", "rnnoise", "deepfilternet3", "demucs-dns48"} <= denoisers
    dfn = next(item for item in listing["denoiser"]["available"] if item["name"] == "deepfilternet3")
    assert dfn["licence"] == "MIT OR Apache-2.0" and not dfn["needs_internet"] and "Schröter" in dfn["card"]["paper"]
    whispers = {item["name"]: item for item in listing["whisper"]["available"]}
    assert whispers["small"]["needs_internet"] and not whispers["base"]["needs_internet"]


def test_process_strength_off_and_gentle(noisy_note_30s: tuple[Path, str, float], tmp_path: Path) -> None:
    note = noisy_note_30s[0]
    outputs = {}
    for strength in ("off", "gentle"):
        out = tmp_path / strength
        result = run([*VOICEBOT, "process", str(note), "--out-dir", str(out), "--strength", strength, "-q",
                      "--whisper", "tiny.en"], tmp_path)  # fmt: skip
        assert result.returncode == 0, result.stderr
        data = json.loads((out / "noisy_30s.json").read_text())
        assert data["strength"] == strength
        assert data["models"]["denoiser"] == ("none" if strength == "off" else DEFAULT_DENOISER)
        outputs[strength] = decode_audio(out / "noisy_30s.ogg")
    original = decode_audio(note)
    # "off" returns the note itself (at speech loudness); "gentle" removes noise, so it differs from it
    untouched = np.corrcoef(outputs["off"][: original.size], original[: outputs["off"].size])[0, 1]
    gentle = np.corrcoef(outputs["gentle"][: original.size], original[: outputs["gentle"].size])[0, 1]
    assert untouched > 0.9 and gentle < untouched - 0.05, (untouched, gentle)


def test_process_returns_a_full_band_note_full_band(tmp_path: Path) -> None:
    from ml.audio import FULL_BAND_RATE, write_wav
    from testkit.measures import band_energy_db
    from testkit.speech import full_band_note

    note = full_band_note()
    write_wav(tmp_path / "air.wav", note, FULL_BAND_RATE)
    result = run([*VOICEBOT, "process", str(tmp_path / "air.wav"), "--out-dir", str(tmp_path / "out"), "--strength",
                  "off", "--whisper", "tiny.en", "-q"], tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    voice = decode_audio(tmp_path / "out" / "air.ogg", sample_rate=FULL_BAND_RATE)
    before = band_energy_db(note, FULL_BAND_RATE, 9_000, 16_000)
    assert abs(band_energy_db(voice, FULL_BAND_RATE, 9_000, 16_000) - before) < 3.0  # not cut at 8 kHz


def test_ml_denoise_limit_at_the_models_rate(shared: Path, tmp_path: Path) -> None:
    name = "1688-142285-0000"
    (tmp_path / f"{name}.flac").write_bytes((shared / "data" / "speech" / "dev" / f"{name}.flac").read_bytes())
    for strength, limit in (("strong", []), ("gentle", ["--limit-db", "20"])):
        result = run([sys.executable, "-m", "ml", "denoise", "--model", "deepfilternet3", *limit,
                      str(tmp_path / f"{name}.flac"), "--out-dir", str(tmp_path / strength)], tmp_path)  # fmt: skip
        assert result.returncode == 0, result.stderr
    original = decode_audio(tmp_path / f"{name}.flac")
    import wave

    with wave.open(str(tmp_path / "strong" / f"{name}.wav")) as handle:
        assert handle.getframerate() == 48_000 and handle.getnframes() == original.size * 3
    strong, gentle = (decode_audio(tmp_path / s / f"{name}.wav") for s in ("strong", "gentle"))
    assert np.abs(strong - gentle).max() > 1e-3  # the attenuation limit changes the output


def test_ml_denoise_folder_to_wav(shared: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("1688-142285-0000.flac", "1688-142285-0001.flac"):
        (folder / name).write_bytes((shared / "data" / "speech" / "dev" / name).read_bytes())
    result = run([sys.executable, "-m", "ml", "denoise", "--model", "rnnoise", str(folder), "--out-dir",
                  str(tmp_path / "out")], tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    for name in ("1688-142285-0000", "1688-142285-0001"):
        original = decode_audio(folder / f"{name}.flac")
        out = decode_audio(tmp_path / "out" / f"{name}.wav")  # RNNoise writes 48 kHz; read back at 16 kHz
        assert abs(out.size - original.size) <= 1


def test_models_json_shows_an_admins_choice(tmp_path: Path) -> None:
    import asyncio

    from core.db.admin import set_active_model
    from core.db.engine import make_engine, make_sessionmaker
    from migrations import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)

    async def choose() -> None:
        engine = make_engine(url)
        async with make_sessionmaker(engine)() as session:
            await set_active_model(session, "whisper", "tiny.en", admin_id=1)
        await engine.dispose()

    asyncio.run(choose())
    result = run([*VOICEBOT, "models", "--json"], tmp_path)
    assert json.loads(result.stdout)["whisper"]["active"] == "tiny.en"
