"""Denoiser quality on the fixed dev mixtures (``python -m ml evaluate``), recorded in BENCHMARKS.md.

    python -m bench.evaluate [--model gatewave-v1 --model runs/<name>/checkpoints/last.ckpt ...] [--set dev-aug]
                             [--count 40] [--plot bench/plots/quality.png] [--no-record]

Takes ``ml evaluate``'s options (``ml.cli.add_evaluate_arguments``) and runs the same evaluation.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bench.common import record
from ml.cli import add_evaluate_arguments, run_evaluation


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.evaluate", description=__doc__.splitlines()[0])
    add_evaluate_arguments(parser)
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to BENCHMARKS.md")
    args = parser.parse_args(argv)
    title, tables, notes = run_evaluation(args)
    record(title, tables, notes, write=not args.no_record)


if __name__ == "__main__":
    main()
