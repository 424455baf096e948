"""FLOPs: the refiner's from its model card (counted once, at export, by torch's FlopCounterMode:
`pipeline.refiner.export`), the estimator's from its TFLite graphs.

Both count a multiply-add as 2 FLOPs and count only matrix products and convolutions (what
dominates; element-wise ops are left out on both sides, as torch's counter does).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .refiner.model import MixSynthFormer
    from .refiner.runtime import ModelCard


def refiner_window_flops(card: "ModelCard | MixSynthFormer") -> int:
    """FLOPs of one window (batch 1), attention products included: as a model card records them,
    or counted with torch (once per architecture) for a torch model or a card without them."""
    flops = getattr(card, "export", {}).get("flops_per_window")
    if flops is None:
        cfg = card.cfg if hasattr(card, "cfg") else card.config
        flops = _counted_window_flops(cfg)
    return int(flops)


@lru_cache(maxsize=None)
def _counted_window_flops(cfg) -> int:
    from .refiner.export import window_flops
    from .refiner.model import MixSynthFormer

    return window_flops(MixSynthFormer(cfg))


def refiner_flops_per_frame(card: "ModelCard | MixSynthFormer", stride: int | None = None) -> float:
    """Window FLOPs divided by the frames each new window adds (K * stride; stride Q by default)."""
    cfg = card.cfg if hasattr(card, "cfg") else card.config
    return refiner_window_flops(card) / (cfg.k * (stride or cfg.q))


@lru_cache(maxsize=None)
def tflite_flops(path: str | Path) -> int:
    """FLOPs of one inference of a TFLite model (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED)."""
    import numpy as np
    import tflite
    from tflite.BuiltinOperator import BuiltinOperator as Op

    model = tflite.Model.GetRootAsModel(Path(path).read_bytes(), 0)
    graph = model.Subgraphs(0)
    total = 0
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        kind = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if kind not in (Op.CONV_2D, Op.DEPTHWISE_CONV_2D, Op.FULLY_CONNECTED):
            continue
        out = graph.Tensors(op.Outputs(0)).ShapeAsNumpy()
        w = graph.Tensors(op.Inputs(1)).ShapeAsNumpy()
        if kind == Op.CONV_2D:            # out (1, H, W, Co), w (Co, kh, kw, Ci)
            total += 2 * int(np.prod(out)) * int(np.prod(w[1:]))
        elif kind == Op.DEPTHWISE_CONV_2D:  # w (1, kh, kw, Co)
            total += 2 * int(np.prod(out)) * int(w[1] * w[2])
        else:                              # out (N, O), w (O, I)
            total += 2 * int(np.prod(out)) * int(w[1])
    return total


@dataclass(frozen=True)
class FlopsReadout:
    """What the GUI and the headless summary show, all per video frame."""
    k: int
    estimator_per_keyframe: float
    refiner_per_frame: float

    @property
    def estimator_per_frame(self) -> float:
        return self.estimator_per_keyframe / self.k

    @property
    def effective_per_frame(self) -> float:
        return self.estimator_per_frame + self.refiner_per_frame

    @property
    def theoretical_speedup(self) -> float:
        """Dense estimation (estimator on every frame) over keyframes + refiner, in FLOPs."""
        return self.estimator_per_keyframe / self.effective_per_frame


def gflops(x: float) -> str:
    return f"{x / 1e9:.4f} GFLOPs" if x < 1e8 else f"{x / 1e9:.2f} GFLOPs"
