"""The refiner's architecture as a plain dataclass (no torch: the run-time path reads it from the
model card without importing torch; `model.py` builds the torch module from it)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

# window: every frame of the window (K*Q frames of latency); keyframe: only the last keyframe
# interval (Q past keyframes + 1 ahead: at most K frames); zero: the K frames from the last
# keyframe on, predicted from past keyframes only (no latency; the paper's prediction setting).
LATENCIES = ("window", "keyframe", "zero")


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
    latency: str = "window"     # which frames a window delivers (LATENCIES)

    def __post_init__(self):
        if self.latency not in LATENCIES:
            raise ValueError(f"latency {self.latency!r}: one of {', '.join(LATENCIES)}")

    @property
    def horizon(self) -> int:
        """Frames predicted after the window's last keyframe (zero latency)."""
        return self.k - 1 if self.latency == "zero" else 0

    @property
    def window(self) -> int:
        return self.k * self.q + 1 + self.horizon

    @property
    def emitted(self) -> slice:
        """The frames of a window the pipeline uses (and the loss covers), by latency mode."""
        k, q = self.k, self.q
        return {"window": slice(0, self.window), "keyframe": slice(k * (q - 1), k * q + 1),
                "zero": slice(k * q, self.window)}[self.latency]

    def to_dict(self) -> dict:
        return asdict(self)
