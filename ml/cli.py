"""``python -m ml``: the model library's own command line (no bot, Redis or database needed)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ml.paths import PathSettings, default_shared

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".mp4", ".webm"}


def expand_inputs(inputs: Sequence[str]) -> list[Path]:
    """Files as given, and audio files found (recursively, sorted) in the directories given."""
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found += sorted(p for p in item.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        elif item.is_file():
            found.append(item)
        else:
            raise FileNotFoundError(f"no such file or directory: {item}")
    return found


def cmd_denoise(args: argparse.Namespace) -> int:
    """Denoise files or folders into mono WAV files at the model's rate, with the same stems."""
    from ml.audio import decode_audio, write_wav
    from ml.errors import AudioError
    from ml.loader import ModelCache

    try:
        inputs = expand_inputs(args.inputs)
    except FileNotFoundError as exc:
        print(f"ml: {exc}", file=sys.stderr)
        return 2
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    denoiser = ModelCache(PathSettings().registry()).denoiser(args.model)
    failed = 0
    for index, path in enumerate(inputs, 1):
        try:
            audio = decode_audio(path, sample_rate=denoiser.sample_rate)
        except AudioError as exc:
            print(f"ml: {path}: {exc}", file=sys.stderr)
            failed += 1
            continue
        write_wav(out_dir / f"{path.stem}.wav", denoiser(audio, limit_db=args.limit_db), denoiser.sample_rate)
        print(f"[{index}/{len(inputs)}] {path} → {out_dir / path.stem}.wav", file=sys.stderr)
    return 1 if failed else 0


def cmd_setup_metrics(args: argparse.Namespace) -> int:
    """Copy the DNSMOS models from the shared data folder to where torchmetrics looks for them."""
    import shutil

    source = Path(args.shared) / "data" / "dnsmos"
    target = Path.home() / ".torchmetrics" / "DNSMOS"
    if not source.is_dir():
        print(f"ml: no DNSMOS models at {source}; DNSMOS scores will be unavailable", file=sys.stderr)
        return 0
    for model in source.rglob("*.onnx"):
        dest = target / model.relative_to(source)
        if not dest.exists() or dest.stat().st_size != model.stat().st_size:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(model, dest)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train, or resume, the run a YAML config describes."""
    # Idle OpenMP threads sleep instead of spinning: on a CPU shared with other work, spinning threads made
    # a 2-thread step 5-10x slower; this costs ~10 % on an idle machine. Read once, when torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from ml.train.run import ConfigError, load_config, train

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    flags = {"threads": args.threads, "init_from": args.init_from}
    try:
        cfg = load_config(args.config, args.set, **{key: value for key, value in flags.items() if value is not None})
    except ConfigError as exc:
        print("\n".join(f"ml: {line}" for line in str(exc).splitlines()), file=sys.stderr)
        return 2
    train(cfg, max_minutes=args.max_minutes)
    return 0


def cmd_noiser(args: argparse.Namespace) -> int:
    """Write drawn training or validation mixtures to a folder for listening."""
    from ml.data.noiser import write_mixtures

    table = write_mixtures(Path(args.data_dir), args.out_dir, count=args.count, split=args.split, seed=args.seed)
    print(f"ml: {args.count} mixtures described in {table}", file=sys.stderr)
    return 0


def cmd_pack_data(args: argparse.Namespace) -> int:
    """Write the Opus training pack for a lent GPU machine (``ml.pack``); refuse one over the size limit."""
    from ml.pack import PackTooLarge, pack_data

    def progress(line: str) -> None:
        print(f"ml: {line}", file=sys.stderr)

    options = {"speech_kbps": args.speech_kbps, "noise_kbps": args.noise_kbps, "max_mib": args.max_mib}
    try:
        report = pack_data(args.data_dir, args.out, **options, progress=progress)
    except (PackTooLarge, FileNotFoundError) as exc:
        print(f"ml: {exc}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    print(f"ml: pack written to {report.path} ({report.total / 2**20:.2f} MiB)", file=sys.stderr)
    return 0


def cmd_pack_whisper(args: argparse.Namespace) -> int:
    """Write a Whisper version's encoder alone (int8 linear weights) as ``<out>/model.bin``, for the Whisper-feature
    loss on a machine that has neither the product's Whisper packages nor room for the whole model."""
    from ml.whisper_encoder import encoder_only, read_ct2, whisper_files, write_ct2

    slim = encoder_only(read_ct2(whisper_files(PathSettings().registry(), args.version)), args.blocks)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    size = write_ct2(slim, out / "model.bin")
    print(
        f"ml: Whisper {args.version}'s encoder written to {out / 'model.bin'} ({size / 2**20:.2f} MiB)", file=sys.stderr
    )
    return 0


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """The evaluation's options, shared by ``python -m ml evaluate`` and ``python -m bench.evaluate``."""
    parser.add_argument(
        "--model", action="append", default=[], help="version or checkpoint (.pt, .ckpt) to score; repeat for more"
    )
    parser.add_argument("--no-baselines", action="store_true", help="skip noisy, rnnoise and noisereduce")
    parser.add_argument("--set", choices=("dev", "dev-aug"), default="dev", help="see ml.evaluate.EVAL_SETS")
    parser.add_argument("--count", type=positive_int, default=40, help="mixtures, spread over the SNR buckets")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each mixture")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads while timing (RTF)")
    parser.add_argument("--data-dir", default=str(default_shared() / "data"))
    parser.add_argument("--plot", help="also write a PNG of the metrics per SNR bucket here")


