"""DeepFilterNet3's released ONNX graphs ↔ the state dict of ``ml.models.dfnet3.DfNet3``.

The archive holds three graphs (``enc``, ``erb_dec``, ``df_dec``) exported from the package's PyTorch model in
eval mode, so the export changed the weights' form in three ways, undone here:

- batch norm is folded into the convolution before it: the conv takes the folded weight and the batch norm
  becomes the identity (scale 1, mean 0, variance 1 − eps) with the folded bias as its shift;
- linear layers are MatMul nodes with the weight transposed;
- each GRU layer is its own node with ONNX's gate order (update, reset, new) and its two biases stacked, where
  PyTorch orders the gates (reset, update, new) and keeps the biases apart. Some GRU weights are Constant nodes
  rather than initializers.

``write_archive`` folds a (fine-tuned) state dict back into copies of the same graphs, so the product runs a
fine-tuned model through the same ONNX Runtime path (``ml.deepfilternet``) as the released one.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from ml.models.dfnet3 import DfNet3

GRAPHS = ("enc", "erb_dec", "df_dec")
CONV_OPS = ("Conv", "ConvTranspose")


@dataclass(frozen=True)
class Link:
    """One tensor of a graph and where it lives in the state dict.

    ``kind``: ``same`` (equal), ``linear`` (transposed), ``gru_w`` (gates reordered), ``gru_b`` (``keys`` holds the
    input and hidden bias), ``conv`` (a conv not followed by batch norm), ``fused_w`` / ``fused_b`` (a conv and the
    batch norm after it: ``keys`` holds the conv weight's key and the batch norm's prefix)."""

    graph: str
    tensor: str
    kind: str
    keys: tuple[str, ...]


def _gates_to_torch(w: np.ndarray) -> np.ndarray:
    z, r, h = np.split(w, 3, axis=0)
    return np.concatenate([r, z, h], axis=0)


def _gates_to_onnx(w: np.ndarray) -> np.ndarray:
    r, z, h = np.split(w, 3, axis=0)
    return np.concatenate([z, r, h], axis=0)


def _tensors(graph: onnx.GraphProto) -> dict[str, onnx.TensorProto]:
    """The graph's initializers and Constant nodes' values, by name."""
    found = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            found[node.output[0]] = node.attribute[0].t
    return found


def _module(root: nn.Module, path: str) -> nn.Module:
    return root.get_submodule(path)


def _eps(root: nn.Module, path: str) -> float:
    """The epsilon of the batch norm at ``path``."""
    norm = root.get_submodule(path)
    if not isinstance(norm, nn.BatchNorm2d):
        raise TypeError(f"{path} is a {type(norm).__name__}, not a batch norm")
    return norm.eps


def links(graphs: dict[str, onnx.GraphProto], model: DfNet3) -> list[Link]:
    """Every weight of the three graphs, linked to ``model``'s state dict; each parameter gets exactly one link."""
    found: list[Link] = []
    for name in GRAPHS:
        graph, sub = graphs[name], _module(model, name)
        tensors = _tensors(graph)
        convs: dict[str, list[onnx.NodeProto]] = {}
        for node in graph.node:
            parts = [p for p in node.name.split("/") if p]
            if node.op_type in CONV_OPS:
                convs.setdefault(parts[0], []).append(node)
            elif node.op_type == "GRU":
                path = ".".join(parts[:-1] if parts[-2] == "gru" else [*parts[:-1], "gru"])
                layer = 0 if parts[-1] == "GRU" else int(parts[-1].split("_")[1])
                prefix = f"{name}.{path}."
                found += [
                    Link(name, node.input[1], "gru_w", (f"{prefix}weight_ih_l{layer}",)),
                    Link(name, node.input[2], "gru_w", (f"{prefix}weight_hh_l{layer}",)),
                    Link(name, node.input[3], "gru_b", (f"{prefix}bias_ih_l{layer}", f"{prefix}bias_hh_l{layer}")),
                ]
            elif node.op_type == "MatMul" and node.input[1] in tensors:
                path = ".".join(p.split(".")[-1] if "." in p else p for p in parts[:-1])
                found.append(Link(name, node.input[1], "linear", (f"{name}.{path}.weight",)))
        for top, nodes in convs.items():
            layers = [m for m in _module(sub, top).children() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
            norms = [i for i, m in enumerate(_module(sub, top).children()) if isinstance(m, nn.BatchNorm2d)]
            if len(layers) != len(nodes):
                raise ValueError(f"{name}/{top}: {len(nodes)} conv nodes for {len(layers)} conv layers")
            for index, node in enumerate(nodes):
                key = _key(model, layers[index])
                if len(node.input) > 2 and node.input[2]:  # batch norm folded in
                    if index != len(nodes) - 1 or not norms:
                        raise ValueError(f"{name}/{top}: a folded bias on a conv not followed by batch norm")
                    norm = f"{name}.{top}.{norms[0]}"
                    found.append(Link(name, node.input[1], "fused_w", (key, norm)))
                    found.append(Link(name, node.input[2], "fused_b", (key, norm)))
                else:
                    found.append(Link(name, node.input[1], "conv", (key,)))
        for tensor in graph.initializer:
            if not tensor.name.startswith("onnx::") and not any(
                link.graph == name and link.tensor == tensor.name for link in found
            ):
                found.append(Link(name, tensor.name, "same", (f"{name}.{tensor.name}",)))
    return found


def _key(model: nn.Module, layer: nn.Module) -> str:
    for key, module in model.named_modules():
        if module is layer:
            return f"{key}.weight"
    raise KeyError(layer)


def read_graphs(archive: str | Path) -> dict[str, onnx.GraphProto]:
    """The three graphs of a DeepFilterNet3 archive (the released ``DeepFilterNet3_onnx.tar.gz`` layout)."""
    return {name: model.graph for name, model in _models(archive)}


def _models(archive: str | Path) -> Iterator[tuple[str, onnx.ModelProto]]:
    with tarfile.open(archive) as tar:
        members = {Path(m.name).stem: m for m in tar.getmembers() if m.name.endswith(".onnx")}
        for name in GRAPHS:
            yield name, onnx.load(io.BytesIO(tar.extractfile(members[name]).read()))  # type: ignore[union-attr]


def load_state(archive: str | Path, model: DfNet3 | None = None) -> DfNet3:
    """A ``DfNet3`` holding the archive's weights (in eval mode); the test proves it computes what the graphs do."""
    model = model or DfNet3()
    graphs = read_graphs(archive)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assigned: set[str] = set()
    for link in links(graphs, model):
        value = numpy_helper.to_array(_tensors(graphs[link.graph])[link.tensor]).copy()
        if link.kind == "same":
            updates = {link.keys[0]: value}
        elif link.kind == "linear":
            updates = {link.keys[0]: value.T}
        elif link.kind == "gru_w":
            updates = {link.keys[0]: _gates_to_torch(value[0])}
        elif link.kind == "gru_b":
            wb, rb = np.split(value[0], 2)
            updates = {link.keys[0]: _gates_to_torch(wb), link.keys[1]: _gates_to_torch(rb)}
        elif link.kind in ("conv", "fused_w"):
            updates = {link.keys[0]: value}
        else:  # fused_b: the batch norm becomes the identity plus this shift
            norm = link.keys[1]
            eps = _eps(model, norm)
            updates = {
                f"{norm}.weight": np.ones_like(value),
                f"{norm}.bias": value,
                f"{norm}.running_mean": np.zeros_like(value),
                f"{norm}.running_var": np.full_like(value, 1.0 - eps),
            }
        for key, array in updates.items():
            if tuple(state[key].shape) != array.shape:
                raise ValueError(
                    f"{link.graph}:{link.tensor} {array.shape} does not fit {key} {tuple(state[key].shape)}"
                )
            state[key] = torch.from_numpy(np.ascontiguousarray(array)).to(state[key].dtype)
            assigned.add(key)
    missing = {k for k in state if not k.endswith("num_batches_tracked")} - assigned
    if missing:
        raise ValueError(f"the archive leaves {', '.join(sorted(missing))} unset")
    model.load_state_dict(state)
    return model.eval()


def write_archive(model: DfNet3, template: str | Path, target: str | Path, *, config: str | None = None) -> Path:
    """Copies of ``template``'s graphs carrying ``model``'s weights (batch norm folded), as a tar.gz like it."""
    state = {k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()}
    models = dict(_models(template))
    graphs = {name: m.graph for name, m in models.items()}
    for link in links(graphs, model):
        tensor = _tensors(graphs[link.graph])[link.tensor]
        if link.kind == "same":
            value = state[link.keys[0]]
        elif link.kind == "linear":
            value = state[link.keys[0]].T
        elif link.kind == "gru_w":
            value = _gates_to_onnx(state[link.keys[0]])[None]
        elif link.kind == "gru_b":
            value = np.concatenate([_gates_to_onnx(state[link.keys[0]]), _gates_to_onnx(state[link.keys[1]])])[None]
        elif link.kind == "conv":
            value = state[link.keys[0]]
        else:
            norm = link.keys[1]
            eps = _eps(model, norm)
            scale = state[f"{norm}.weight"] / np.sqrt(state[f"{norm}.running_var"] + eps)
            if link.kind == "fused_w":
                value = state[link.keys[0]] * scale[:, None, None, None]
            else:
                value = state[f"{norm}.bias"] - state[f"{norm}.running_mean"] * scale
        tensor.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), tensor.name))
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as tar:
        for name, model_proto in models.items():
            _add(tar, f"export/{name}.onnx", model_proto.SerializeToString())
        if config is not None:
            _add(tar, "export/config.ini", config.encode())
    return target


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
