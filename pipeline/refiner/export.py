"""Export refiner weights to ONNX, the run-time format: `<name>.onnx` beside `<name>.pt`.

    python -m pipeline.refiner.export --all            # every card in weights/
    python -m pipeline.refiner.export weights/image_k10_q3.json [...]

The graph is `MixSynthFormer.refine_keyframes`: (B, Q+1, P) keyframes -> (B, T, P) window, with
a dynamic batch axis B. The export is checked against the torch model (ONNX Runtime's output
within PARITY_TOL of torch's on real-sized random windows) and recorded in the model card's
`export` section: the .onnx file's sha256 (the run time refuses a file that differs), the opset,
the library versions, and the refiner's FLOPs per window, counted here once with torch's
FlopCounterMode so that nothing counts them at start-up. Torch is needed here, not at run time.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import sys
import warnings
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..paths import WEIGHTS_DIR
from .runtime import ModelCard, WeightsError, load_card, save_card

OPSET = 17
PARITY_TOL = 1e-5
INPUT, OUTPUT = "keyframes", "window"


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def onnx_bytes(model) -> bytes:
    """The ONNX graph of `model.refine_keyframes` (eval mode, dynamic batch axis)."""
    import torch

    class _Refine(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, keyframes):
            return self.inner.refine_keyframes(keyframes)

    cfg = model.cfg
    buf = io.BytesIO()
    example = torch.zeros(2, cfg.q + 1, cfg.pose_dim)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")                 # the TorchScript exporter's deprecation
        torch.onnx.export(_Refine(model.eval()), (example,), buf, dynamo=False, opset_version=OPSET,
                          input_names=[INPUT], output_names=[OUTPUT],
                          dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
                          do_constant_folding=True)
    return buf.getvalue()


def parity(model, onnx_model: bytes, windows: int = 64, seed: int = 0) -> float:
    """Largest absolute difference between ONNX Runtime and torch on random keyframe windows
    (batch 1 and a batch of `windows`), in normalised units (poses of about unit torso)."""
    import onnxruntime as ort
    import torch

    cfg = model.cfg
    session = ort.InferenceSession(onnx_model, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    worst = 0.0
    for b in (1, windows):
        x = rng.normal(size=(b, cfg.q + 1, cfg.pose_dim)).astype(np.float32)
        with torch.no_grad():
            want = model.eval().refine_keyframes(torch.from_numpy(x)).numpy()
        got = session.run([OUTPUT], {INPUT: x})[0]
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


def window_flops(model) -> int:
    """FLOPs of one window at batch 1 (multiply-add = 2; matrix products, as torch counts)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    cfg = model.cfg
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval().refine_keyframes(torch.zeros(1, cfg.q + 1, cfg.pose_dim))
    return int(counter.get_total_flops())


def export_model(path: str | Path, model, card: ModelCard) -> ModelCard:
    """Write `<path>.onnx` for a torch model (atomically), check it, and return the card with
    its `export` section (the caller saves the card). Raises WeightsError if parity fails."""
    import onnxruntime as ort
    import torch

    onnx_path = Path(path).with_suffix(".onnx")
    data = onnx_bytes(model)
    diff = parity(model, data)
    if not diff <= PARITY_TOL:
        raise WeightsError(f"{onnx_path.name}: ONNX Runtime differs from torch by {diff:.2e} "
                           f"(> {PARITY_TOL:g}); not written")
    atomic_write(onnx_path, lambda p: Path(p).write_bytes(data))
    card.export = {
        "onnx": onnx_path.name, "sha256": hashlib.sha256(data).hexdigest(), "opset": OPSET,
        "onnxruntime": ort.__version__, "torch": torch.__version__.split("+")[0],
        "input": f"{INPUT} (batch, Q+1, P)", "output": f"{OUTPUT} (batch, T, P)",
        "parity_max_abs": diff, "flops_per_window": window_flops(model),
        "flops_counted_by": "torch.utils.flop_counter.FlopCounterMode, one window at batch 1 "
                            "(matrix products; a multiply-add is 2 FLOPs)"}
    return card


def export_weights(card_path: str | Path) -> ModelCard:
    """Export the weights of one model card to ONNX and update its card."""
    from .runtime import Refiner

    refiner = Refiner.load(card_path, runtime="torch", warn=False)
    card = export_model(card_path, refiner.model, refiner.card)
    save_card(card_path, card)
    return card


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline.refiner.export",
                                 description="export refiner weights (.pt + .json card) to ONNX, "
                                             "the run-time format, and record it in the card")
    ap.add_argument("cards", nargs="*", type=Path, metavar="PATH.json", help="model cards to export")
    ap.add_argument("--all", action="store_true", help=f"every model card in {WEIGHTS_DIR}")
    args = ap.parse_args(argv)
    cards = list(args.cards) + (sorted(WEIGHTS_DIR.glob("*.json")) if args.all else [])
    if not cards:
        ap.error("give model cards, or --all")
    import torch
    torch.set_num_threads(1)
    failed = 0
    for path in cards:
        try:
            card = export_weights(path)
        except (WeightsError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
            continue
        e = card.export
        print(f"{Path(path).with_suffix('.onnx')}: opset {e['opset']}, parity {e['parity_max_abs']:.1e}, "
              f"{e['flops_per_window'] / 1e6:.2f} MFLOPs per window, sha256 {e['sha256'][:12]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
