"""Where things are in the checkout: the repository root, the training configs shipped with ``ml``."""

from __future__ import annotations

from pathlib import Path

ROOT: Path = Path(__file__).resolve().parents[1]  # the repository root (``PYTHONPATH`` of spawned processes)
CONFIGS: Path = ROOT / "ml" / "configs"  # the training runs' YAML configs
