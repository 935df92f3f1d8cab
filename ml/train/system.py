"""The LightningModule: trains a given model with a given loss; validates with PESQ, STOI, SI-SDR, DNSMOS."""

from __future__ import annotations

import logging
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.types import OptimizerLRSchedulerConfig
from torch import nn
from torchmetrics.audio import DeepNoiseSuppressionMeanOpinionScore

from ml.audio import SAMPLE_RATE
from ml.metrics import DNSMOS_DIR, DNSMOS_NAMES, DNSMOS_SECONDS, dnsmos_available, quality_metrics, tile_to
from ml.train.optim import OptimConfig

log = logging.getLogger(__name__)


class EnhancementSystem(pl.LightningModule):
    """Maps noisy batches ``(noisy, clean)`` of shape (batch, time) through ``model`` and ``loss``.

    The noisy input's own scores are computed at the first validation of each session (``val_noisy/*``)
    so the enhanced scores (``val/*``) always have a baseline beside them.
    """

    def __init__(
        self, model: nn.Module, loss: nn.Module, optim: OptimConfig, *, arch: str, dnsmos: bool = True
    ) -> None:
        super().__init__()
        self.model, self.loss, self.optim, self.arch = model, loss, optim, arch
        self.metrics = quality_metrics()
        self.noisy_metrics = quality_metrics()
        self.dnsmos = None
        if dnsmos and dnsmos_available():
            self.dnsmos = DeepNoiseSuppressionMeanOpinionScore(SAMPLE_RATE, personalized=False)
        elif dnsmos:
            log.warning("DNSMOS models not found under %s; run `python -m ml setup-metrics`", DNSMOS_DIR)
        self._baseline_pending = True

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        return self.model(noisy)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        noisy, clean = batch
        total, parts = self.loss(self.model(noisy), clean, noisy)
        self.log("train/loss", total, prog_bar=True)
        self.log_dict({f"train/{name}": value for name, value in parts.items()})
        return total

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        noisy, clean = batch
        estimate = self.model(noisy).squeeze(1)
        total, _ = self.loss(estimate, clean, noisy)
        self.log("val/loss", total, batch_size=noisy.shape[0])
        self.metrics.update(estimate, clean)
        if self.dnsmos is not None:
            self.dnsmos.update(tile_to(estimate, DNSMOS_SECONDS * SAMPLE_RATE))
        if self._baseline_pending:
            self.noisy_metrics.update(noisy, clean)

    def on_validation_epoch_end(self) -> None:
        scores = {f"val/{name}": value for name, value in self.metrics.compute().items()}
        self.metrics.reset()
        if self.dnsmos is not None:
            values = self.dnsmos.compute()
            scores |= {f"val/dnsmos_{name}": value for name, value in zip(DNSMOS_NAMES, values, strict=True)}
            self.dnsmos.reset()
        if self._baseline_pending:
            scores |= {f"val_noisy/{name}": value for name, value in self.noisy_metrics.compute().items()}
            self.noisy_metrics.reset()
            self._baseline_pending = False
        self.log_dict({name: float(value) for name, value in scores.items()})
        log.info(
            "step %d validation: %s",
            self.global_step,
            ", ".join(f"{name} {float(value):.3f}" for name, value in sorted(scores.items())),
        )

    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        optimizer = torch.optim.Adam(
            self.model.parameters(), lr=self.optim.lr, betas=self.optim.betas, weight_decay=self.optim.weight_decay
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self.optim.factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Record what the model is, so a denoiser checkpoint can be exported without the config file."""
        checkpoint["denoiser"] = {"arch": self.arch, "config": dict(self.model.config)}  # type: ignore[arg-type]