def run_evaluation(args: argparse.Namespace) -> tuple[str, str, str]:
    """Score the baselines and the given models on the fixed dev mixtures, as ``add_evaluate_arguments``'s
    options say; return the report's title, its Markdown tables and the notes on how it was measured."""
    # As for training: idle OpenMP threads sleep, or a busy CPU makes a 2-thread model ~20x slower (RTF).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from ml.evaluate import BASELINES, evaluate

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    models = [*(() if args.no_baselines else BASELINES), *args.model]
    evaluation = evaluate(
        models,
        registry=PathSettings().registry(),
        data_dir=args.data_dir,
        set_name=args.set,
        count=args.count,
        seconds=args.seconds,
        seed=args.seed,
        threads=args.threads,
    )
    notes = evaluation.notes()
    if args.plot:
        notes += f"\n\nPlot: `{evaluation.plot(args.plot)}`."
    return f"Denoiser quality (`{args.set}` set)", evaluation.tables(), notes


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Print the evaluation's tables and notes; write them as Markdown to ``--out`` when given."""
    title, tables, notes = run_evaluation(args)
    report = f"## {title}\n\n{tables.rstrip()}\n\n{notes.rstrip()}\n"
    print(report)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report)
        print(f"ml: report written to {out}", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export a training checkpoint as a registered denoiser version, optionally measuring it first."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see cmd_evaluate: the RTF goes into the card
    from ml.export import export

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    training = {k: v for k, v in (("hours", args.hours), ("hardware", args.hardware)) if v is not None}
    options = {
        "version": args.version,
        "out_dir": args.out_dir,
        "half": not args.full_precision,
        "description": args.description,
        "training": training,
        "average": args.average_with_released,
    }
    path = export(args.checkpoint, **options)
    if args.metrics_from_eval:
        from ml.evaluate import evaluate

        data_dir = default_shared() / "data"
        evaluation = evaluate([str(path)], registry=PathSettings().registry(), data_dir=data_dir, count=args.eval_count)
        print(evaluation.tables())
        source = f"Measured on the exported file by `python -m ml export --metrics-from-eval`. {evaluation.notes()}"
        path = export(args.checkpoint, **options, metrics=evaluation.overall()[str(path)], metrics_source=source)
    print(f"ml: exported {path} (card {path.parent / (args.version + '.md')})", file=sys.stderr)
    return 0


def cmd_curve(args: argparse.Namespace) -> int:
    """Print a run's validation scores by step (its learning curve); optionally plot them."""
    from ml.curves import curve_table, plot_curve, validation_curve

    curve = validation_curve(args.run_dir)
    if not curve:
        print(f"ml: {args.run_dir} logged no validation yet", file=sys.stderr)
        return 1
    print(curve_table(curve))
    if args.plot:
        plot_curve(curve, args.plot, Path(args.run_dir).name)
    return 0


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1 (a clear usage error otherwise, not a traceback later)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml", description="Denoiser models: use, train, measure.")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    denoise = sub.add_parser("denoise", help="denoise audio files or folders to 16 kHz WAV")
    denoise.add_argument("inputs", nargs="+", metavar="INPUT")
    denoise.add_argument("--model", required=True, help="denoiser version (see `voicebot models`)")
    denoise.add_argument("--out-dir", required=True)
    denoise.add_argument(
        "--limit-db", type=float, help="the most noise to take away, in dB (default: no limit; 20 keeps some room tone)"
    )
    denoise.set_defaults(func=cmd_denoise)
    metrics = sub.add_parser("setup-metrics", help="install the DNSMOS models for torchmetrics")
    metrics.add_argument("--shared", default=str(default_shared()))
    metrics.set_defaults(func=cmd_setup_metrics)
    train = sub.add_parser("train", help="train or resume a denoiser from a YAML config (ml/configs/)")
    train.add_argument("--config", required=True, help="e.g. ml/configs/demucs.yaml")
    train.add_argument("--max-minutes", type=float, help="stop (with a checkpoint) after this long")
    train.add_argument("--threads", type=int, help="torch threads (overrides the config; 0: every core)")
    train.add_argument(
        "--init-from", help="a new run starts from these weights (an exported .pt or a .ckpt), e.g. on a new machine"
    )
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (repeatable; dotted for a section's key), e.g. --set name=gatewave-v2 "
        "--set optim.lr=3e-4 --set mix.snr_db=[0,15]; a resume needs the same overrides",
    )
    train.set_defaults(func=cmd_train)
    noiser = sub.add_parser("noiser", help="write noisy/clean training mixtures to a folder")
    noiser.add_argument("--out-dir", required=True)
    noiser.add_argument("--count", type=positive_int, default=20)
    noiser.add_argument("--split", choices=("train", "dev"), default="train")
    noiser.add_argument("--seed", type=int, default=0)
    noiser.add_argument("--data-dir", default=str(default_shared() / "data"))
    noiser.set_defaults(func=cmd_noiser)
    pack = sub.add_parser("pack-data", help="the training data as a small Opus pack for a lent GPU machine")
    pack.add_argument("--out", required=True, help="the pack's folder, rewritten (e.g. data-pack)")
    pack.add_argument("--data-dir", default=str(default_shared() / "data"))
    pack.add_argument("--speech-kbps", type=float, default=48.0, help="Opus bit rate of the speech")
    pack.add_argument("--noise-kbps", type=float, default=24.0, help="Opus bit rate of the noise recordings")
    pack.add_argument("--max-mib", type=float, default=60.0, help="refuse a pack larger than this")
    pack.set_defaults(func=cmd_pack_data)
    whisper = sub.add_parser("pack-whisper", help="Whisper's encoder alone, small, for the Whisper-feature loss")
    whisper.add_argument("--out", required=True, help="folder for its model.bin (e.g. whisper-pack)")
    whisper.add_argument("--version", default="base", help="a registered Whisper version")
    whisper.add_argument("--blocks", type=positive_int, help="keep only the first N blocks (default: all)")
    whisper.set_defaults(func=cmd_pack_whisper)
    evaluate = sub.add_parser("evaluate", help="PESQ, STOI, SI-SDR, DNSMOS and RTF on fixed dev mixtures")
    add_evaluate_arguments(evaluate)
    evaluate.add_argument("--out", help="also write the report (Markdown) to this file")
    evaluate.set_defaults(func=cmd_evaluate)
    curve = sub.add_parser("curve", help="a training run's validation scores by step (its learning curve)")
    curve.add_argument("run_dir", help="e.g. runs/deepfilternet3")
    curve.add_argument("--plot", help="also draw the curve into this PNG")
    curve.set_defaults(func=cmd_curve)
    export = sub.add_parser("export", help="write a versioned denoiser checkpoint and model card, registering it")
    export.add_argument("--checkpoint", required=True, help="runs/<name>/checkpoints/best.ckpt, last.ckpt or a .pt")
    export.add_argument("--version", required=True, help="the version's name, e.g. demucs-h32-v1")
    export.add_argument("--out-dir", default=str(Path(__file__).parent / "weights"))
    export.add_argument("--full-precision", action="store_true", help="float32 on disk (default: float16)")
    export.add_argument("--metrics-from-eval", action="store_true", help="evaluate the export; store its scores")
    export.add_argument("--eval-count", type=int, default=40, help="dev mixtures for --metrics-from-eval")
    export.add_argument("--description", help="one line for listings (default: architecture and steps)")
    export.add_argument("--hours", type=float, help="training hours for the card (default: as recorded)")
    export.add_argument("--hardware", help="what it was trained on, for the card (default: as recorded)")
    export.add_argument(
        "--average-with-released",
        type=float,
        metavar="SHARE",
        help="deepfilternet3 fine-tunes: export SHARE x the trained weights + (1 - SHARE) x the released ones "
        "(WiSE-FT; 0.5 is the paper's default)",
    )
    export.set_defaults(func=cmd_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from ml.errors import ModelError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except ModelError as exc:
        print(f"ml: {exc}", file=sys.stderr)
        return 3
