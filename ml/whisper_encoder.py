"""Whisper's encoder and log-mel front end in PyTorch, from the CTranslate2 ``model.bin`` the product runs.

For a loss that judges audio as Whisper hears it: differentiable from the waveform to any block's output, on
batches of short crops (1–30 s, no padding to 30 s). The weights are read from the same file faster-whisper loads
(``read_ct2``, dequantised to float32), or from the encoder alone written smaller (``encoder_only``, for a machine
without the product's packages), so nothing comes from a hub; ``WhisperEncoder.from_registry`` finds it
through ``ml.registry`` as the product does (Whisper base: its two packages' parts joined once into the cache).

CTranslate2's binary format (``ctranslate2/specs/model_spec.py``, ``_serialize``; read in ``src/models/model.cc``),
little-endian, strings as uint16 length (with the NUL) + UTF-8 + NUL:
``uint32 binary_version``, ``string spec_name``, ``uint32 revision``, ``uint32 n``; ``n`` times: ``string name``,
``uint8 rank``, ``rank × uint32 dims``, ``uint8 dtype`` (0 float32, 1 int8, 2 int16, 3 int32, 4 float16,
5 bfloat16), ``uint32 nbytes``, the raw data; then ``uint32 aliases`` and that many (alias, target) string pairs.
An int8 or int16 weight comes with ``<name>_scale``: stored = round(weight × scale) (int8: one scale per output
row, 127 / max |row|; int16: one scale), so weight = stored / scale.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml.errors import ModelError
from ml.registry import Registry

SAMPLE_RATE = 16_000
N_FFT = 400
HOP = 160
N_MELS = 80
CHUNK_FRAMES = 3000  # 30 s of features, what faster-whisper feeds the encoder
_DTYPES = {0: "<f4", 1: "i1", 2: "<i2", 3: "<i4", 4: "<f2", 5: "<u2"}  # 5: bfloat16, kept as its 16 bits
_FLOAT32, _INT8, _FLOAT16, _BFLOAT16 = 0, 1, 4, 5
READABLE_VERSIONS = range(4, 7)  # typed variables (4) up to the current format (6); the Whisper packages carry 6


@dataclass(frozen=True)
class CT2Model:
    """The variables of a CTranslate2 ``model.bin``: name → array as stored (aliases resolved to their target)."""

    binary_version: int
    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    dtypes: dict[str, int]
    aliases: dict[str, str]

    def float32(self, name: str) -> np.ndarray:
        """Variable ``name`` as float32: float16 and bfloat16 widened, int8/int16 divided by their ``_scale``."""
        if name not in self.variables:
            raise ModelError(f"{self.spec} has no variable {name!r}")
        value, dtype = self.variables[name], self.dtypes[name]
        if dtype == _BFLOAT16:
            return (value.astype(np.uint32) << 16).view(np.float32)
        scale = self.variables.get(f"{name}_scale")
        if scale is not None and dtype in (1, 2):
            scale = scale.astype(np.float32)
            return value.astype(np.float32) / scale.reshape(scale.shape + (1,) * (value.ndim - scale.ndim))
        return value.astype(np.float32)


def read_ct2(path: str | Path) -> CT2Model:
    """Read a CTranslate2 ``model.bin`` (or the folder holding it); the arrays are views of the file's bytes."""
    path = Path(path)
    data = (path / "model.bin" if path.is_dir() else path).read_bytes()
    offset = 0

    def take(fmt: str) -> int:
        nonlocal offset
        (value,) = struct.unpack_from("<" + fmt, data, offset)
        offset += struct.calcsize("<" + fmt)
        return int(value)

    def string() -> str:
        nonlocal offset
        size = take("H")
        text = data[offset : offset + size - 1].decode()
        offset += size
        return text

    version = take("I")
    if version not in READABLE_VERSIONS:
        raise ModelError(f"{path}: CTranslate2 binary version {version} (readable: 4 to 6)")
    spec, revision = string(), take("I")
    variables: dict[str, np.ndarray] = {}
    dtypes: dict[str, int] = {}
    for _ in range(take("I")):
        name = string()
        shape = tuple(take("I") for _ in range(take("B")))
        dtype, nbytes = take("B"), take("I")
        if dtype not in _DTYPES:
            raise ModelError(f"{path}: variable {name} has unknown dtype {dtype}")
        array = np.frombuffer(
            data, dtype=_DTYPES[dtype], count=nbytes // np.dtype(_DTYPES[dtype]).itemsize, offset=offset
        )
        variables[name], dtypes[name] = array.reshape(shape), dtype
        offset += nbytes
    aliases = {}
    for _ in range(take("I")):
        alias, target = string(), string()
        aliases[alias] = target
        for suffix in ("", "_scale"):  # as model.cc does: an alias shares its target's scale too
            if target + suffix in variables:
                variables[alias + suffix], dtypes[alias + suffix] = variables[target + suffix], dtypes[target + suffix]
    return CT2Model(version, spec, revision, variables, dtypes, aliases)


