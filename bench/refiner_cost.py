"""Refiner cost: parameters, FLOPs per frame (torch's FlopCounterMode) and CPU latency.

    python bench/refiner_cost.py

For every shipped model: latency of one window at batch 1 (what the live pipeline does) and of
64 windows at once (what evaluation and files can do), per window and per output frame (a window
adds K*Q new frames with the default stride). Median of repeated timings after warm-up.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.flops import refiner_flops_per_frame, refiner_window_flops  # noqa: E402
from pipeline.model import count_parameters  # noqa: E402
from pipeline.paths import WEIGHTS_DIR  # noqa: E402
from pipeline.refiner import Refiner  # noqa: E402

PAPER = (0.00003, 0.0005)     # GFLOPs per frame reported for MixSynthFormer


def latency(refiner: Refiner, batch: int, repeat: int = 30) -> float:
    """Median seconds for one call on `batch` windows (normalisation included)."""
    kf = np.random.default_rng(0).normal(size=(batch, refiner.q + 1, 12, refiner.card.dims))
    kf = (kf * 0.05 + np.linspace(0, 1, 12)[:, None]).astype(np.float32)
    for _ in range(5):
        refiner.refine_windows(kf)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        refiner.refine_windows(kf)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run() -> dict:
    out = {}
    for card in sorted(WEIGHTS_DIR.glob("*.json")):
        r = Refiner.load(card)
        new_frames = r.k * r.q
        b1, b64 = latency(r, 1), latency(r, 64)
        out[r.card.name] = {
            "params": count_parameters(r.model), "k": r.k, "q": r.q, "space": r.card.space,
            "window_gflops": refiner_window_flops(r.model) / 1e9,
            "gflops_per_frame": refiner_flops_per_frame(r.model) / 1e9,
            "ms_window_b1": 1000 * b1, "ms_frame_b1": 1000 * b1 / new_frames,
            "ms_window_b64": 1000 * b64 / 64, "ms_frame_b64": 1000 * b64 / 64 / new_frames}
        print(r.card.name, out[r.card.name], flush=True)
    return out


def markdown(res: dict) -> str:
    lines = [f"Threads: torch uses {torch.get_num_threads()}. Paper: {PAPER[0]}-{PAPER[1]} GFLOPs per frame.\n",
             "| model | space | K | Q | parameters | GFLOPs per window | GFLOPs per frame | "
             "ms per window (batch 1) | ms per frame (batch 1) | ms per window (batch 64) | ms per frame (batch 64) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in res.items():
        lines.append(f"| {name} | {r['space']} | {r['k']} | {r['q']} | {r['params']:,} | "
                     f"{r['window_gflops']:.4f} | {r['gflops_per_frame']:.5f} | {r['ms_window_b1']:.2f} | "
                     f"{r['ms_frame_b1']:.4f} | {r['ms_window_b64']:.3f} | {r['ms_frame_b64']:.4f} |")
    ok_b1 = all(r["ms_frame_b1"] < 0.05 for r in res.values())
    ok_b64 = all(r["ms_frame_b64"] < 0.05 for r in res.values())
    in_paper = all(PAPER[0] <= r["gflops_per_frame"] <= PAPER[1] * 1.5 for r in res.values())
    lines.append(f"\nGoal under 0.05 ms per frame: batch 1 {'met' if ok_b1 else 'NOT met'} for every "
                 f"model, batched {'met' if ok_b64 else 'NOT met'}. FLOPs per frame "
                 f"{'within' if in_paper else 'outside'} the paper's range (up to 1.5x its upper end).\n")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(run()))
