"""The lean worker image has no torch: the default path runs without it, and the torch versions say so.

Each test runs Python as that image would, torch refused at import (``testkit.no_torch``), in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ml.wer import wer
from testkit import no_torch
from testkit.settings import DEFAULT_DENOISER

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "ml" / "samples" / "noisy_note.ogg"
TORCH_VERSIONS = {"gatewave-v1", "demucs-dns48", "demucs-dns64", "demucs-master64"}
# the default inference path, the worker and the composition root: each imported in a process without torch
DEFAULT_PATH = [
    *(f"ml.{m}" for m in ("pipeline", "loader", "denoisers", "audio", "loudness", "vad", "transcriber", "registry")),
    *(f"ml.{m}" for m in ("spool", "spectrogram", "deepfilternet", "cli")),
    *(f"voicebot.{m}" for m in ("cli", "wiring", "supervisor")),
]


def run(args: list[str], tmp_path: Path, *, torch: bool = False) -> subprocess.CompletedProcess[str]:
    """``python args...`` as a user runs it, without torch unless ``torch``."""
    environment = {
        **os.environ,
        "MODEL_CACHE_DIR": str(tmp_path.parent / "model-cache"),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
    }
    environment.pop("TELEGRAM_BOT_TOKEN", None)
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=600,
        env=environment if torch else no_torch.env(environment),
    )  # fmt: skip


def test_torch_is_refused(tmp_path: Path) -> None:
    result = run(["-c", "import torch"], tmp_path)
    assert result.returncode == 1 and "No module named 'torch'" in result.stderr


def test_default_path_and_worker_import_without_torch(tmp_path: Path) -> None:
    probe = (
        "import importlib, pkgutil, sys, worker\n"
        "names = sys.argv[1:] + [f'worker.{m.name}' for m in pkgutil.iter_modules(worker.__path__)]\n"
        "for name in names: importlib.import_module(name)\n"
        "print(len(names))"
    )
    result = run(["-c", probe, *DEFAULT_PATH], tmp_path)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > len(DEFAULT_PATH)


def test_process_a_real_note_without_torch(noisy_note_30s: tuple[Path, str, float], tmp_path: Path) -> None:
    """The whole ``voicebot process`` with the default versions: DeepFilterNet3 on onnxruntime, Whisper base,
    Silero VAD (faster-whisper's ONNX model), loudness and the Opus encoder."""
    note, reference, seconds = noisy_note_30s
    result = run(["-m", "voicebot", "process", str(note), "--out-dir", str(tmp_path), "-q"], tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "noisy_30s.json").read_text())
    assert data["models"] == {"denoiser": DEFAULT_DENOISER, "whisper": "base"}
    assert data["heard"] == "mix" and abs(data["duration_s"] - seconds) < 0.05
    assert wer(reference, data["text"]) <= 0.35
    assert (tmp_path / "noisy_30s.ogg").stat().st_size > 10_000


def test_models_marks_the_torch_versions_unavailable(tmp_path: Path) -> None:
    listing = json.loads(run(["-m", "voicebot", "models", "--json"], tmp_path).stdout)
    reasons = {item["name"]: item["unavailable"] for family in listing.values() for item in family["available"]}
    assert {name for name, reason in reasons.items() if reason} == TORCH_VERSIONS
    assert "needs torch" in reasons["gatewave-v1"] and "TORCH=1" in reasons["gatewave-v1"]
    assert reasons[DEFAULT_DENOISER] is None and reasons["rnnoise"] is None and reasons["base"] is None

    text = run(["-m", "voicebot", "models"], tmp_path).stdout.splitlines()
    assert next(line for line in text if "gatewave-v1" in line).endswith("[unavailable here]")
    assert "[unavailable here]" not in next(line for line in text if DEFAULT_DENOISER in line)
    footer = "unavailable here: demucs-dns48, demucs-dns64, demucs-master64, gatewave-v1: needs torch"
    assert text[-1].startswith(footer)

    with_torch = json.loads(run(["-m", "voicebot", "models", "--json"], tmp_path, torch=True).stdout)
    assert not any(item["unavailable"] for family in with_torch.values() for item in family["available"])


def test_a_torch_version_fails_with_one_clear_line(tmp_path: Path) -> None:
    process = run(["-m", "voicebot", "process", str(SAMPLE), "--out-dir", str(tmp_path), "--denoiser", "gatewave-v1"],
                  tmp_path)  # fmt: skip
    assert process.returncode == 3 and "Traceback" not in process.stderr
    assert process.stderr.strip().startswith("voicebot: denoiser gatewave-v1 needs torch, which is not installed here")
    denoise = run(["-m", "ml", "denoise", "--model", "gatewave-v1", str(SAMPLE), "--out-dir", str(tmp_path)], tmp_path)
    assert denoise.returncode == 3 and "voicebot[ml,torch]" in denoise.stderr and "Traceback" not in denoise.stderr
