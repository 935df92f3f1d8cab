"""A tiny training data folder: links to a few shared files, fast to decode, for the training and data tests."""

from __future__ import annotations

from pathlib import Path


def make_tiny_data(shared: Path, root: Path) -> Path:
    """A data folder of links to a few shared files, laid out like ``shared/data``: fast to decode."""
    data = shared / "data"
    picks = {
        "speech/train": sorted((data / "speech" / "train").glob("*.flac"))[:4],
        "speech/dev": sorted((data / "speech" / "dev").glob("*.flac"))[:2],
        "noise/train/rain": sorted((data / "noise" / "train" / "rain").glob("*.flac"))[:1],
        "noise/train/kitchen": sorted((data / "noise" / "train" / "kitchen").glob("*.flac"))[:1],
        "noise/dev/wind": sorted((data / "noise" / "dev" / "wind").glob("*.flac"))[:1],
    }
    for folder, files in picks.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for file in files:
            (root / folder / file.name).symlink_to(file)
    return root
