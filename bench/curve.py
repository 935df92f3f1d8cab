"""A training run's learning curve (validation scores by step) recorded in BENCHMARKS.md, with a plot.

    python -m bench.curve runs/deepfilternet3 [--note "what the run was"] [--no-record]

The plot goes to ``bench/plots/curve_<run>.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.common import record
from ml.curves import curve_table, plot_curve, validation_curve

PLOTS = Path(__file__).parent / "plots"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--note", default="", help="a sentence on the run (config, loss, what changed)")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    run = Path(args.run_dir)
    curve = validation_curve(run)
    if not curve:
        raise SystemExit(f"{run} logged no validation yet")
    plot = PLOTS / f"curve_{run.name}.png"
    plot_curve(curve, plot, run.name)
    notes = (f"{args.note}\n\n" if args.note else "") + (
        "Validation on fixed `dev` mixtures drawn with the run's own mixing settings; step 0 is before the first "
        f"step. Plot: `bench/plots/{plot.name}`."
    )
    record(f"Learning curve: {run.name}", curve_table(curve), notes, write=not args.no_record)


if __name__ == "__main__":
    main()
