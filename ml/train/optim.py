"""The optimiser's settings and learning-rate schedule (no Lightning: configs load without it)."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt, PositiveFloat

Beta = Annotated[float, Field(ge=0.0, lt=1.0)]  # an Adam decay rate


class OptimConfig(BaseModel):
    """Adam with a linear warm-up, then a cosine decay from ``lr`` to ``min_lr`` at ``decay_steps``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lr: PositiveFloat = 3e-4
    betas: tuple[Beta, Beta] = (0.9, 0.999)
    weight_decay: NonNegativeFloat = 0.0
    warmup_steps: NonNegativeInt = 1000
    decay_steps: NonNegativeInt = 100_000
    min_lr: NonNegativeFloat = 1e-5

    def factor(self, step: int) -> float:
        """Learning-rate multiplier at optimiser step ``step``."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.decay_steps - self.warmup_steps))
        floor = self.min_lr / self.lr
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
