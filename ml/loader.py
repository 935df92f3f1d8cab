"""Loads model versions through the registry and keeps the active ones warm."""

from __future__ import annotations

import logging
import threading

from ml.denoisers import DeepFilterNet3Denoiser, Denoiser, PassThrough, RNNoiseDenoiser, TorchDenoiser
from ml.errors import ModelError
from ml.registry import Registry
from ml.transcriber import Transcriber

log = logging.getLogger(__name__)


class ModelCache:
    """One loaded denoiser and one loaded Whisper model at a time; switching versions swaps them."""

    def __init__(self, registry: Registry, *, threads: int = 2, compute_type: str = "int8"):
        self.registry = registry
        self.threads = threads
        self.compute_type = compute_type
        self._denoiser: Denoiser | None = None
        self._transcriber: Transcriber | None = None
        self._lock = threading.Lock()

    def loaded(self) -> dict[str, str | None]:
        """Versions held in memory now."""
        return {
            "denoiser": self._denoiser.version if self._denoiser else None,
            "whisper": self._transcriber.version if self._transcriber else None,
        }

    def denoiser(self, name: str) -> Denoiser:
        """The denoiser version ``name``, loaded once."""
        with self._lock:
            if self._denoiser is None or self._denoiser.version != name:
                self._denoiser = None
                self._denoiser = self._load_denoiser(name)
            return self._denoiser

    def transcriber(self, name: str) -> Transcriber:
        """The Whisper version ``name``, loaded once."""
        with self._lock:
            if self._transcriber is None or self._transcriber.version != name:
                self._transcriber = None
                version = self.registry.get("whisper", name)
                path = self.registry.resolve(version)
                if path is None:
                    raise ModelError(f"whisper {name}: no weights to load")
                log.info("loading whisper %s from %s", name, path)
                self._transcriber = Transcriber(
                    path, version=name, threads=self.threads, compute_type=self.compute_type
                )
            return self._transcriber

    def _load_denoiser(self, name: str) -> Denoiser:
        version = self.registry.get("denoiser", name)
        if version.engine == "none":
            return PassThrough()
        if version.engine == "rnnoise":
            return RNNoiseDenoiser()
        if version.engine == "onnxruntime":
            archive = self.registry.resolve(version)  # fails clearly when the package is missing
            return DeepFilterNet3Denoiser(name, archive=archive, threads=self.threads)
        if reason := self.registry.unavailable(version):
            raise ModelError(f"denoiser {name} {reason}")
        from ml.checkpoint import load_model  # torch: only a torch network's version imports it

        path = self.registry.resolve(version)
        log.info("loading denoiser %s from %s", name, path)
        model, _ = load_model(path, arch=version.arch, config=version.config)  # type: ignore[arg-type]
        return TorchDenoiser(model, version=name)
