"""What the benchmarks share: appending to BENCHMARKS.md with the machine's description."""

from __future__ import annotations

import datetime as dt
import shlex
import sys
from pathlib import Path

import numpy as np

from ml.hardware import machine

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "BENCHMARKS.md"


def record(title: str, table: str, notes: str = "", *, write: bool = True) -> None:
    """Print a dated section with the command that produced it; append it to BENCHMARKS.md when ``write``."""
    command = "python -m " + " ".join(shlex.quote(a) for a in [_module(), *sys.argv[1:]])
    section = f"\n## {title}\n\n`{command}` — {dt.date.today().isoformat()}, {machine()}\n\n{table.rstrip()}\n" + (
        f"\n{notes.rstrip()}\n" if notes else ""
    )
    print(section)
    if not write:
        return
    if not BENCHMARKS.exists():
        BENCHMARKS.write_text("# Benchmarks\n\nEvery table here was written by the command above it.\n")
    with BENCHMARKS.open("a") as handle:
        handle.write(section)


def _module() -> str:
    main = sys.modules["__main__"]
    spec = getattr(main, "__spec__", None)
    return spec.name.removesuffix(".__main__") if spec else Path(sys.argv[0]).stem  # `python -m ml`, not ml.__main__


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    def fmt(value: object) -> str:
        if isinstance(value, float | np.floating):
            return f"{value:.3f}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
