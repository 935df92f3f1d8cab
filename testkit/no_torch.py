"""Run Python as if torch were not installed (the lean worker image) without uninstalling it."""

from __future__ import annotations

import os
from pathlib import Path

SITE = Path(__file__).with_name("without_torch")  # its sitecustomize refuses torch in every process it starts


def env(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default this process's environment) with ``PYTHONPATH`` set so Python cannot import torch."""
    environment = dict(os.environ if base is None else base)
    root = str(Path(__file__).resolve().parents[1])
    rest = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = os.pathsep.join([str(SITE), root, *([rest] if rest else [])])
    return environment
