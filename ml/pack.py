"""``python -m ml pack-data``: the training data a lent GPU machine needs, small enough to travel with the repo.

The speech and noise folders of ``shared/data`` (train and dev) are re-coded as Ogg Opus, speech near-transparent
and noise cheaper, beside copies of ``manifest.tsv`` and ``dnsmos/``. The pack is laid out as a shared folder,
``<out>/data/...``: ``data_dir: <out>/data`` trains on it, and ``VOICEBOT_SHARED_DIR=<out>`` serves
``python -m ml setup-metrics`` and ``python -m ml export`` (the model card's licences) there.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ml.audio import decode_audio, encode_voice

FOLDERS = ("speech/train", "speech/dev", "noise/train", "noise/dev")
SOURCE_SUFFIXES = {".flac", ".wav", ".ogg", ".opus"}
SPEECH_KBPS = 48.0  # PESQ-wb 4.47 against the FLAC originals (dev speech)
NOISE_KBPS = 24.0
CUTOFF_HZ = 8000  # the data is 16 kHz: nothing above 8 kHz to code
MAX_MIB = 60.0
MIB = 1 << 20


class PackTooLarge(ValueError):
    """The pack would be over its size limit; nothing was replaced."""


@dataclass(frozen=True)
class PackReport:
    """What a pack holds: its folder, file counts and bytes per part (``speech/train``, ..., ``other``)."""

    path: Path
    files: dict[str, int]
    sizes: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.sizes.values())

    def lines(self) -> list[str]:
        rows = [f"{part:<12} {self.files[part]:>4} files {self.sizes[part] / MIB:7.2f} MiB" for part in self.sizes]
        return [*rows, f"{'total':<12} {sum(self.files.values()):>4} files {self.total / MIB:7.2f} MiB"]


def pack_data(
    source: str | Path,
    out: str | Path,
    *,
    speech_kbps: float = SPEECH_KBPS,
    noise_kbps: float = NOISE_KBPS,
    max_mib: float = MAX_MIB,
    progress: Callable[[str], None] | None = None,
) -> PackReport:
    """Write the pack of the data folder ``source`` (``shared/data``) to ``out``, replacing any earlier pack.

    It is built beside ``out`` first; over ``max_mib`` it is deleted and ``PackTooLarge`` raised, ``out`` untouched.
    """
    source, out = Path(source), Path(out)
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    files: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for folder in FOLDERS:
        kbps = speech_kbps if folder.startswith("speech") else noise_kbps
        originals = sorted(p for p in (source / folder).rglob("*") if p.suffix.lower() in SOURCE_SUFFIXES)
        if not originals:
            raise FileNotFoundError(f"no audio files under {source / folder}")
        for original in originals:
            target = staging / "data" / folder / original.relative_to(source / folder).with_suffix(".opus")
            target.parent.mkdir(parents=True, exist_ok=True)
            audio = decode_audio(original)
            target.write_bytes(encode_voice(audio, bitrate=int(kbps * 1000), application="audio", cutoff_hz=CUTOFF_HZ))
        files[folder], sizes[folder] = len(originals), _bytes(staging / "data" / folder)
        if progress:
            progress(f"{folder}: {len(originals)} files at {kbps:g} kb/s, {sizes[folder] / MIB:.2f} MiB")
    shutil.copyfile(source / "manifest.tsv", staging / "data" / "manifest.tsv")
    if (source / "dnsmos").is_dir():
        shutil.copytree(source / "dnsmos", staging / "data" / "dnsmos")
    dnsmos = (source / "dnsmos").is_dir()
    (staging / "README.txt").write_text(readme(out.name, speech_kbps, noise_kbps, dnsmos=dnsmos))
    files["other"] = sum(1 for p in staging.rglob("*") if p.is_file()) - sum(files.values())
    sizes["other"] = _bytes(staging) - sum(sizes.values())
    report = PackReport(out, files, sizes)
    if report.total > max_mib * MIB:
        shutil.rmtree(staging)
        raise PackTooLarge(
            f"the pack would be {report.total / MIB:.2f} MiB, over the {max_mib:g} MiB limit: "
            "lower --speech-kbps or --noise-kbps (nothing written; an earlier pack is left as it was)"
        )
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return report


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def readme(name: str, speech_kbps: float, noise_kbps: float, *, dnsmos: bool) -> str:
    """The pack's README.txt."""
    return f"""\
A training pack of voicebot's shared data, written by `python -m ml pack-data` (ml/pack.py) for a lent GPU
machine, which gets only what travels with the repository. Rebuild it rather than edit it.

data/speech/train, data/speech/dev   the shared FLAC speech re-coded as Ogg Opus at {speech_kbps:g} kb/s
data/noise/train/<category>,
data/noise/dev/<category>            the noise recordings as Ogg Opus at {noise_kbps:g} kb/s
data/manifest.tsv                    copied: origins and licences (each X.flac it names is X.opus here)
data/dnsmos                          {"copied: the DNSMOS models" if dnsmos else "absent: the source had none"}

Opus: 48 kHz mono, libopus's `audio` application, coded band capped at 8 kHz (the data is 16 kHz).
Train on it with `data_dir: {name}/data` (ml/configs/deepfilternet3-gpu.yaml reads data-pack/data); with
VOICEBOT_SHARED_DIR={name}, `python -m ml setup-metrics` and `python -m ml export` find it too.
The rules of shared/data hold: train only on */train, choose checkpoints on */dev.
"""
