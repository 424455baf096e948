"""Which MediaPipe mode for keyframes K frames apart: static (detect every call) or tracking?

    python bench/estimator_mode.py [--k 10] [--out docs/estimator_mode.md]

Reference: MediaPipe in tracking mode on every frame (dense), the best per-frame estimate we have
without labels. Each mode is fed only the keyframes (frames 0, K, 2K, ...); we report detection
rate, how often it found the reference's person (body joints within half a torso on average),
the median distance to the reference on those keyframes (body joints, in torso lengths), and
time per call. The verdict goes into the page.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.estimators import MediaPipePose  # noqa: E402
from pipeline.paths import VIDEO_DIR  # noqa: E402
from pipeline.skeleton import BODY12, BODY12_FROM_MP33, torso_length  # noqa: E402
from pipeline.io.sources import VideoSource  # noqa: E402

VIDEOS = ["sports2d_demo.mp4", "pose2sim_single/cam01.mp4", "pose2sim_single/cam02.mp4",
          "pose2sim_single/cam03.mp4", "pose2sim_single/cam04.mp4", "carphone.mp4"]
MODES = {"static": dict(static=True), "tracking": dict(static=False, smooth=True),
         "tracking, unsmoothed": dict(static=False, smooth=False)}


def run(path: Path, every: int, **mode):
    est = MediaPipePose(**mode)
    poses, times = {}, []
    with VideoSource(path) as src:
        for f in src.frames(lambda i: i % every == 0):
            if f.index % every:
                continue
            t = time.perf_counter()
            r = est.estimate(f.image)
            times.append(time.perf_counter() - t)
            poses[f.index] = None if r is None else r.image[list(BODY12_FROM_MP33)]
    est.close()
    return poses, np.array(times[1:])      # the first call includes start-up


def errors(ref: dict, got: dict) -> np.ndarray:
    """Per keyframe both detect: mean body-joint distance / reference torso length."""
    both = [i for i in got if got[i] is not None and ref.get(i) is not None]
    if not both:
        return np.zeros(0)
    r = np.stack([ref[i] for i in both])
    g = np.stack([got[i] for i in both])
    return np.linalg.norm(g - r, axis=-1).mean(-1) / torso_length(r, BODY12)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    lines = ["| video | mode | keyframes | detected | same person | median error / torso | ms per call |",
             "|---|---|---|---|---|---|---|"]
    agg = {m: {"n": 0, "det": 0, "same": 0, "err": [], "ms": []} for m in MODES}
    for name in VIDEOS:
        ref, _ = run(VIDEO_DIR / name, 1, static=False, smooth=True)
        for mode, kw in MODES.items():
            got, t = run(VIDEO_DIR / name, args.k, **kw)
            e = errors(ref, got)
            same = e < 0.5
            det = sum(v is not None for v in got.values())
            a = agg[mode]
            a["n"] += len(got); a["det"] += det; a["same"] += int(same.sum())
            a["err"] += list(e[same]); a["ms"] += list(1000 * t)
            lines.append(f"| {name} | {mode} | {len(got)} | {det / len(got):.0%} | "
                         f"{same.sum()}/{len(e)} | {np.median(e[same]) if same.any() else float('nan'):.3f} | "
                         f"{1000 * t.mean():.1f} |")
            print(lines[-1], flush=True)
    summary = {}
    for mode, a in agg.items():
        summary[mode] = (np.median(a["err"]), np.mean(a["ms"]))
        lines.append(f"| **all** | {mode} | {a['n']} | {a['det'] / a['n']:.0%} | {a['same']}/{a['det']} | "
                     f"{summary[mode][0]:.3f} | {summary[mode][1]:.1f} |")
    best = min(summary, key=lambda m: summary[m][0])
    fastest = min(summary, key=lambda m: summary[m][1])
    page = (f"# MediaPipe mode on keyframes (K = {args.k})\n\n"
            "Produced by `python bench/estimator_mode.py --out docs/estimator_mode.md`.\n\n"
            + (__doc__.split("\n\n", 2)[2]) + "\n" + "\n".join(lines) +
            f"\n\nMost accurate on keyframes: **{best}** (median {summary[best][0]:.3f} torso lengths "
            f"from the dense reference); fastest: **{fastest}** ({summary[fastest][1]:.1f} ms per call). "
            "Tracking mode assumes consecutive frames: it crops the next call around the previous "
            "call's landmarks and (when smoothing) filters landmarks across calls, so with K frames "
            "between calls it crops around where the person was and lags behind the motion.\n")
    print(page)
    if args.out:
        args.out.write_text(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
