"""How long `voicebot worker --check`, the containers' health check, takes: the command run as compose runs it, N
times, against a Redis database the bench may use (no worker there, so every run answers "unhealthy", which costs
what "healthy" costs: one Redis read).

    python -m bench.healthcheck [--runs 20] [--redis redis://127.0.0.1:6379/9] [--no-record]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

from bench.common import ROOT, markdown_table, record


def run_once(voicebot: list[str], env: dict[str, str]) -> float:
    """Seconds one health check took, from process start to exit."""
    started = time.perf_counter()
    subprocess.run([*voicebot, "worker", "--check"], env=env, cwd=ROOT, capture_output=True, timeout=60)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/9", help="a Redis database the bench may use")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    script = shutil.which("voicebot", path=os.path.dirname(sys.executable))
    voicebot = [script] if script else [sys.executable, "-m", "voicebot"]
    env = {**os.environ, "REDIS_URL": args.redis}
    run_once(voicebot, env)  # the first run warms the file cache, as the container's second check finds it
    seconds = sorted(run_once(voicebot, env) for _ in range(args.runs))
    rows = [[
        args.runs,
        f"{statistics.median(seconds):.2f} s",
        f"{seconds[int(0.95 * (len(seconds) - 1))]:.2f} s",
        f"{seconds[-1]:.2f} s",
    ]]  # fmt: skip
    notes = (
        "Wall time of the whole command (Python's start, the settings, arq, one Redis read), as compose's health "
        "check runs it every 30 s with a 10-s timeout. It imports nothing of the pipeline, the models or aiogram "
        f"(tests/worker/test_health.py). Load average when done: {os.getloadavg()[0]:.1f}."
    )
    record("Worker health check (`voicebot worker --check`)", markdown_table(["runs", "median", "p95", "max"], rows),
           notes, write=not args.no_record)  # fmt: skip


if __name__ == "__main__":
    main()
