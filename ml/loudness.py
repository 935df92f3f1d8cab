"""Speech loudness (ITU-R BS.1770 integrated loudness, with ``pyloudnorm``) and the gains that even it out."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import soxr
from pyloudnorm.iirfilter import IIRfilter
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import lfilter

from ml.spool import Samples, Signal, as_signal, blocks

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


class LoudnessMeter:
    """``integrated_lufs`` measured as a note goes by: ``add`` its blocks (any sizes), then read ``lufs``.

    The same K-weighting filters and gating as ``pyloudnorm.Meter.integrated_loudness`` (the tests compare the
    two), filtered ten seconds at a time: pyloudnorm filters the whole note at once in float64, several hundred
    megabytes for an hour at 48 kHz. Holds one number per 100 ms of the note."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        k_weighting = (  # BS.1770's two stages, built as pyloudnorm.Meter builds them
            IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, rate, "high_shelf"),
            IIRfilter(0.0, 0.5, 38.0, rate, "high_pass"),
        )
        self.stages = [(f.b, f.a, f.passband_gain) for f in k_weighting]
        self.states = [np.zeros(len(a) - 1) for _, a, _ in self.stages]
        self.hop = round(0.1 * rate)  # 400-ms gating blocks overlapping by 75 %: sums over 100-ms hops
        self.hop_energy: list[np.ndarray] = []
        self.carry = np.zeros(0)
        self.samples = 0
        self.sound = False  # anything but digital silence seen

    def add(self, audio: np.ndarray) -> None:
        block = 100 * self.hop
        for start in range(0, audio.size, block):
            piece = audio[start : start + block]
            self.samples += piece.size
            self.sound = self.sound or bool(np.any(piece))
            weighted = piece.astype(np.float64)
            for index, (b, a, gain) in enumerate(self.stages):
                weighted, self.states[index] = lfilter(b, a, weighted, zi=self.states[index])
                weighted *= gain
            weighted = np.concatenate([self.carry, weighted])
            whole = weighted.size // self.hop * self.hop
            self.hop_energy.append(np.square(weighted[:whole]).reshape(-1, self.hop).sum(axis=1))
            self.carry = weighted[whole:]

    def lufs(self, *, below_gate: bool = False) -> float:
        """What ``integrated_lufs`` says of everything added so far."""
        if self.samples < int(0.4 * self.rate) or not self.sound:
            return -math.inf
        energy = np.concatenate(self.hop_energy)
        if energy.size < 4:
            return -math.inf
        hop = self.hop
        blocks = (energy[:-3] + energy[1:-2] + energy[2:-1] + energy[3:]) / (4 * hop)  # mean square per 400 ms
        with np.errstate(divide="ignore"):
            loudness = -0.691 + 10.0 * np.log10(blocks)
        gated = blocks[loudness >= -70.0]
        if gated.size == 0:
            return float(-0.691 + 10.0 * np.log10(blocks.mean())) if below_gate and blocks.any() else -math.inf
        relative = -0.691 + 10.0 * np.log10(gated.mean()) - 10.0
        kept = blocks[(loudness > relative) & (loudness > -70.0)]
        return float(-0.691 + 10.0 * np.log10(kept.mean())) if kept.size else -math.inf


