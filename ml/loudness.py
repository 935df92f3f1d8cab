"""Speech loudness (ITU-R BS.1770 integrated loudness, with ``pyloudnorm``) and the gains that even it out."""

from __future__ import annotations

import math

import numpy as np
import soxr
from pyloudnorm.iirfilter import IIRfilter
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import lfilter

# What a returned voice note is normalised to: the level of speech in podcasts and on phones
# (−16 LUFS, AES TD1004), with true peaks kept 1 dB under full scale (EBU R 128's margin for lossy codecs).
TARGET_LUFS = -16.0
TRUE_PEAK_DBTP = -1.0
# What a note is brought to before denoising and transcription: a level every model has seen in training,
# with headroom for peaks.
WORKING_LUFS = -23.0
MAX_GAIN_DB = 60.0  # a note at −65 dBFS is brought up; nothing quieter than the 16-bit floor is
# The limiter holds sample peaks this far under the true-peak ceiling: room for peaks between samples and for
# the Opus encoder's overshoot (about 1 dB on speech).
LIMITER_MARGIN_DB = 1.5
LIMITER_LOOKAHEAD_S = 0.005  # gain reaches its floor over 5 ms before a peak and recovers over 5 ms after
_BLOCK_S = 1.0


def integrated_lufs(audio: np.ndarray, rate: int, *, below_gate: bool = False) -> float:
    """Integrated loudness in LUFS, gated as BS.1770-4 says; ``-inf`` for silence or a note under 0.4 s.

    A note quieter than the absolute gate (−70 LUFS) measures ``-inf``; with ``below_gate`` it gets the ungated
    mean loudness instead, so that it can still be brought up (digital silence stays ``-inf``).

    The same K-weighting filters and gating as ``pyloudnorm.Meter.integrated_loudness`` (the tests compare the
    two), run ten seconds at a time: pyloudnorm filters the whole note at once in float64, several hundred
    megabytes for an hour at 48 kHz."""
    if audio.size < int(0.4 * rate) or not np.any(audio):
        return -math.inf
    k_weighting = (  # BS.1770's two stages, built as pyloudnorm.Meter builds them
        IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, rate, "high_shelf"),
        IIRfilter(0.0, 0.5, 38.0, rate, "high_pass"),
    )
    stages = [(f.b, f.a, f.passband_gain) for f in k_weighting]
    states = [np.zeros(len(a) - 1) for _, a, _ in stages]
    hop = round(0.1 * rate)  # 400-ms gating blocks overlapping by 75 %: sums over 100-ms hops
    hop_energy = []
    carry = np.zeros(0)
    block = 100 * hop
    for start in range(0, audio.size, block):
        weighted = audio[start : start + block].astype(np.float64)
        for index, (b, a, gain) in enumerate(stages):
            weighted, states[index] = lfilter(b, a, weighted, zi=states[index])
            weighted *= gain
        weighted = np.concatenate([carry, weighted])
        whole = weighted.size // hop * hop
        hop_energy.append(np.square(weighted[:whole]).reshape(-1, hop).sum(axis=1))
        carry = weighted[whole:]
    energy = np.concatenate(hop_energy)
    if energy.size < 4:
        return -math.inf
    blocks = (energy[:-3] + energy[1:-2] + energy[2:-1] + energy[3:]) / (4 * hop)  # mean square per 400 ms
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10.0 * np.log10(blocks)
    gated = blocks[loudness >= -70.0]
    if gated.size == 0:
        return float(-0.691 + 10.0 * np.log10(blocks.mean())) if below_gate and blocks.any() else -math.inf
    relative = -0.691 + 10.0 * np.log10(gated.mean()) - 10.0
    kept = blocks[(loudness > relative) & (loudness > -70.0)]
    return float(-0.691 + 10.0 * np.log10(kept.mean())) if kept.size else -math.inf


