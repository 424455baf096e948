"""Speed: decode only, dense estimation and the keyframe pipeline at K = 5, 10, 20.

    python bench/speed.py          # prints the table; bench/run_all.py puts it in docs/benchmarks.md

Per video, each measurement is repeated (decoding 5 times, the rest twice) and the fastest run
kept (the least disturbed):
(a) decode only: every frame read and converted to BGR (`read()`), and with `grab()` alone;
(b) dense: MediaPipe on every frame, in static mode (the estimator the keyframe pipeline runs) and
    in tracking mode (what a dense user would run);
(c) the keyframe pipeline end to end, headless (`process_video`: decoding on a reader thread,
    MediaPipe on keyframes, streaming refiner, CSV written), with the estimator's share of the time.
    Image and world joints go through what the headless command runs on a file by default
    (`--latency auto`: its mode and the accepted refiners, linear interpolation wherever no model
    is accepted; docs/refiner.md), so this is the pipeline users get; each row names them.
In (b) and (c) MediaPipe is created and called once on the first frame before the clock starts,
as in the app, where one estimator serves the whole session: its first call costs 40-60 ms extra,
which would otherwise weigh ten times more on the keyframe runs than on the dense ones.
"""
from __future__ import annotations

import os
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
from pipeline.io.sources import VideoSource  # noqa: E402

VIDEOS = [ASSETS_DIR / "demo.mp4", VIDEO_DIR / "pose2sim_single" / "cam01.mp4"]
KS = (5, 10, 20)
REPEAT = 2


def decode(path: Path, grab: bool) -> tuple[float, float]:
    """Wall and CPU seconds per frame (CPU: all threads of the process; FFmpeg decodes on several)."""
    cap = cv2.VideoCapture(str(path))
    n, t, c = 0, time.perf_counter(), time.process_time()
    while (cap.grab() if grab else cap.read()[0]):
        n += 1
    cap.release()
    return (time.perf_counter() - t) / n, (time.process_time() - c) / n


def warm_estimator(path: Path, static: bool) -> MediaPipePose:
    """MediaPipe after one call on the video's first frame: its first call sets up the graph
    (40-60 ms more than the next ones), which the app pays once per session, not per frame."""
    est = MediaPipePose(static=static)
    with VideoSource(path) as src:
        est.estimate(next(src.frames()).image)
    return est


def dense(path: Path, static: bool) -> tuple[float, float, dict]:
    """Wall and estimator seconds per frame, and the estimator seconds per frame it would have
    spent on the keyframes of each K alone (MediaPipe's cost varies with the frame's content:
    a frame with nobody found skips the landmark model)."""
    est = warm_estimator(path, static)
    _, wall, calls = run_dense(path, est)
    est.close()
    n = len(calls)
    return wall / n, calls.sum() / n, {str(k): calls[::k].sum() / n for k in KS}


def ran(k: int) -> str:
    """What the default file run at K is: its latency mode and each space's refiner."""
    cfg = PipelineConfig(k=k)
    names = " + ".join(f"{r.card.space}: {r.card.name}" for r in load_refiners(cfg) if r is not None)
    return f"{cfg.for_source(live=False).latency} latency; {names}"


def keyframe(path: Path, k: int) -> tuple[float, float, float]:
    """Wall, estimator and CPU seconds per frame of the headless pipeline."""
    cfg = PipelineConfig(k=k)
    refiners = load_refiners(cfg)
    est = warm_estimator(path, static=True)
    with tempfile.TemporaryDirectory() as out:
        s = process_video(path, Path(out), cfg, refiners, progress=False, estimator=est)
    est.close()
    return s.stats.wall_s / s.frames, s.stats.estimator_s / s.frames, s.stats.cpu_s / s.frames


def best(f, *args, repeat: int = REPEAT):
    runs = [f(*args) for _ in range(repeat)]
    return min(runs, key=lambda r: r[0] if isinstance(r, tuple) else r)


def run() -> dict:
    out = {}
    for path in VIDEOS:
        read, grab = best(decode, path, False, repeat=5), best(decode, path, True, repeat=5)  # cheap
        r = {"read": read[0], "grab": grab[0]}
        cpu = {"read": read[1], "grab": grab[1]}
        static = best(dense, path, True)
        r["dense static"], r["keyframes only, from dense"] = static[:2], static[2]
        r["dense tracking"] = best(dense, path, False)[:2]
        for k in KS:
            wall, est, cpu[f"K={k}"] = best(keyframe, path, k)
            r[f"K={k}"] = (wall, est)
            r[f"K={k} ran"] = ran(k)
        r["cpu"] = cpu
        cap = cv2.VideoCapture(str(path))
        out[path.name] = {"frames": int(cap.get(cv2.CAP_PROP_FRAME_COUNT)),
                          "size": f"{int(cap.get(3))}x{int(cap.get(4))}", **r}
        print(path.name, r, flush=True)
    return out


WHY = """Reading the goals. Estimator time: a MediaPipe call inside the pipeline shares the CPU
with the reader thread, which decodes the next frames meanwhile, so it can take longer than the
same call in the dense run, where decoding and estimation take turns (the figure in brackets is
what those calls cost there). The pipeline therefore decodes on all cores but one
(`pipeline.io.sources.decoder_threads`, one thread here); with FFmpeg's default of every core, each
call was 10-15 % slower and the ratio 7.4-9.2x. End to end: every frame must be decoded, and on
two cores the run cannot beat its CPU time over two (stated under each table); the tall
1080x1920 clip decodes fast but MediaPipe works harder on it, so its floor is already above
1.3x. Timings on this shared machine move by 10-20 % between runs.
"""


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
            row(f"(c) keyframes K={k} ({r[f'K={k} ran']})", *r[f"K={k}"])
        c = r["cpu"]
        lines.append(f"\nCPU time per frame, all threads: decoding alone {1000 * c['read']:.2f} ms with "
                     f"`read()` ({c['read'] / read:.1f} cores busy), {1000 * c['grab']:.2f} ms with `grab()`; "
                     f"the pipeline at K = 10 {1000 * c['K=10']:.2f} ms, so on "
                     f"{os.cpu_count()} cores it cannot take less than {1000 * c['K=10'] / os.cpu_count():.2f} "
                     f"ms per frame.\n")
    verdict = []
    for n, r in res.items():
        est_ratio = r["dense static"][1] / r["K=10"][1]
        ideal = r["dense static"][1] / r["keyframes only, from dense"]["10"]
        e2e = r["K=10"][0] / r["read"]
        floor = r["cpu"]["K=10"] / os.cpu_count() / r["read"]
        verdict.append(f"{n}: {est_ratio:.1f}x less estimator time than dense (goal 9.5x: "
                       f"{'met' if est_ratio >= 9.5 else 'NOT met'}; the dense run's own calls on the same "
                       f"keyframes give {ideal:.1f}x); end to end {e2e:.2f}x decode-only "
                       f"time (goal 1.3x: {'met' if e2e <= 1.3 else 'NOT met'}; its CPU time on "
                       f"{os.cpu_count()} cores allows no less than {floor:.2f}x)")
    return "\n".join(lines) + "\nAt K = 10: " + "; ".join(verdict) + ".\n\n" + WHY



if __name__ == "__main__":
    print(markdown(run()))
