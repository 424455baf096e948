"""The refiner's architecture as a plain dataclass (no torch: the run-time path reads it from the
model card without importing torch; `model.py` builds the torch module from it)."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ModelConfig:
    pose_dim: int               # P = joints * dims (e.g. 12 * 2)
    k: int = 10                 # keyframe interval K
    q: int = 10                 # keyframe intervals per window Q
    dim: int = 64               # C
    depth: int = 4              # L encoder blocks
    r_t: int = 1                # temporal reduction factor
    r_s: int = 1                # spatial reduction factor
    se_reduction: int = 4       # SE bottleneck ratio
    ffn_expansion: int = 2
    dropout: float = 0.1
    learned_interp: bool = True  # learned linear interpolator (else fixed linear interpolation)

    @property
    def window(self) -> int:
        return self.k * self.q + 1

    def to_dict(self) -> dict:
        return asdict(self)