def true_peak_dbtp(audio: np.ndarray, rate: int) -> float:
    """The true peak in dBTP: the sample peak after 4× oversampling (BS.1770 Annex 2), a second at a time."""
    stream = soxr.ResampleStream(rate, rate * 4, 1, dtype="float32")
    peak = 0.0
    block = int(_BLOCK_S * rate)
    for start in range(0, max(audio.size, 1), block):
        up = stream.resample_chunk(audio[start : start + block], last=start + block >= audio.size)
        if up.size:
            peak = max(peak, float(np.max(np.abs(up))))
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def gain_db_to(audio: np.ndarray, rate: int, target_lufs: float, peak_dbtp: float) -> tuple[float, float]:
    """(gain in dB that brings ``audio`` to ``target_lufs`` without its true peak passing ``peak_dbtp``,
    loudness before). Digital silence gets 0 dB and ``-inf``; the gain never exceeds ``MAX_GAIN_DB``."""
    loudness = integrated_lufs(audio, rate, below_gate=True)
    if not math.isfinite(loudness):
        return 0.0, loudness
    gain = min(target_lufs - loudness, MAX_GAIN_DB)
    peak = true_peak_dbtp(audio, rate)
    if math.isfinite(peak):
        gain = min(gain, peak_dbtp - peak)
    return gain, loudness


def working_gain(audio: np.ndarray, rate: int) -> float:
    """The factor that brings a note to ``WORKING_LUFS`` (peaks under ``TRUE_PEAK_DBTP``): the level every model
    hears it at in the pipeline; 1 for digital silence."""
    return float(10.0 ** (gain_db_to(audio, rate, WORKING_LUFS, TRUE_PEAK_DBTP)[0] / 20.0))


def limit_peaks(
    audio: np.ndarray, rate: int, ceiling_db: float = TRUE_PEAK_DBTP - LIMITER_MARGIN_DB, *, gain_db: float = 0.0
) -> np.ndarray:
    """A look-ahead peak limiter: ``audio`` raised by ``gain_db`` with every sample within ``ceiling_db``, the gain
    lowered smoothly around each peak (a minimum filter over ±5 ms, then a 5-ms moving average, which never lets
    a peak through). Works ten seconds at a time into one new array, so the note is never copied twice."""
    ceiling = 10.0 ** (ceiling_db / 20.0)
    scale = np.float32(10.0 ** (gain_db / 20.0))
    reach = max(1, int(LIMITER_LOOKAHEAD_S * rate))
    block = 10 * rate
    out = np.empty_like(audio, dtype=np.float32)
    for start in range(0, audio.size, block):
        low, high = max(0, start - 2 * reach), min(audio.size, start + block + 2 * reach)
        region = audio[low:high] * scale
        needed = np.minimum(1.0, ceiling / np.maximum(np.abs(region), 1e-12))
        gain = uniform_filter1d(minimum_filter1d(needed, size=2 * reach + 1), size=reach)
        gain = np.minimum(gain, needed)  # the average of floors around a peak is under it; this makes it exact
        end = min(audio.size, start + block)
        out[start:end] = (region * gain)[start - low : end - low]
    return out


def normalize_voice(audio: np.ndarray, rate: int, *, passes: int = 3) -> tuple[np.ndarray, float]:
    """``audio`` brought to ``TARGET_LUFS`` with peaks limited under ``TRUE_PEAK_DBTP``; and its loudness after.

    Limiting takes some loudness away with the peaks, so the gain is raised by what is missing and the limiter
    run again (from the original), up to ``passes`` times."""
    loudness = integrated_lufs(audio, rate, below_gate=True)
    if not math.isfinite(loudness):
        return audio, loudness
    gain = min(TARGET_LUFS - loudness, MAX_GAIN_DB)
    for _ in range(passes):
        out = limit_peaks(audio, rate, gain_db=gain)
        reached = integrated_lufs(out, rate, below_gate=True)
        if abs(reached - TARGET_LUFS) < 0.5 or gain >= MAX_GAIN_DB:
            break
        gain = min(gain + TARGET_LUFS - reached, MAX_GAIN_DB)
    return out, reached
