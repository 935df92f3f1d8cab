"""Whisper's encoder in PyTorch against CTranslate2's own, on real dev speech, from the product's weights.

Tolerances. The PyTorch encoder holds the very float32 weights CTranslate2 computes with (float16 widened, int8
divided by its scales, exactly as CTranslate2 does at ``compute_type="float32"``), so the two differ only by float32
rounding in different kernels (GEMM and convolution summation order, softmax, erf). Measured on Whisper base: the
largest difference is 0.10–0.14 % of the output's standard deviation (outputs reach ±24), relative L2 error 3.4e-6
(30 s) and 1.0e-5 (3-s crop), every frame's cosine similarity ≥ 0.9999997. The bounds below leave 3.5–5× room for
other CPUs and BLAS builds, and still fail a real mistake 50 times over: GELU's tanh approximation instead
of erf gives 0.30 of the std and a relative L2 error of 2.7e-3; running int8 instead of float32 gives relative L2
errors of 0.03–0.09.
"""

from __future__ import annotations

import re
from pathlib import Path

import ctranslate2
import numpy as np
import pytest
import torch
from faster_whisper import feature_extractor
from faster_whisper.audio import pad_or_trim

from ml.cli import main
from ml.paths import PathSettings
from ml.whisper_encoder import CHUNK_FRAMES, SAMPLE_RATE, LogMel, WhisperEncoder, read_ct2, sinusoids, write_ct2
from testkit.speech import dev_speech

MAX_DIFF_OVER_STD = 5e-3
MAX_RELATIVE_L2 = 5e-5
MIN_COSINE = 0.99999
# log-mel units (the features span about −1.5 to 1.5): both sides compute float32 FFTs (numpy's pocketfft, torch's),
# whose rounding the log turns into at most 2.7e-5 here, largest in the quietest bins (floored at max − 8)
MEL_TOLERANCE = 1e-4
# the encoder alone with int8 linear weights (`ml pack-whisper`) against the packaged float16 weights, both run in
# float32 on 5 s of speech: measured relative L2 error 0.011 / 0.022 / 0.024 after blocks 1 / 3 / 5 and 0.021 at the
# output, every frame's cosine similarity ≥ 0.993 (CTranslate2's own int8 run differs from float32 by 0.03-0.09)
PACKED_MAX_RELATIVE_L2 = 0.04
PACKED_MIN_COSINE = 0.98

ENCODER_NAMES = {
    "encoder/conv1/weight", "encoder/conv1/bias", "encoder/conv2/weight", "encoder/conv2/bias",
    "encoder/num_heads", "encoder/position_encodings/encodings", "encoder/layer_norm/gamma", "encoder/layer_norm/beta",
}  # fmt: skip
LAYER_NAMES = {
    f"{part}/{leaf}"
    for part in ("self_attention/linear_0", "self_attention/linear_1", "ffn/linear_0", "ffn/linear_1")
    for leaf in ("weight", "bias")
} | {f"{norm}/layer_norm/{leaf}" for norm in ("self_attention", "ffn") for leaf in ("gamma", "beta")}


def whisper_dir(version: str) -> Path:
    """The folder the product runs ``version`` from (base: its two packages' parts joined once into the cache)."""
    registry = PathSettings().registry()
    path = registry.resolve(registry.get("whisper", version))
    assert path is not None
    return path


@pytest.fixture(scope="module")
def base() -> tuple[WhisperEncoder, ctranslate2.models.Whisper]:
    """Whisper base as PyTorch reads it and as CTranslate2 runs it in float32 (the product runs int8)."""
    path = whisper_dir("base")
    return WhisperEncoder.from_ct2(path), ctranslate2.models.Whisper(str(path), compute_type="float32", intra_threads=2)


def ct2_encode(model: ctranslate2.models.Whisper, features: np.ndarray) -> np.ndarray:
    """As faster-whisper calls it: (batch, 80, frames) float32, contiguous, in a StorageView; back with np.array."""
    view = ctranslate2.StorageView.from_array(np.ascontiguousarray(features, dtype=np.float32))
    return np.array(model.encode(view))


def assert_matches(ours: np.ndarray, reference: np.ndarray) -> None:
    assert ours.shape == reference.shape
    difference = np.abs(ours - reference)
    cosine = (ours * reference).sum(-1) / np.linalg.norm(ours, axis=-1) / np.linalg.norm(reference, axis=-1)
    assert difference.max() / reference.std() < MAX_DIFF_OVER_STD
    assert np.linalg.norm(ours - reference) / np.linalg.norm(reference) < MAX_RELATIVE_L2
    assert cosine.min() > MIN_COSINE


