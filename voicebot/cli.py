"""The ``voicebot`` command: entry points only wire settings to the parts that do the work."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.catalog import FAMILIES
from core.choices import STRENGTHS
from core.settings import Settings, load_settings
from ml.strategies import STRATEGIES
from voicebot import wiring

log = logging.getLogger("voicebot")

# Idle OpenMP threads sleep instead of spinning: with a busy neighbour on a small CPU (the bot, Redis, a second
# worker), spinning threads made a 2-thread torch denoiser about 20x slower. Set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _fail(message: str, code: int = 2) -> int:
    print(f"voicebot: {message}", file=sys.stderr)
    return code


def cmd_process(args: argparse.Namespace, settings: Settings) -> int:
    """Run the whole pipeline on local files, loading the models once."""
    from ml.errors import AudioError, ModelError
    from ml.pipeline import Pipeline

    inputs = [Path(p) for p in args.inputs]
    missing = [p for p in inputs if not p.is_file()]
    if missing:
        return _fail(f"no such file: {missing[0]}")
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = wiring.model_cache(settings)
    try:
        pipeline = Pipeline(
            cache.denoiser(args.denoiser or settings.denoiser_version),
            cache.transcriber(args.whisper or settings.whisper_version),
        )
    except ModelError as exc:
        return _fail(str(exc), 3)
    max_duration = settings.max_duration_s if args.max_duration is None else args.max_duration
    strength = args.strength or settings.denoiser_strength
    options = wiring.pipeline_options(
        settings,
        strength=strength,
        language=args.language,
        max_duration_s=max_duration or None,
        **({"strategy": args.strategy} if args.strategy else {}),
    )
    failed = 0
    for index, path in enumerate(inputs, 1):
        prefix = f"[{index}/{len(inputs)}] {path.name}"

        def show(stage: str, prefix: str = prefix) -> None:
            if not args.quiet:
                print(f"{prefix}: {stage}…", file=sys.stderr, flush=True)

        try:
            result = pipeline.process(path, options, on_stage=show)
        except AudioError as exc:
            failed += 1
            print(f"voicebot: {path}: {exc}", file=sys.stderr)
            continue
        (out_dir / f"{path.stem}.ogg").write_bytes(result.voice_ogg)
        record = result.to_json() | {"strength": strength}
        (out_dir / f"{path.stem}.json").write_text(json.dumps(record, ensure_ascii=False, indent=2))
        work = result.timings_ms["total"] / 1000
        if not args.quiet:
            print(
                f"{prefix}: done, {result.duration_s:.1f} s of audio in {work:.1f} s → "
                f"{out_dir / path.stem}.ogg, .json",
                file=sys.stderr,
            )
            print(result.transcript.text)
    return 1 if failed else 0


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    """List model versions and the active ones, each marked with why this installation cannot run it, if so."""
    from voicebot.active import active_versions

    registry = wiring.registry(settings)
    active = active_versions(settings)
    listing: dict[str, dict[str, Any]] = {
        family: {
            "active": active[family],
            "available": [v.describe() | {"unavailable": registry.unavailable(v)} for v in registry.versions(family)],
        }
        for family in FAMILIES
    }
    if args.json:
        print(json.dumps(listing, ensure_ascii=False, indent=2))
        return 0
    unrunnable: dict[str, list[str]] = {}  # reason → the versions it keeps from running here
    for family, data in listing.items():
        print(f"{family} (active: {data['active']})")
        for item in data["available"]:
            mark = "*" if item["name"] == data["active"] else " "
            net = "  [needs internet]" if item["needs_internet"] else ""
            if item["unavailable"]:
                unrunnable.setdefault(item["unavailable"], []).append(item["name"])
            here = "  [unavailable here]" if item["unavailable"] else ""
            print(f"  {mark} {item['name']:<18} {item['description']}{net}{here}")
    for reason, names in unrunnable.items():
        print(f"unavailable here: {', '.join(names)}: {reason}")
    return 0


SAMPLE = Path(__file__).resolve().parents[1] / "ml" / "samples" / "noisy_note.ogg"


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """The main job on embedded defaults: bot + worker + web page when a token is set; without one, a demo on the
    sample, then the worker and the web page (no bot)."""
    from voicebot.supervisor import run_all

    if settings.telegram_bot_token is None:
        print(
            "No TELEGRAM_BOT_TOKEN is set, so the bot cannot start. To run it: create a bot with @BotFather,\n"
            "put TELEGRAM_BOT_TOKEN=<token> (and ADMIN_IDS=<your Telegram id>) in .env, then `make run` again.\n"
            f"Meanwhile, here is the pipeline on the bundled sample ({SAMPLE.name}):\n",
            file=sys.stderr,
        )
        out = Path("var") / "sample-output"
        demo = build_parser().parse_args(["process", str(SAMPLE), "--out-dir", str(out)])
        if code := cmd_process(demo, settings):
            return code
        print("\nThe web page and a worker start now (the bot needs the token).", file=sys.stderr)
    return run_all(settings)


def _need_token(settings: Settings) -> int | None:
    if settings.telegram_bot_token is None:
        return _fail("TELEGRAM_BOT_TOKEN is not set (put it in .env; see README)")
    return None


def cmd_bot(args: argparse.Namespace, settings: Settings) -> int:
    """Run the Telegram bot: long polling, or a webhook server when TELEGRAM_WEBHOOK_URL is set."""
    import asyncio

    from bot.app import run_bot

    if (code := _need_token(settings)) is not None:
        return code
    asyncio.run(run_bot(settings, wiring.registry(settings)))
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run the arq worker, or with --check exit 0/1 from its health key (importing nothing of the pipeline)."""
    if args.check:
        from worker.health import worker_healthy

        healthy = worker_healthy(settings)
        print("healthy" if healthy else "unhealthy")
        return 0 if healthy else 1
    from worker.main import run_worker

    if settings.telegram_bot_token is None:
        print("voicebot: no TELEGRAM_BOT_TOKEN: this worker processes web uploads only", file=sys.stderr)
    run_worker(wiring.worker_setup(settings))
    return 0


