"""MediaPipe's frame-to-frame noise on every shared video, without a reference.

    python bench/noise_calibration.py [--out docs/noise_calibration.md]

The training noise model is fitted to MediaPipe's errors against a triangulated multi-view
reference (`python -m pipeline.training.noise_fit`, docs/noise_model.md), which only the calibrated
pose2sim views allow. This reference-free estimate covers the single-view clips too, among them
the small, distant people of the demo, where MediaPipe is several times noisier.

For every video, MediaPipe runs on every frame in static mode (each frame on its own, as on
keyframes) and in tracking mode (smoothed). Per video, for the 12 body joints, in torso lengths
(hip mid-point to shoulder mid-point), with robust spreads (1.4826 x median absolute deviation)
so that the rare gross errors are counted separately:
* jitter: white-noise s.d. per axis from second differences of the static-mode track,
  spread(x[t-1] - 2 x[t] + x[t+1]) / sqrt(6) (motion between frames adds little at 30-60 fps);
* deviation: spread per axis of the static-mode pose minus the tracking-mode pose smoothed with a
  Savitzky-Golay filter (9 frames, order 2): jitter plus slower errors;
* gross: share of joints per frame that sit more than 0.3 torso from that smoothed pose
  (outliers and left/right confusions).
World landmarks are compared after removing the hip mid-point. Frames where either mode finds no
person, or the two modes disagree by more than one torso on average (another person), are left out.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.signal import savgol_filter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.estimators import MediaPipePose  # noqa: E402
from pipeline.paths import VIDEO_DIR  # noqa: E402
from pipeline.skeleton import BODY12, BODY12_FROM_MP33, torso_length  # noqa: E402
from pipeline.io.sources import VideoSource  # noqa: E402

VIDEOS = ["sports2d_demo.mp4", "pose2sim_single/cam01.mp4", "pose2sim_single/cam02.mp4",
          "pose2sim_single/cam03.mp4", "pose2sim_single/cam04.mp4", "carphone.mp4"]
B = list(BODY12_FROM_MP33)


def track(path: Path, static: bool) -> tuple[np.ndarray, np.ndarray]:
    est = MediaPipePose(static=static)
    img, world = [], []
    with VideoSource(path) as src:
        for f in src.frames():
            r = est.estimate(f.image)
            img.append(r.image[B] if r else np.full((12, 2), np.nan))
            world.append(r.world[B] if r else np.full((12, 3), np.nan))
    est.close()
    return np.array(img), np.array(world)


def spread(x: np.ndarray) -> np.ndarray:
    """Robust s.d. per axis of (..., D)."""
    x = x.reshape(-1, x.shape[-1])
    return 1.4826 * np.median(np.abs(x - np.median(x, axis=0)), axis=0)


def stats(static: np.ndarray, tracking: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, int]:
    ok = np.isfinite(static).all((1, 2)) & np.isfinite(tracking).all((1, 2))
    torso = torso_length(tracking, BODY12)
    same = np.linalg.norm(static - tracking, axis=-1).mean(-1) < torso
    ok &= same
    idx = np.flatnonzero(ok)
    # jitter from consecutive runs of usable frames only
    acc = [static[i - 1] - 2 * static[i] + static[i + 1] for i in idx if ok[i - 1:i + 2].all() and 0 < i < len(ok) - 1]
    t = torso[ok].mean()
    jitter = spread(np.array(acc)) / np.sqrt(6) / t
    smooth = savgol_filter(np.nan_to_num(tracking), 9, 2, axis=0)
    diff = static[ok] - smooth[ok]
    gross = float((np.linalg.norm(diff, axis=-1) > 0.3 * t).mean())
    return jitter, spread(diff) / t, gross, int(ok.sum())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rows = ["| video | frames used | 2D jitter (x, y) | 2D deviation (x, y) | 2D gross | "
            "3D jitter (x, y, z) | 3D deviation (x, y, z) | 3D gross |", "|---|---|---|---|---|---|---|---|"]
    for name in VIDEOS:
        s_img, s_w = track(VIDEO_DIR / name, True)
        t_img, t_w = track(VIDEO_DIR / name, False)
        root = lambda w: w - w[:, 6:8].mean(1, keepdims=True)
        j2, d2, g2, n = stats(s_img, t_img)
        j3, d3, g3, _ = stats(root(s_w), root(t_w))
        f = lambda v: ", ".join(f"{x:.3f}" for x in v)
        rows.append(f"| {name} | {n} | {f(j2)} | {f(d2)} | {g2:.1%} | {f(j3)} | {f(d3)} | {g3:.1%} |")
        print(rows[-1], flush=True)
    page = ("# MediaPipe noise without a reference\n\nProduced by `python bench/noise_calibration.py --out "
            "docs/noise_calibration.md`. All values in torso lengths. The training noise model is fitted "
            "to errors against a multi-view reference instead: [noise_model.md](noise_model.md).\n\n"
            + __doc__.split("\n\n", 3)[3]
            + "\n" + "\n".join(rows) + "\n")
    print(page)
    if args.out:
        args.out.write_text(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