class PeakMeter:
    """``true_peak_dbtp`` measured as a note goes by: ``add`` its blocks, then read ``dbtp``."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.stream = soxr.ResampleStream(rate, rate * 4, 1, dtype="float32")
        self.peak = 0.0
        self.flushed = False

    def add(self, audio: np.ndarray, *, last: bool = False) -> None:
        block = int(_BLOCK_S * self.rate)
        for start in range(0, max(audio.size, 1), block):
            end = last and start + block >= audio.size
            up = self.stream.resample_chunk(audio[start : start + block], last=end)
            if up.size:
                self.peak = max(self.peak, float(np.max(np.abs(up))))
        self.flushed = self.flushed or last

    def dbtp(self) -> float:
        if not self.flushed:
            self.add(np.zeros(0, dtype=np.float32), last=True)
        return 20.0 * math.log10(self.peak) if self.peak > 0 else -math.inf


def integrated_lufs(audio: np.ndarray | Signal, rate: int, *, below_gate: bool = False) -> float:
    """Integrated loudness in LUFS, gated as BS.1770-4 says; ``-inf`` for silence or a note under 0.4 s.

    A note quieter than the absolute gate (−70 LUFS) measures ``-inf``; with ``below_gate`` it gets the ungated
    mean loudness instead, so that it can still be brought up (digital silence stays ``-inf``). ``audio`` may be a
    spool (``ml.spool``): it is read ten seconds at a time (``LoudnessMeter``)."""
    meter = LoudnessMeter(rate)
    for block in blocks(as_signal(audio, rate)):
        meter.add(block)
    return meter.lufs(below_gate=below_gate)


def true_peak_dbtp(audio: np.ndarray | Signal, rate: int) -> float:
    """The true peak in dBTP: the sample peak after 4× oversampling (BS.1770 Annex 2), a second at a time."""
    meter = PeakMeter(rate)
    for block in blocks(as_signal(audio, rate)):
        meter.add(block)
    return meter.dbtp()


def gain_db_to(audio: np.ndarray | Signal, rate: int, target_lufs: float, peak_dbtp: float) -> tuple[float, float]:
    """(gain in dB that brings ``audio`` to ``target_lufs`` without its true peak passing ``peak_dbtp``,
    loudness before). Digital silence gets 0 dB and ``-inf``; the gain never exceeds ``MAX_GAIN_DB``."""
    loudness = integrated_lufs(audio, rate, below_gate=True)
    if not math.isfinite(loudness):
        return 0.0, loudness
    return gain_for(loudness, true_peak_dbtp(audio, rate), target_lufs, peak_dbtp), loudness


def gain_for(loudness: float, peak: float, target_lufs: float, peak_dbtp: float) -> float:
    """``gain_db_to``'s gain for a note measured at ``loudness`` (LUFS, below the gate) with true peak ``peak``."""
    if not math.isfinite(loudness):
        return 0.0
    gain = min(target_lufs - loudness, MAX_GAIN_DB)
    if math.isfinite(peak):
        gain = min(gain, peak_dbtp - peak)
    return gain


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
    out = np.empty_like(audio, dtype=np.float32)
    written = 0
    for block in limited_blocks(Samples(audio, rate), ceiling_db, gain_db=gain_db):
        out[written : written + block.size] = block
        written += block.size
    return out


def limited_blocks(
    audio: Signal, ceiling_db: float = TRUE_PEAK_DBTP - LIMITER_MARGIN_DB, *, gain_db: float = 0.0
) -> Iterator[np.ndarray]:
    """``limit_peaks`` ten seconds at a time, reading each ten seconds (and 10 ms either side) from ``audio``."""
    rate = audio.rate
    ceiling = 10.0 ** (ceiling_db / 20.0)
    scale = np.float32(10.0 ** (gain_db / 20.0))
    reach = max(1, int(LIMITER_LOOKAHEAD_S * rate))
    block = 10 * rate
    size = audio.size
    for start in range(0, size, block):
        low, high = max(0, start - 2 * reach), min(size, start + block + 2 * reach)
        region = audio.read(low, high) * scale
        needed = np.minimum(1.0, ceiling / np.maximum(np.abs(region), 1e-12))
        gain = uniform_filter1d(minimum_filter1d(needed, size=2 * reach + 1), size=reach)
        gain = np.minimum(gain, needed)  # the average of floors around a peak is under it; this makes it exact
        end = min(size, start + block)
        yield (region * gain)[start - low : end - low].astype(np.float32, copy=False)


def normalize_voice(audio: np.ndarray, rate: int, *, passes: int = 3) -> tuple[np.ndarray, float]:
    """``audio`` brought to ``TARGET_LUFS`` with peaks limited under ``TRUE_PEAK_DBTP``; and its loudness after.

    Limiting takes some loudness away with the peaks, so the gain is raised by what is missing and the limiter
    run again (from the original), up to ``passes`` times."""
    loudness = integrated_lufs(audio, rate, below_gate=True)
    if not math.isfinite(loudness):
        return audio, loudness
    gain, reached = normalizing_gain(Samples(audio, rate), loudness, passes=passes)
    return limit_peaks(audio, rate, gain_db=gain), reached


def normalizing_gain(audio: Signal, loudness: float, *, passes: int = 3) -> tuple[float, float]:
    """(gain in dB, loudness reached) that ``normalize_voice`` settles on for ``audio`` measured at ``loudness``:
    each pass limits the note a block at a time and measures the result as it goes, keeping nothing of it."""
    gain = used = min(TARGET_LUFS - loudness, MAX_GAIN_DB)
    reached = -math.inf
    for _ in range(max(1, passes)):
        meter = LoudnessMeter(audio.rate)
        for block in limited_blocks(audio, gain_db=gain):
            meter.add(block)
        used, reached = gain, meter.lufs(below_gate=True)
        if abs(reached - TARGET_LUFS) < 0.5 or gain >= MAX_GAIN_DB:
            break
        gain = min(gain + TARGET_LUFS - reached, MAX_GAIN_DB)
    return used, reached