def whisper_files(registry: Registry, version: str) -> Path:
    """The folder a registered Whisper version runs from (``Registry.resolve``: for ``base`` the two packages'
    parts joined once into the cache); ``ModelError`` for an unknown version or one without files."""
    path = registry.resolve(registry.get("whisper", version))
    if path is None:
        raise ModelError(f"whisper version {version!r} has no files")
    return path


def write_ct2(model: CT2Model, path: str | Path) -> int:
    """Write ``model`` as a CTranslate2 ``model.bin`` (the format ``read_ct2`` reads; aliases written as such);
    returns the bytes written."""
    out = bytearray()

    def string(text: str) -> None:
        encoded = text.encode()
        out.extend(struct.pack("<H", len(encoded) + 1) + encoded + b"\0")

    names = [name for name in model.variables if name not in _aliased(model)]
    out.extend(struct.pack("<I", model.binary_version))
    string(model.spec)
    out.extend(struct.pack("<II", model.revision, len(names)))
    for name in names:
        value = np.asarray(model.variables[name], dtype=_DTYPES[model.dtypes[name]])
        string(name)
        out.extend(struct.pack("<B", value.ndim) + struct.pack(f"<{value.ndim}I", *value.shape))
        out.extend(struct.pack("<BI", model.dtypes[name], value.nbytes) + value.tobytes())
    out.extend(struct.pack("<I", len(model.aliases)))
    for alias, target in model.aliases.items():
        string(alias)
        string(target)
    Path(path).write_bytes(bytes(out))
    return len(out)


def _aliased(model: CT2Model) -> set[str]:
    """The names ``read_ct2`` added for aliases (an alias and its scale): written as aliases, not as variables."""
    return {alias + suffix for alias in model.aliases for suffix in ("", "_scale")}


def encoder_only(model: CT2Model, blocks: int | None = None) -> CT2Model:
    """A Whisper model's encoder alone, its first ``blocks`` blocks (all when ``None``): what the Whisper-feature
    loss needs, small enough to travel to a lent GPU machine. Linear weights are stored int8 with one scale per
    output row (CTranslate2's int8 scheme, which ``read_ct2`` reads; the product runs Whisper in int8 too); the
    rest float16."""
    keep = re.compile(r"encoder/(?!layer_\d)|encoder/layer_(\d+)/")
    aliased = _aliased(model)
    variables: dict[str, np.ndarray] = {}
    dtypes: dict[str, int] = {}
    for name in model.variables:
        match = keep.match(name)
        if name in aliased or name.endswith("_scale") or not match:
            continue
        if blocks is not None and match.group(1) is not None and int(match.group(1)) >= blocks:
            continue
        if model.dtypes[name] in (2, 3):  # integers (num_heads)
            variables[name], dtypes[name] = model.variables[name], model.dtypes[name]
            continue
        weight = model.float32(name)
        if name.endswith("/weight") and weight.ndim == 2:
            scale = 127.0 / np.maximum(np.abs(weight).max(axis=1), 1e-12)
            variables[name] = np.clip(np.rint(weight * scale[:, None]), -127, 127).astype(np.int8)
            variables[f"{name}_scale"], dtypes[f"{name}_scale"] = scale.astype(np.float32), _FLOAT32
            dtypes[name] = _INT8
        else:
            variables[name], dtypes[name] = weight.astype(np.float16), _FLOAT16
    return CT2Model(model.binary_version, model.spec, model.revision, variables, dtypes, {})


