"""Write drawn mixtures to disk for listening: ``NNNN_noisy.wav``, ``NNNN_clean.wav`` and ``mixtures.tsv``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ml.audio import write_wav
from ml.data.mixer import MixConfig, load_pools, make_mixture


def write_mixtures(
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    count: int,
    split: str = "train",
    seed: int = 0,
    config: MixConfig | None = None,
) -> Path:
    """Draw ``count`` mixtures from ``split`` (mixture ``i`` from ``(seed, i)``); return the written table."""
    config = config or MixConfig()
    pools = load_pools(data_dir, split)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = ["index\tsnr_db\tnoise"]
    for index in range(count):
        mixture = make_mixture(np.random.default_rng([seed, index]), pools, config)
        write_wav(out / f"{index:04d}_noisy.wav", mixture.noisy)
        write_wav(out / f"{index:04d}_clean.wav", mixture.clean)
        rows.append(f"{index:04d}\t{mixture.snr_db:.2f}\t{mixture.description}")
    table = out / "mixtures.tsv"
    table.write_text("\n".join(rows) + "\n")
    return table
