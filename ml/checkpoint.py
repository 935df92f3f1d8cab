"""Denoiser checkpoints: a state dict with the architecture, its arguments, sample rate, metrics and card.

A checkpoint written by ``save_checkpoint`` is self-describing. A bare state dict (the layout of the
published Demucs checkpoints) loads too when the caller says which architecture it belongs to.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from ml.errors import ModelError
from ml.models import build_model
from ml.models.base import Enhancer

FORMAT = "voicebot-denoiser/1"


def save_checkpoint(
    path: str | Path,
    model: Enhancer,
    *,
    arch: str,
    metrics: dict[str, float] | None = None,
    card: str = "",
    half: bool = False,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write ``model`` atomically as a self-describing checkpoint, and its card (the same minus the weights)
    as ``<path>.json``, which the registry reads without torch."""
    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "arch": arch,
        "config": dict(model.config),
        "sample_rate": int(model.config.get("sample_rate", 16_000)),
        "metrics": metrics or {},
        "card": card,
        "state": state,
        **(extra or {}),
    }
    atomic_torch_save(payload, path)
    card_fields = {k: v for k, v in payload.items() if k != "state"}
    atomic_write_text(Path(path).with_suffix(".json"), json.dumps(card_fields, indent=2, ensure_ascii=False))


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file atomically (temporary file + rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; checkpoints are read by other users (containers)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint's dictionary on the CPU without building the model."""
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged file
        raise ModelError(f"cannot read checkpoint {path}: {exc}") from exc


def load_model(
    path: str | Path, *, arch: str | None = None, config: dict[str, Any] | None = None
) -> tuple[Enhancer, dict[str, Any]]:
    """Build and load the model stored at ``path``; returns (model in eval mode, checkpoint metadata).

    For a bare state dict, ``arch`` and ``config`` say what to build.
    """
    data = read_checkpoint(path)
    if data.get("format") == FORMAT:
        arch, config, state = data["arch"], data["config"], data["state"]
        meta = {k: v for k, v in data.items() if k != "state"}
    else:
        if arch is None:
            raise ModelError(f"{path} is a bare state dict; its architecture must be given")
        state, meta = data, {"arch": arch, "config": config or {}}
    model = build_model(arch, dict(config or {}))
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except RuntimeError as exc:
        raise ModelError(f"{path} does not fit architecture {arch}: {exc}") from exc
    return model.eval(), meta
