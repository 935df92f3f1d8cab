"""Worker cold start and idle memory, with and without torch: ``voicebot worker`` started as a user starts it (no
Telegram token: it serves web uploads), on a Redis and a fresh SQLite database, timed from process start until it
announces in Redis that its models are loaded (the default denoiser and Whisper); then, idle, the resident memory
of the worker's process and of its pipeline process (which holds the models), each apart.

    python -m bench.startup [--runs 3] [--redis redis://127.0.0.1:6379/9] [--before DIR] [--no-record]

Variants: this tree with torch refused at import (as in the worker image built without it; ``testkit.no_torch``),
this tree as installed (torch there but imported only when a torch version loads), and with ``--before DIR``
another tree run the same way, e.g. ``git archive <commit>`` of a commit whose ``ml.denoisers`` imported torch.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import redis

from bench.common import ROOT, markdown_table, record
from core.fleet import LOADED_KEY
from core.settings import load_settings
from testkit import no_torch
from voicebot import wiring

IDLE_S = 5.0  # after the models are announced, before memory is read
TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Variant:
    name: str
    tree: Path
    torch: bool  # False: torch refused at import

    def env(self, base: dict[str, str]) -> dict[str, str]:
        return base if self.torch else no_torch.env(base)


@dataclass(frozen=True)
class Start:
    cold_s: float
    worker_mb: float
    pipeline_mb: float
    torch_loaded: bool


def start_once(variant: Variant, redis_url: str, work: Path, run: int) -> Start:
    """Start one worker, wait for its models, read its memory while idle, stop it."""
    settings = load_settings()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_", "REDIS_"))}
    env |= {
        "DATABASE_URL": f"sqlite+aiosqlite:///{work / f'{variant.name}-{run}.db'}".replace(" ", "_"),
        "REDIS_URL": redis_url,
        "MODEL_CACHE_DIR": str(settings.model_cache_dir),
    }
    env = variant.env(env)
    voicebot = [sys.executable, "-m", "voicebot"]
    subprocess.run([*voicebot, "db", "upgrade"], cwd=variant.tree, env=env, check=True, capture_output=True)
    client = redis.Redis.from_url(redis_url)
    with open(work / f"{variant.name}-{run}.log".replace(" ", "_"), "w") as log:
        started = time.perf_counter()
        worker = subprocess.Popen([*voicebot, "worker"], cwd=variant.tree, env=env, stdout=log, stderr=log)
        try:
            key = f"{LOADED_KEY}{socket.gethostname()}:{worker.pid}"
            while not ((value := client.get(key)) and all(json.loads(value).values())):
                if worker.poll() is not None or time.perf_counter() - started > TIMEOUT_S:
                    raise RuntimeError(f"{variant.name}: the worker did not load its models (see {log.name})")
                time.sleep(0.02)
            cold = time.perf_counter() - started
            time.sleep(IDLE_S)
            main = psutil.Process(worker.pid)
            children = [c for c in main.children() if "resource_tracker" not in " ".join(c.cmdline())]
            processes = [main, *children]
            torch_loaded = any("/torch/lib/" in m.path for p in processes for m in p.memory_maps())
            return Start(cold, _mb(main), sum(_mb(c) for c in children), torch_loaded)
        finally:
            worker.send_signal(signal.SIGINT)
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            client.close()


def _mb(process: psutil.Process) -> float:
    return process.memory_info().rss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/9", help="a Redis database the bench may use")
    parser.add_argument("--before", type=Path, help="another source tree to start the same way, torch importable")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    settings = load_settings()
    registry = wiring.registry(settings)
    registry.resolve(registry.get("whisper", settings.whisper_version))  # joined once, as at image build time
    variants = [Variant("this tree, torch refused", ROOT, False), Variant("this tree, torch installed", ROOT, True)]
    if args.before:
        variants.append(Variant(f"{args.before.name}, torch installed", args.before.resolve(), True))
    results: dict[str, list[Start]] = {v.name: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as folder:
        for run in range(args.runs):  # interleaved, so a busy moment on the machine is shared out
            for variant in variants:
                start = start_once(variant, args.redis, Path(folder), run)
                print(f"{variant.name}: {start}", file=sys.stderr)
                results[variant.name].append(start)
    rows = []
    for name, starts in results.items():
        rows.append([
            name,
            "yes" if any(s.torch_loaded for s in starts) else "no",
            f"{statistics.median(s.cold_s for s in starts):.2f} s",
            f"{statistics.median(s.worker_mb for s in starts):.0f} MB",
            f"{statistics.median(s.pipeline_mb for s in starts):.0f} MB",
            f"{statistics.median(s.worker_mb + s.pipeline_mb for s in starts):.0f} MB",
        ])  # fmt: skip
    header = ["worker", "torch in memory", "cold start", "RSS worker", "RSS pipeline", "RSS total"]
    notes = (
        f"Medians of {args.runs} starts each (interleaved), models {settings.denoiser_version} + whisper "
        f"{settings.whisper_version}. Cold start: `voicebot worker` started → its loaded models announced in Redis "
        f"(imports, database, Redis, the pipeline process spawned and its models loaded). RSS {IDLE_S:.0f} s later, "
        f"idle; the pipeline process holds the models. Load average when done: {os.getloadavg()[0]:.1f}."
    )
    record("Worker cold start and idle memory, with and without torch", markdown_table(header, rows), notes,
           write=not args.no_record)  # fmt: skip


if __name__ == "__main__":
    main()