def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the web page and its API (WEB_HOST:WEB_PORT)."""
    from web.app import run_web

    run_web(settings, wiring.registry(settings))
    return 0


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    """Apply the database migrations."""
    from migrations import upgrade

    upgrade(settings.database_url, args.revision)
    print(f"database at revision {args.revision}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voicebot", description="Clean and transcribe voice notes.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    process = sub.add_parser("process", help="process local audio files (no Telegram, no Redis)")
    process.add_argument("inputs", nargs="+", metavar="INPUT")
    process.add_argument("--out-dir", required=True)
    process.add_argument("--denoiser", help="denoiser version (default: DENOISER_VERSION)")
    process.add_argument("--whisper", help="Whisper version (default: WHISPER_VERSION)")
    process.add_argument("--language", help="language code; default: detect")
    process.add_argument("--strategy", choices=STRATEGIES, help="what Whisper hears (default: TRANSCRIBE_STRATEGY)")
    process.add_argument("--strength", choices=STRENGTHS, help="noise removal (default: DENOISER_STRENGTH)")
    process.add_argument("--max-duration", type=float, help="seconds; 0 for no limit")
    process.add_argument("-q", "--quiet", action="store_true")
    process.set_defaults(func=cmd_process)

    bot = sub.add_parser("bot", help="run the Telegram bot (long polling; a webhook server with TELEGRAM_WEBHOOK_URL)")
    bot.set_defaults(func=cmd_bot)
    worker = sub.add_parser("worker", help="run the worker that processes queued notes")
    worker.add_argument("--check", action="store_true", help="health check: exit 0 if this host's worker is alive")
    worker.set_defaults(func=cmd_worker)
    web = sub.add_parser("web", help="serve the web page and its API (WEB_HOST, WEB_PORT)")
    web.set_defaults(func=cmd_web)
    db = sub.add_parser("db", help="database migrations")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="migrate to the newest schema")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(func=cmd_db)

    run = sub.add_parser("run", help="run everything on embedded defaults (what `make run` does)")
    run.set_defaults(func=cmd_run)

    models = sub.add_parser("models", help="list model versions and the active ones")
    models.add_argument("--json", action="store_true")
    models.set_defaults(func=cmd_models)
    return parser


def _problems(exc: Exception) -> str:
    """Each bad setting as its environment variable and what is wrong with it (never its value: it may be a
    secret); another error's first line."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'_'.join(str(part) for part in error['loc']).upper() or 'SETTINGS'}: {error['msg']}"
            for error in exc.errors()
        )
    return str(exc).splitlines()[0]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = load_settings()
        wiring.transcribe_strategy(settings)
    except Exception as exc:  # pydantic's ValidationError or the strategy's ValueError: a bad environment variable
        return _fail(f"bad configuration: {_problems(exc)} (check your environment and .env)")
    try:
        return int(args.func(args, settings) or 0)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


if __name__ == "__main__":
    sys.exit(main())
