"""Build ml/samples/noisy_note.ogg from dev speech and synthetic noise (see ml/samples/README.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ml.audio import decode_audio, encode_voice
from ml.data.synth import colored_noise, hum, mix_at_snr
from ml.paths import default_shared

OUT = Path(__file__).resolve().parents[1] / "ml" / "samples" / "noisy_note.ogg"


def main() -> None:
    rng = np.random.default_rng(1688)
    dev = default_shared() / "data" / "speech" / "dev"
    speech = np.concatenate([decode_audio(dev / f"1688-142285-000{i}.flac") for i in (0, 1)])[: 15 * 16_000]
    noise = colored_noise(speech.size, 1.0, rng) + 0.5 * hum(speech.size, rng, 50.0)
    noisy = mix_at_snr(speech, noise, 5.0)
    noisy *= 0.5 / np.abs(noisy).max()
    OUT.write_bytes(encode_voice(noisy))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
