"""What machine this is, in words, for benchmark headers and model cards."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_name() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (the platform's guess elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line naming this machine: cores, CPU, Python and OS."""
    return f"{os.cpu_count()} cores ({cpu_name()}), Python {platform.python_version()}, {platform.system()}"


def training_hardware(accelerator: str = "cpu", threads: int | None = None) -> str:
    """What a training run computes on: the GPU's name, or the CPU with the threads torch uses."""
    if accelerator == "gpu":
        import torch

        return f"GPU {torch.cuda.get_device_name(0)}"
    used = f"{threads} of " if threads else ""
    return f"CPU, {used}{os.cpu_count()} cores ({cpu_name()})"
