"""Training denoisers with PyTorch Lightning: ``python -m ml train --config ml/configs/<arch>.yaml``.

``losses`` (L1 + multi-resolution STFT), ``system`` (the LightningModule, given model, loss and optimiser
settings), ``datamodule`` (given the datasets), ``callbacks`` (audio samples, progress, time limit) and
``run`` (config → Trainer, resuming from ``runs/<name>/checkpoints/last.ckpt``).
"""
