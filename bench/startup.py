"""Start-up: the headless command and the app, end to end from launch, against bare MediaPipe scripts.

    python bench/startup.py [--repeat N]

Every figure is a fresh process timed from launch to exit (or, for the app, to the first pose on
screen), so imports, model loading and decoding all count. Side by side, alternating, the median
of `--repeat` runs each:

* short clip: the first 31 frames of the bundled demo (4 keyframes at K = 10) through
  `run_app.py process` against a bare script that imports MediaPipe, decodes the 31 frames and
  runs MediaPipe on the 4 keyframes (goal: within 1.5x);
* the demo (230 frames) end to end through `run_app.py process` at K = 10 against a bare script
  running MediaPipe (static mode, as on keyframes) on every frame (goal: at most 0.45x; the floor
  here is about 0.37x: importing MediaPipe, decoding every frame and 23 estimator calls);
* the app: `run_app.py demo.mp4 --first-pose-exit` under offscreen Qt, launch to the first pose on
  screen as the app reports it (goal: within 5 s). The refined pose of frame 0 exists once the
  window's last keyframe is estimated, so this includes 31 decoded frames and 4 estimator calls.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.paths import ASSETS_DIR, REPO_ROOT  # noqa: E402

DEMO = ASSETS_DIR / "demo.mp4"
GOALS = {"short": 1.5, "demo": 0.45, "app_s": 5.0}

# A bare MediaPipe script, as a user would write it: MediaPipe on every K-th frame of a video.
BARE = """
import sys
import cv2
import mediapipe as mp
path, every = sys.argv[1], int(sys.argv[2])
pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1)
cap = cv2.VideoCapture(path)
i = found = 0
while True:
    ok, frame = cap.read()
    if not ok:
        break
    if i % every == 0:
        found += pose.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).pose_landmarks is not None
    i += 1
print(i, found)
"""


CPU: dict[str, list[float]] = {}      # CPU seconds (user + system) of each run, by label


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str], env: dict | None = None, label: str | None = None) -> tuple[float, str]:
    """Wall seconds of a fresh process (and its CPU seconds, kept in CPU[label])."""
    t, c = time.perf_counter(), _children_cpu()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr[-1500:]}")
    if label:
        CPU.setdefault(label, []).append(_children_cpu() - c)
    return time.perf_counter() - t, done.stdout


def short_clip(folder: Path, frames: int = 31) -> Path:
    import cv2
    cap = cv2.VideoCapture(str(DEMO))
    fps = cap.get(cv2.CAP_PROP_FPS)
    out = None
    for _ in range(frames):
        ok, f = cap.read()
        if out is None:
            out = cv2.VideoWriter(str(folder / "clip31.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                  (f.shape[1], f.shape[0]))
        out.write(f)
    out.release()
    cap.release()
    return folder / "clip31.mp4"


def app_first_pose(env: dict) -> float:
    """Seconds from launch to the first pose on screen, as the app prints it (and the CPU
    seconds it took to get there, kept in CPU["app"])."""
    _, out = timed([sys.executable, str(REPO_ROOT / "run_app.py"), str(DEMO), "--first-pose-exit"], env)
    m = re.search(r"first pose on screen: frame \d+, ([\d.]+) s after launch \(([\d.]+) s of CPU\)", out)
    if m is None:
        raise RuntimeError(f"the app printed no first pose: {out[-500:]}")
    CPU.setdefault("app", []).append(float(m.group(2)))
    return float(m.group(1))


def run(repeat: int = 3) -> dict:
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = short_clip(tmp)
        bare = tmp / "bare.py"
        bare.write_text(BARE)
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp / "config")}
        proc = lambda video: [py, str(REPO_ROOT / "run_app.py"), "process", str(video), "--out",
                              str(tmp / "out"), "--quiet"]
        times: dict[str, list[float]] = {k: [] for k in ("short", "short bare", "demo", "demo dense bare", "app")}
        for i in range(repeat):                    # alternating, so load changes hit both sides
            times["short"].append(timed(proc(clip), label="short")[0])
            times["short bare"].append(timed([py, str(bare), str(clip), "10"], label="short bare")[0])
            times["demo"].append(timed(proc(DEMO), label="demo")[0])
            times["demo dense bare"].append(timed([py, str(bare), str(DEMO), "1"], label="demo dense bare")[0])
            times["app"].append(app_first_pose(env))
            print(i, {k: round(v[-1], 2) for k, v in times.items()}, flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    cpu = {k: statistics.median(v) for k, v in CPU.items()}
    return {"median_s": med, "runs_s": times, "repeat": repeat, "cpu_s": cpu,
            "short_cpu_ratio": cpu["short"] / cpu["short bare"], "demo_cpu_ratio": cpu["demo"] / cpu["demo dense bare"],
            "short_ratio": med["short"] / med["short bare"], "demo_ratio": med["demo"] / med["demo dense bare"],
            "app_first_pose_s": med["app"]}


def markdown(res: dict) -> str:
    m = res["median_s"]
    ok = lambda good: "met" if good else "**missed**"
    judge = lambda key, goal: (f"{ok(res[key + '_ratio'] <= goal)} (wall clock), "
                               f"{ok(res[key + '_cpu_ratio'] <= goal)} (CPU)")
    rows = [
        ("31-frame clip, K = 10 (`run_app.py process`)", m["short"], "bare MediaPipe script on its 4 keyframes",
         m["short bare"], f"{res['short_ratio']:.2f}x", f"within {GOALS['short']}x: {judge('short', GOALS['short'])}"),
        ("demo, 230 frames, K = 10 (`run_app.py process`)", m["demo"], "bare MediaPipe script on every frame",
         m["demo dense bare"], f"{res['demo_ratio']:.2f}x", f"at most {GOALS['demo']}x: {judge('demo', GOALS['demo'])}"),
    ]
    c = res["cpu_s"]
    cpu = [(c["short"], c["short bare"], res["short_cpu_ratio"]), (c["demo"], c["demo dense bare"], res["demo_cpu_ratio"])]
    lines = [f"Median of {res['repeat']} fresh processes each, run alternately; wall-clock seconds, and "
             "in brackets the CPU seconds of the process (user + system, all threads), which a loaded "
             "machine disturbs less.\n",
             "| run | s | against | s | ratio | goal |", "|---|---|---|---|---|---|"]
    lines += [f"| {a} | {b:.2f} ({x:.2f} CPU) | {cc} | {d:.2f} ({y:.2f} CPU) | {e} ({z:.2f}x CPU) | {f} |"
              for (a, b, cc, d, e, f), (x, y, z) in zip(rows, cpu)]
    lines.append(f"| app: launch to the first pose on screen (`--first-pose-exit`, offscreen Qt) | "
                 f"{res['app_first_pose_s']:.2f} ({c['app']:.2f} CPU) | | | | within {GOALS['app_s']:g} s: "
                 f"{ok(res['app_first_pose_s'] <= GOALS['app_s'])} (wall clock), {ok(c['app'] <= GOALS['app_s'])} "
                 "(CPU) |")
    lines.append("\nEvery run: " + "; ".join(f"{k} " + ", ".join(f"{x:.2f}" for x in v)
                                             for k, v in res["runs_s"].items()) + " (s).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    res = run(ap.parse_args().repeat)
    print(markdown(res))