def sinusoids(length: int, width: int) -> torch.Tensor:
    """Whisper's position table: sines then cosines, timescales geometric from 1 to 10 000."""
    increment = math.log(10_000) / (width // 2 - 1)
    inverse = torch.exp(-increment * torch.arange(width // 2, dtype=torch.float64))
    angles = torch.arange(length, dtype=torch.float64)[:, None] * inverse[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1).float()


class EncoderBlock(nn.Module):
    """Pre-LN transformer block: x + attention(LN(x)), then x + MLP(LN(x)) with GELU (erf)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.attn_norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)  # fused, as the file stores it (Whisper's key has no bias: zeros)
        self.out = nn.Linear(width, width)
        self.mlp_norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, 4 * width)
        self.fc2 = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, time, width = x.shape
        q, k, v = self.qkv(self.attn_norm(x)).view(batch, time, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, time, width)
        x = x + self.out(attended)
        return x + self.fc2(F.gelu(self.fc1(self.mlp_norm(x))))


class WhisperEncoder(nn.Module):
    """Whisper's audio encoder: conv (k3) + GELU, conv (k3, stride 2) + GELU, positions, blocks, LayerNorm.

    Input: log-mel features ``(batch, 80, frames)``, ``frames`` ≤ 3000 (a 1-s crop is 101 frames); the positions
    are sliced to the input's length, as CTranslate2 does, so short crops need no padding to 30 s. Output:
    ``(batch, ceil(frames / 2), width)``. A crop's encoding is not the same as the same audio inside a padded 30-s
    window (attention sees the whole input)."""

    positions: torch.Tensor

    def __init__(self, *, width: int, heads: int, layers: int, n_mels: int = N_MELS, positions: int = 1500) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(n_mels, width, 3, padding=1)
        self.conv2 = nn.Conv1d(width, width, 3, stride=2, padding=1)
        self.register_buffer("positions", sinusoids(positions, width))
        self.blocks = nn.ModuleList(EncoderBlock(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width)

    def _embed(self, mel: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2)
        if x.shape[1] > self.positions.shape[0]:
            raise ValueError(f"{mel.shape[-1]} frames: the encoder takes at most {2 * self.positions.shape[0]}")
        return x + self.positions[: x.shape[1]]

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """The encoder's output (after the final LayerNorm), what Whisper's decoder attends to."""
        x = self._embed(mel)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def hidden_states(self, mel: torch.Tensor, layers: Sequence[int]) -> list[torch.Tensor]:
        """The residual stream after each block in ``layers`` (0-based; negative counts from the end), in that
        order; blocks past the deepest one asked for are not run."""
        wanted = [layer % len(self.blocks) for layer in layers]
        found: dict[int, torch.Tensor] = {}
        x = self._embed(mel)
        for index, block in enumerate(self.blocks[: max(wanted) + 1]):
            x = block(x)
            found[index] = x
        return [found[layer] for layer in wanted]

    @classmethod
    def from_ct2(cls, path: str | Path) -> WhisperEncoder:
        """The encoder of a CTranslate2 Whisper model (its folder or ``model.bin``), weights as float32, frozen
        (``requires_grad`` off: the loss judges the audio, it does not train Whisper) and in eval mode."""
        model = read_ct2(path)
        if model.spec != "WhisperSpec":
            raise ModelError(f"{path} holds a {model.spec}, not Whisper")
        weight = model.float32
        layers = sum(1 for name in model.variables if re.fullmatch(r"encoder/layer_\d+/ffn/linear_0/weight", name))
        width = model.variables["encoder/conv1/weight"].shape[0]
        heads = int(model.variables.get("encoder/num_heads", 8))  # CTranslate2's default when absent, too
        encoder = cls(width=width, heads=heads, layers=layers, n_mels=model.variables["encoder/conv1/weight"].shape[1])
        names = {
            "conv1.weight": "encoder/conv1/weight",
            "conv1.bias": "encoder/conv1/bias",
            "conv2.weight": "encoder/conv2/weight",
            "conv2.bias": "encoder/conv2/bias",
            "norm.weight": "encoder/layer_norm/gamma",
            "norm.bias": "encoder/layer_norm/beta",
        }
        for index in range(layers):
            scope = f"encoder/layer_{index}"
            for ours, theirs in (
                ("attn_norm.weight", "self_attention/layer_norm/gamma"),
                ("attn_norm.bias", "self_attention/layer_norm/beta"),
                ("qkv.weight", "self_attention/linear_0/weight"),
                ("qkv.bias", "self_attention/linear_0/bias"),
                ("out.weight", "self_attention/linear_1/weight"),
                ("out.bias", "self_attention/linear_1/bias"),
                ("mlp_norm.weight", "ffn/layer_norm/gamma"),
                ("mlp_norm.bias", "ffn/layer_norm/beta"),
                ("fc1.weight", "ffn/linear_0/weight"),
                ("fc1.bias", "ffn/linear_0/bias"),
                ("fc2.weight", "ffn/linear_1/weight"),
                ("fc2.bias", "ffn/linear_1/bias"),
            ):
                names[f"blocks.{index}.{ours}"] = f"{scope}/{theirs}"
        names["positions"] = "encoder/position_encodings/encodings"  # Whisper's sinusoids, stored by its converter
        encoder.load_state_dict({ours: torch.from_numpy(weight(theirs)) for ours, theirs in names.items()})
        return encoder.requires_grad_(False).eval()

    @classmethod
    def from_registry(cls, registry: Registry, version: str = "base") -> WhisperEncoder:
        """The encoder of a registered Whisper version, from the files the product runs (``Registry.resolve``:
        for ``base`` the two packages' parts joined once into the cache); no hub unless the version is a hub's."""
        return cls.from_ct2(whisper_files(registry, version))


class LogMel(nn.Module):
    """faster-whisper's ``FeatureExtractor`` in PyTorch, differentiable: 160 zeros appended, centred STFT (n_fft 400,
    hop 160, periodic Hann, reflect padding), last frame dropped, power through its 80 Slaney mel filters,
    log10 clamped at 1e-10 and at the maximum − 8 (per example), then (x + 4) / 4.

    ``(batch, samples)`` or ``(samples,)`` at 16 kHz → ``(batch, 80, samples // 160 + 1)``."""

    filters: torch.Tensor
    window: torch.Tensor

    def __init__(self, n_mels: int = N_MELS) -> None:
        super().__init__()
        import librosa  # Whisper's filters are librosa's Slaney mels (faster-whisper's copy agrees within 2e-9)

        filters = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=n_mels).astype(np.float32)
        # constants, not state: a checkpoint of a module using them carries neither
        self.register_buffer("filters", torch.from_numpy(filters), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT, periodic=True), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        batched = wave if wave.dim() == 2 else wave[None]
        padded = F.pad(batched, (0, HOP))
        spectrum = torch.stft(
            padded, N_FFT, HOP, window=self.window, center=True, pad_mode="reflect", return_complex=True
        )
        power = torch.view_as_real(spectrum[..., :-1]).square().sum(-1)  # |X|², with a gradient at X = 0
        log = torch.log10(torch.clamp(self.filters @ power, min=1e-10))
        log = torch.maximum(log, log.amax(dim=(-2, -1), keepdim=True) - 8.0)
        return (log + 4.0) / 4.0
