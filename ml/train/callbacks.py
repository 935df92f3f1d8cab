"""Training callbacks: audio and spectrogram samples, a progress line in the log, training time, atomic
checkpoint files, and the last checkpoint written when a session stops (Lightning's ``ModelCheckpoint`` keeps it
current meanwhile)."""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path
from typing import Any

import matplotlib
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger
from pytorch_lightning.plugins.io import TorchCheckpointIO
from pytorch_lightning.utilities.exceptions import SIGTERMException

from ml.audio import SAMPLE_RATE
from ml.checkpoint import atomic_torch_save

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # after choosing the backend

log = logging.getLogger(__name__)


def spectrogram_figure(signals: dict[str, torch.Tensor]) -> plt.Figure:
    """One log-magnitude spectrogram (dB) per named 1-D signal, stacked vertically on a shared scale."""
    fig, axes = plt.subplots(len(signals), 1, figsize=(8, 2.2 * len(signals)), sharex=True, squeeze=False)
    window = torch.hann_window(512)
    for ax, (name, x) in zip(axes[:, 0], signals.items(), strict=True):
        spec = torch.stft(x.float().cpu(), 512, 128, window=window, return_complex=True).abs()
        db = 20 * torch.log10(spec.clamp_min(1e-5))
        seconds, khz = x.shape[-1] / SAMPLE_RATE, SAMPLE_RATE / 2000
        ax.imshow(db.numpy(), origin="lower", aspect="auto", extent=(0, seconds, 0, khz), vmin=-100, vmax=0)
        ax.set_ylabel(f"{name}\nkHz")
    axes[-1, 0].set_xlabel("s")
    fig.tight_layout()
    return fig


class AudioSamples(pl.Callback):
    """Every ``every_n_epochs`` epochs, log noisy / enhanced / clean audio and spectrograms of given examples
    to TensorBoard (ClearML picks them up from there)."""

    def __init__(self, examples: list[tuple[torch.Tensor, torch.Tensor]], every_n_epochs: int) -> None:
        self.examples, self.every_n_epochs = examples, every_n_epochs

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.every_n_epochs <= 0 or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        writers = [lg.experiment for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
        if not writers:
            return
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            for index, (noisy, clean) in enumerate(self.examples):
                enhanced = pl_module(noisy.unsqueeze(0).to(pl_module.device)).reshape(-1).cpu()
                signals = {"noisy": noisy, "enhanced": enhanced, "clean": clean}
                figure = spectrogram_figure(signals)
                for writer in writers:
                    for name, x in signals.items():
                        peak = float(x.abs().max()) + 1e-9
                        writer.add_audio(f"sample{index}/{name}", x / peak, trainer.global_step, SAMPLE_RATE)
                    writer.add_figure(f"sample{index}/spectrogram", figure, trainer.global_step, close=False)
                plt.close(figure)
        pl_module.train(was_training)


class ProgressLog(pl.Callback):
    """Every ``every_n_steps`` optimiser steps, log the step, loss, learning rate and throughput."""

    def __init__(self, every_n_steps: int, audio_s_per_step: float) -> None:
        self.every_n_steps, self.audio_s_per_step = every_n_steps, audio_s_per_step
        self._since: tuple[float, int] | None = None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: object) -> None:
        step, now = trainer.global_step, time.monotonic()
        if self._since is None:
            self._since = (now, step)
            return
        if step % self.every_n_steps:
            return
        rate = (step - self._since[1]) / max(now - self._since[0], 1e-9)
        self._since = (now, step)
        loss = trainer.callback_metrics.get("train/loss")
        log.info(
            "step %d epoch %d loss %.4f lr %.2e: %.2f steps/s, %.1f s of audio per s",
            step,
            trainer.current_epoch,
            float(loss) if loss is not None else float("nan"),
            trainer.optimizers[0].param_groups[0]["lr"],
            rate,
            rate * self.audio_s_per_step,
        )


class TrainingClock(pl.Callback):
    """Wall time spent training and the hardware it ran on, summed over sessions: Lightning keeps this
    callback's state in every checkpoint, and ``ml export`` copies it into the model card.

    ``parent`` is what the weights a run started from (``--init-from``) had recorded of their own training.
    """

    def __init__(self, hardware: str, parent: dict[str, Any] | None = None) -> None:
        self.hardware = hardware
        self.seconds, self.machines = 0.0, [hardware]
        self.parent = dict(parent or {})
        self._last: float | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._last = time.monotonic()
        if self.hardware not in self.machines:
            self.machines.append(self.hardware)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: object) -> None:
        now = time.monotonic()
        if self._last is not None:
            self.seconds += now - self._last
        self._last = now

    def state_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "machines": list(self.machines), "parent": dict(self.parent)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.seconds = float(state_dict.get("seconds", 0.0))
        self.machines = list(state_dict.get("machines") or [])
        self.parent = dict(state_dict.get("parent") or {})
        if self.hardware not in self.machines:
            self.machines.append(self.hardware)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoints written to a temporary file beside the target, then renamed over it.

    Lightning's own save stages the file in the system's temporary folder: on another file system it is copied
    over the target, and a stop during that copy leaves a truncated checkpoint."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        atomic_torch_save(checkpoint, path)


class SessionEnd(pl.Callback):
    """Write ``path`` (``last.ckpt``) at the step a session stops on: ``max_steps`` reached, ``session_minutes``
    spent (which then stops it), SIGTERM or Ctrl-C.

    Lightning does not cover these: ``Timer``'s limit also counts earlier sessions; ``ModelCheckpoint`` saves
    ``last`` at the end only if it saved nothing earlier in the session, and on any error rather than on a stop;
    ``OnExceptionCheckpoint`` deletes its file when training ends normally.
    """

    def __init__(self, path: str | Path, *, session_minutes: float | None = None) -> None:
        self.path = Path(path)
        self.session_s = None if session_minutes is None else session_minutes * 60
        self._start = time.monotonic()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.monotonic()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: object) -> None:
        if self.session_s is not None and time.monotonic() - self._start >= self.session_s and not trainer.should_stop:
            log.info("session limit of %.1f min reached at step %d", self.session_s / 60, trainer.global_step)
            trainer.should_stop = True
        if trainer.should_stop or 0 < trainer.max_steps <= trainer.global_step:
            trainer.save_checkpoint(self.path)
            log.info("step %d: saved %s", trainer.global_step, self.path)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        """SIGTERM (a container or machine stopping) or Ctrl-C between two steps: keep the last step. A SIGTERM
        sent to the whole process group also kills the data workers, so the trainer may end on that error
        instead; ``received_sigterm`` says it was asked to stop all the same."""
        stopped = isinstance(exception, SIGTERMException | KeyboardInterrupt) or trainer.received_sigterm
        if stopped and trainer.global_step:
            # the data workers are dying too: PyTorch's SIGCHLD handler would raise in the middle of the save
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            trainer.save_checkpoint(self.path)
            reason = "SIGTERM" if trainer.received_sigterm else type(exception).__name__
            log.info("stopped by %s at step %d: saved %s", reason, trainer.global_step, self.path)
