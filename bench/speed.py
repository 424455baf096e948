"""Speed: decode only, dense estimation and the keyframe pipeline at K = 5, 10, 20.

    python bench/speed.py          # prints the table; bench/run_all.py puts it in docs/benchmarks.md

Per video, each measurement is repeated and the fastest run kept (the least disturbed):
(a) decode only: every frame read and converted to BGR (`read()`), and with `grab()` alone;
(b) dense: MediaPipe on every frame, in static mode (the estimator the keyframe pipeline runs) and
    in tracking mode (what a dense user would run);
(c) the keyframe pipeline end to end, headless (`process_video`: decoding on a reader thread,
    MediaPipe on keyframes, streaming refiner, CSV written), with the estimator's share of the time.
    K = 10 refines image and world joints (the shipped live models, Q = 3); at K = 5 and 20 only
    an image refiner ships (Q = 6 and 2), and the world landmarks are interpolated.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.config import PipelineConfig, load_refiners  # noqa: E402
from pipeline.estimators import MediaPipePose  # noqa: E402
from pipeline.paths import ASSETS_DIR, VIDEO_DIR  # noqa: E402
from pipeline.process import process_video, run_dense  # noqa: E402

VIDEOS = [ASSETS_DIR / "demo.mp4", VIDEO_DIR / "pose2sim_single" / "cam01.mp4"]
KS = (5, 10, 20)
REPEAT = 2


def decode(path: Path, grab: bool) -> float:
    cap = cv2.VideoCapture(str(path))
    n, t = 0, time.perf_counter()
    while (cap.grab() if grab else cap.read()[0]):
        n += 1
    cap.release()
    return (time.perf_counter() - t) / n


def dense(path: Path, static: bool) -> tuple[float, float, int]:
    est = MediaPipePose(static=static)
    poses, wall, est_s = run_dense(path, est)
    est.close()
    return wall / len(poses), est_s / len(poses), len(poses)


def keyframe(path: Path, k: int) -> tuple[float, float]:
    cfg = PipelineConfig(k=k)
    refiners = load_refiners(cfg)
    with tempfile.TemporaryDirectory() as out:
        s = process_video(path, Path(out), cfg, refiners, progress=False)
    return s.stats.wall_s / s.frames, s.stats.estimator_s / s.frames


def best(f, *args):
    runs = [f(*args) for _ in range(REPEAT)]
    return min(runs, key=lambda r: r[0] if isinstance(r, tuple) else r)


def run() -> dict:
    out = {}
    for path in VIDEOS:
        r = {"read": best(decode, path, False), "grab": best(decode, path, True)}
        r["dense static"] = best(dense, path, True)[:2]
        r["dense tracking"] = best(dense, path, False)[:2]
        for k in KS:
            r[f"K={k}"] = best(keyframe, path, k)
        cap = cv2.VideoCapture(str(path))
        out[path.name] = {"frames": int(cap.get(cv2.CAP_PROP_FRAME_COUNT)),
                          "size": f"{int(cap.get(3))}x{int(cap.get(4))}", **r}
        print(path.name, r, flush=True)
    return out


def markdown(res: dict) -> str:
    lines = []
    for name, r in res.items():
        read, dense_total, dense_est = r["read"], *r["dense static"]
        lines += [f"**{name}** ({r['frames']} frames, {r['size']})\n",
                  "| run | ms per frame | fps | estimator ms per frame | vs dense (end to end) | "
                  "vs dense (estimator time) | vs decode only |", "|---|---|---|---|---|---|---|"]
        row = lambda label, total, est: lines.append(
            f"| {label} | {1000 * total:.2f} | {1 / total:.0f} | "
            + (f"{1000 * est:.2f}" if est is not None else "–") + " | "
            + f"{dense_total / total:.2f}x | "
            + (f"{dense_est / est:.1f}x" if est else "–") + f" | {total / read:.2f}x |")
        row("(a) decode only, read()", read, None)
        row("(a) decode only, grab()", r["grab"], None)
        row("(b) dense, MediaPipe static", *r["dense static"])
        row("(b) dense, MediaPipe tracking", *r["dense tracking"])
        for k in KS:
            row(f"(c) keyframes K={k}", *r[f"K={k}"])
        lines.append("")
    verdict = []
    for n, r in res.items():
        est_ratio = r["dense static"][1] / r["K=10"][1]
        e2e = r["K=10"][0] / r["read"]
        verdict.append(f"{n}: {est_ratio:.1f}x less estimator time than dense (goal 9.5x: "
                       f"{'met' if est_ratio >= 9.5 else 'NOT met'}); end to end {e2e:.2f}x decode-only "
                       f"time (goal 1.3x: {'met' if e2e <= 1.3 else 'NOT met'})")
    return "\n".join(lines) + "\nAt K = 10: " + "; ".join(verdict) + ".\n"


if __name__ == "__main__":
    print(markdown(run()))
