"""Accuracy on real video without hand labels: refined poses against dense per-frame estimates.

    python bench/accuracy.py

Reference: MediaPipe (static mode, the keyframe estimator) on every frame. At K = 5, 10, 20 the
keyframe pipeline's poses (refined, keyframes pinned to the estimate) and plain linear
interpolation of the same keyframes are compared with it on the 12 body joints: mean error in
torso lengths, PCK@0.1 and @0.05 of the person's box (from the dense pose); and smoothness as the
mean acceleration (second difference, torso lengths per frame²) of dense, refined and linear.
Frames where the dense reference or a method has no pose, or where the dense pose jumps to
another person, are left out of all methods alike.
Reading the acceleration: dense estimates shake from frame to frame, and linear interpolation
has no acceleration at all between keyframes (only kinks at them), so its figure is a floor, not
a target; a person's limbs do accelerate, and the refined poses sit in between.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.config import PipelineConfig, load_refiners  # noqa: E402
from pipeline.estimators import MediaPipePose  # noqa: E402
from pipeline.interpolate import interpolate_keyframes  # noqa: E402
from pipeline.metrics import bbox_from_joints, pck  # noqa: E402
from pipeline.paths import ASSETS_DIR, VIDEO_DIR  # noqa: E402
from pipeline.process import process_video, run_dense  # noqa: E402
from pipeline.skeleton import BODY12, BODY12_FROM_MP33, MEDIAPIPE33, torso_length  # noqa: E402

VIDEOS = [ASSETS_DIR / "demo.mp4", VIDEO_DIR / "carphone.mp4"] + \
    sorted((VIDEO_DIR / "pose2sim_single").glob("cam0*.mp4"))
KS = (5, 10, 20)
B = list(BODY12_FROM_MP33)


def refined_track(path: Path, k: int) -> np.ndarray:
    cfg = PipelineConfig(k=k)
    with tempfile.TemporaryDirectory() as out:
        s = process_video(path, Path(out), cfg, load_refiners(cfg), progress=False)
        df = pd.read_csv(s.csv)
    return np.stack([df[[f"{j}_x", f"{j}_y"]].to_numpy() for j in MEDIAPIPE33.joints], 1)[:, B]


def linear_track(dense: np.ndarray, k: int) -> np.ndarray:
    kf = np.arange(0, len(dense), k)
    found = np.isfinite(dense[kf]).all((1, 2))
    if found.sum() < 2:
        return np.full_like(dense, np.nan)
    out = interpolate_keyframes(kf[found], dense[kf][found], np.arange(len(dense)))
    out[: kf[found][0]] = np.nan            # nothing before the first detection (as the pipeline)
    return out


def accel(x: np.ndarray, torso: float) -> float:
    a = np.linalg.norm(x[:-2] - 2 * x[1:-1] + x[2:], axis=-1).mean(-1)
    return float(np.nanmean(a) / torso)


def run() -> dict:
    rows = {}
    for path in VIDEOS:
        est = MediaPipePose(static=True)
        dense = run_dense(path, est)[0][:, B]
        est.close()
        torso = torso_length(dense, BODY12)
        tracks = {f"refined K={k}": refined_track(path, k) for k in KS}
        tracks.update({f"linear K={k}": linear_track(dense, k) for k in KS})
        ok = np.isfinite(dense).all((1, 2)) & np.all([np.isfinite(t).all((1, 2)) for t in tracks.values()], 0)
        # a dense pose more than a torso from its neighbours' mean is another person or a glitch
        jump = np.zeros(len(dense), bool)
        jump[1:-1] = np.linalg.norm(dense[1:-1] - (dense[:-2] + dense[2:]) / 2, axis=-1).mean(-1) > torso[1:-1]
        ok &= ~jump
        t = float(np.nanmedian(torso[ok]))
        box = bbox_from_joints(dense[ok])
        r = {"frames": int(ok.sum()), "of": len(dense), "dense accel": accel(np.where(ok[:, None, None], dense, np.nan), t)}
        for name, x in tracks.items():
            r[name] = {"error": float((np.linalg.norm(x[ok] - dense[ok], axis=-1).mean(-1) / torso[ok]).mean()),
                       "pck01": pck(x[ok], dense[ok], box, 0.1), "pck005": pck(x[ok], dense[ok], box, 0.05),
                       "accel": accel(np.where(ok[:, None, None], x, np.nan), t)}
        rows[path.name if path.parent.name != "pose2sim_single" else f"pose2sim {path.name}"] = r
        print(path.name, r, flush=True)
    return rows


def markdown(res: dict) -> str:
    lines = ["| video | frames scored | K | method | error / torso | PCK@0.1 | PCK@0.05 | accel (torso/frame²) |",
             "|---|---|---|---|---|---|---|---|"]
    totals: dict = {}                       # (K, method) -> [(frames, error, pck01, pck005, accel)]
    for name, r in res.items():
        lines.append(f"| {name} | {r['frames']}/{r['of']} | – | dense | 0 | 1 | 1 | {r['dense accel']:.4f} |")
        for k in KS:
            for m in ("refined", "linear"):
                x = r[f"{m} K={k}"]
                lines.append(f"| {name} | | {k} | {m} | {x['error']:.3f} | {x['pck01']:.3f} | "
                             f"{x['pck005']:.3f} | {x['accel']:.4f} |")
                totals.setdefault((k, m), []).append(
                    (r["frames"], x["error"], x["pck01"], x["pck005"], x["accel"]))
    lines += ["", "Frame-weighted over all videos:", "",
              "| K | method | error / torso | PCK@0.1 | PCK@0.05 | accel |", "|---|---|---|---|---|---|"]
    for (k, m), rows in sorted(totals.items()):
        a = np.array(rows)
        e, p1, p05, ac = (a[:, 1:] * a[:, :1]).sum(0) / a[:, 0].sum()
        lines.append(f"| {k} | {m} | {e:.3f} | {p1:.3f} | {p05:.3f} | {ac:.4f} |")
    dense_acc = sum(r["dense accel"] * r["frames"] for r in res.values()) / sum(r["frames"] for r in res.values())
    lines.append(f"\nDense MediaPipe (static) mean acceleration: {dense_acc:.4f} torso/frame².\n")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(run()))
