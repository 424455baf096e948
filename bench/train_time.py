"""How long each shipped refiner takes to train on this machine, from a timed sample of steps.

    python bench/train_time.py

For every model card: the same configuration (window, batch, data pipeline) is run for a few
dozen training steps with all CPU threads, and steps per second times the card's step count
gives the full training time. (The cards also record the wall time of their actual run, which
shared the machine with other work.)
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.refiner.model import MixSynthFormer  # noqa: E402
from pipeline.paths import MOTION_DIR, WEIGHTS_DIR  # noqa: E402
from pipeline.training.synth import NoiseModel  # noqa: E402
from pipeline.training.train import MotionBatches, TrainConfig, masked_l1, to_tensors  # noqa: E402

STEPS = 30


def time_config(cfg: TrainConfig) -> float:
    """Seconds per training step (data generation included), after two warm-up steps."""
    batches = MotionBatches(cfg, MOTION_DIR, NoiseModel())
    rng = np.random.default_rng(0)
    x = to_tensors(*batches(2, rng), batches.skeleton, "cpu")[0]
    model = MixSynthFormer(cfg.model_config(x.shape[-1]))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    for i in range(STEPS + 2):
        if i == 2:
            t = time.perf_counter()
        x, y, w = to_tensors(*batches(cfg.batch, rng), batches.skeleton, "cpu")
        loss = masked_l1(model.refine_keyframes(x), y, w)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.perf_counter() - t) / STEPS


def run() -> dict:
    out = {}
    for path in sorted(WEIGHTS_DIR.glob("*.json")):
        card = json.loads(path.read_text())
        cfg = TrainConfig(**card["training"]["config"])
        s = time_config(cfg)
        out[card["name"]] = {"steps": cfg.steps, "s_per_step": s, "minutes": s * cfg.steps / 60,
                             "recorded_minutes": card["training"]["seconds"] / 60}
        print(card["name"], out[card["name"]], flush=True)
    return out


def markdown(res: dict) -> str:
    lines = [f"torch threads: {torch.get_num_threads()}\n",
             "| model | steps | s per step | training time here | recorded (shared machine) |",
             "|---|---|---|---|---|"]
    for name, r in res.items():
        lines.append(f"| {name} | {r['steps']} | {r['s_per_step']:.3f} | {r['minutes']:.0f} min | "
                     f"{r['recorded_minutes']:.0f} min |")
    ok = all(r["minutes"] < 60 for r in res.values())
    lines.append(f"\nEvery shipped model trains in under an hour here: {'yes' if ok else 'NO'}.\n")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(run()))