def test_the_base_packages_model_bin_is_read() -> None:
    model = read_ct2(whisper_dir("base") / "model.bin")
    assert (model.binary_version, model.spec, model.revision) == (6, "WhisperSpec", 3)
    assert model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    encoder = {name for name in model.variables if name.startswith("encoder/")}
    blocks = {name for name in encoder if re.match(r"encoder/layer_\d+/", name)}
    assert encoder - blocks == ENCODER_NAMES
    assert {name.split("/", 2)[-1] for name in blocks} == LAYER_NAMES and len(blocks) == 6 * len(LAYER_NAMES)
    assert model.dtypes["encoder/layer_0/self_attention/linear_0/weight"] == 4  # float16, as packaged
    assert model.variables["encoder/layer_0/self_attention/linear_0/weight"].shape == (3 * 512, 512)  # fused QKV
    assert int(model.variables["encoder/num_heads"]) == 8
    # the stored positions are Whisper's sinusoids, to float16's half-step at 1.0
    stored = torch.from_numpy(model.float32("encoder/position_encodings/encodings"))
    assert (stored - sinusoids(1500, 512)).abs().max() < 5e-4


@pytest.mark.parametrize("crop_s", [None, 3.0], ids=["padded-30s", "crop-3s"])
def test_base_encoder_matches_ctranslate2_on_speech(
    base: tuple[WhisperEncoder, ctranslate2.models.Whisper], crop_s: float | None
) -> None:
    """As faster-whisper feeds it (20 s of speech, features zero-padded to 3000 frames), and a 3-s crop unpadded."""
    encoder, reference = base
    speech, _ = dev_speech(20.0)
    if crop_s is None:
        features = pad_or_trim(feature_extractor.FeatureExtractor()(speech[: 20 * SAMPLE_RATE]))[None]
        assert features.shape[-1] == CHUNK_FRAMES
    else:
        features = feature_extractor.FeatureExtractor()(speech[SAMPLE_RATE : int((1 + crop_s) * SAMPLE_RATE)])[None]
    with torch.no_grad():
        ours = encoder(torch.from_numpy(features)).numpy()
    assert ours.shape == (1, (features.shape[-1] + 1) // 2, 512)
    assert_matches(ours, ct2_encode(reference, features))


@pytest.mark.parametrize(("quantization", "dtype"), [("int8", 1), ("int16", 2), ("bfloat16", 5)])
def test_quantised_weights_are_read_as_ctranslate2_reads_them(tmp_path: Path, quantization: str, dtype: int) -> None:
    """tiny.en written again by CTranslate2's own converter with int8 (per-row scales, convolutions too), int16 (one
    scale) or bfloat16 weights, read here and run by CTranslate2 in float32: the same numbers."""
    from ctranslate2.specs import model_spec, whisper_spec

    source = whisper_dir("tiny.en")
    model = read_ct2(source)
    spec = whisper_spec.WhisperSpec(4, 6, 4, 6)
    for name, value in model.variables.items():
        scope, attribute = model_spec._parent_scope(name)
        setattr(model_spec.index_spec(spec, scope), attribute, value if value.ndim == 0 else model.float32(name))
    spec.register_vocabulary((source / "vocabulary.txt").read_text().splitlines())
    spec.validate()
    spec.optimize(quantization=quantization)
    spec.save(str(tmp_path))
    quantised = read_ct2(tmp_path)
    assert quantised.dtypes["encoder/conv1/weight"] == quantised.dtypes["encoder/layer_3/ffn/linear_1/weight"] == dtype
    speech, _ = dev_speech(5.0)
    features = feature_extractor.FeatureExtractor()(speech[: 3 * SAMPLE_RATE])[None]
    with torch.no_grad():
        ours = WhisperEncoder.from_ct2(tmp_path)(torch.from_numpy(features)).numpy()
    assert_matches(ours, ct2_encode(ctranslate2.models.Whisper(str(tmp_path), compute_type="float32"), features))


def test_log_mel_matches_faster_whispers_features() -> None:
    """One 20-s input and a batch of two 2-s crops (each clamped at its own maximum − 8, as if fed alone)."""
    speech, _ = dev_speech(20.0)
    mel, reference = LogMel(), feature_extractor.FeatureExtractor()
    whole = speech[: 20 * SAMPLE_RATE]
    assert np.abs(mel(torch.from_numpy(whole))[0].numpy() - reference(whole)).max() < MEL_TOLERANCE
    crops = np.stack([speech[: 2 * SAMPLE_RATE], 0.1 * speech[5 * SAMPLE_RATE : 7 * SAMPLE_RATE]])
    ours = mel(torch.from_numpy(crops)).numpy()
    assert ours.shape == (2, 80, 201)
    for crop, features in zip(crops, ours, strict=True):
        assert np.abs(features - reference(crop)).max() < MEL_TOLERANCE


def test_gradients_reach_the_waveform_through_a_block() -> None:
    """A batch of two 1-s crops: layer 1's output (of tiny.en's 4) pulls on every sample's waveform; blocks past
    it are not needed; the final block's output under the last LayerNorm is the encoder's output."""
    encoder, mel = WhisperEncoder.from_ct2(whisper_dir("tiny.en")), LogMel()
    speech, _ = dev_speech(3.0)
    wave = torch.from_numpy(np.stack([speech[:SAMPLE_RATE], speech[SAMPLE_RATE : 2 * SAMPLE_RATE]])).requires_grad_()
    (hidden,) = encoder.hidden_states(mel(wave), [1])
    assert hidden.shape == (2, 51, 384)
    hidden.square().mean().backward()
    assert wave.grad is not None and torch.isfinite(wave.grad).all()
    assert (wave.grad.abs().sum(dim=1) > 0).all()
    assert not any(parameter.requires_grad for parameter in encoder.parameters())  # the judge stays fixed
    with torch.no_grad():
        features = mel(wave)
        last = encoder.hidden_states(features, [-1])[0]
        torch.testing.assert_close(encoder.norm(last), encoder(features))


def test_a_model_written_back_is_byte_for_byte_the_packaged_one(tmp_path: Path) -> None:
    source = whisper_dir("base") / "model.bin"
    assert write_ct2(read_ct2(source), tmp_path / "model.bin") == source.stat().st_size
    assert (tmp_path / "model.bin").read_bytes() == source.read_bytes()


def test_the_packed_encoder_hears_speech_as_the_packaged_weights_do(
    base: tuple[WhisperEncoder, ctranslate2.models.Whisper], tmp_path: Path
) -> None:
    """``python -m ml pack-whisper``: the encoder alone, linear weights int8 (one scale per row), under a sixth of
    the model's size; its hidden states and output within int8's rounding of the float16 weights'."""
    assert main(["pack-whisper", "--out", str(tmp_path / "all")]) == 0
    assert main(["pack-whisper", "--out", str(tmp_path / "four"), "--blocks", "4"]) == 0
    packed = read_ct2(tmp_path / "all")
    assert not any(name.startswith("decoder/") for name in packed.variables) and packed.aliases == {}
    assert packed.dtypes["encoder/layer_5/ffn/linear_0/weight"] == 1  # int8, with its scale
    assert packed.variables["encoder/layer_5/ffn/linear_0/weight_scale"].shape == (2048,)
    assert (tmp_path / "all" / "model.bin").stat().st_size < (whisper_dir("base") / "model.bin").stat().st_size / 6
    whole, ours = base[0], WhisperEncoder.from_ct2(tmp_path / "all")
    four = WhisperEncoder.from_ct2(tmp_path / "four" / "model.bin")
    assert (len(ours.blocks), len(four.blocks)) == (6, 4)
    speech, _ = dev_speech(5.0)
    features = LogMel()(torch.from_numpy(speech[: 5 * SAMPLE_RATE]))
    with torch.no_grad():
        pairs = [
            *zip(whole.hidden_states(features, [1, 3, 5]), ours.hidden_states(features, [1, 3, 5]), strict=True),
            (whole(features), ours(features)),
            (whole.hidden_states(features, [3])[0], four.hidden_states(features, [-1])[0]),
        ]
    for reference, packed_states in pairs:
        error = (packed_states - reference).norm() / reference.norm()
        cosine = torch.nn.functional.cosine_similarity(packed_states, reference, dim=-1)
        assert error < PACKED_MAX_RELATIVE_L2 and cosine.min() > PACKED_MIN_COSINE, (float(error), float(cosine.min()))
