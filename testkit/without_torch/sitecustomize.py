"""Python as in the lean worker image, where torch is not installed: with this folder on ``PYTHONPATH``
(``testkit.no_torch.env``), every process Python starts, the pipeline's spawned ones too, refuses torch and what
only runs on it, as an interpreter without them would."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType

REFUSED = frozenset({"torch", "torchaudio", "torchmetrics", "pytorch_lightning", "lightning"})


class NoTorch(MetaPathFinder):
    """Finds nothing for torch and its kin: importing them raises ``ModuleNotFoundError``."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] in REFUSED:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


sys.meta_path.insert(0, NoTorch())
