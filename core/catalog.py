"""What the bot needs to know about model versions: their names. The composition root hands it the registry."""

from __future__ import annotations

from typing import Literal, Protocol

Family = Literal["denoiser", "whisper"]
FAMILIES: tuple[Family, ...] = ("denoiser", "whisper")


class ModelCatalog(Protocol):
    """The registered version names of a family (``ml.registry.Registry`` is one)."""

    def names(self, family: str) -> list[str]: ...
