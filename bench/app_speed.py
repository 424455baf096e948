"""The app's speed: its worker driven offscreen on the demo at K = 10, against the headless pipeline.

    python bench/app_speed.py [--repeat N]

Time per frame of a run, from the run's start to its end (the estimator and the refiners
already loaded), in fresh processes run alternately, the median of `--repeat` runs:

* headless: `process_video` on the demo (K = 10, windows refined 16 at a time);
* the app: the window under offscreen Qt, processing as fast as it can (real-time pacing off):
  every frame processed, its pose kept and plotted, and the frames the screen can show decoded,
  fitted to the video view and drawn with their poses, as a video player fast-forwarding: at most
  one per 1/30 s of processing, none while the GUI has not drawn the last one, and none while
  the GUI thread has used more than 12 % of a core over the last 0.1 s
  (`app.worker.DISPLAY_BUDGET`); the plots redraw four times a second: from RunStarted to
  RunEnded (display included), the window's own event loop running (as in the app: no polling).
  The GUI thread's own CPU time is reported too.

Goals: the app within 1.2x of headless per frame, and under 33.3 ms per frame, so that a live
30 fps source keeps up.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.paths import ASSETS_DIR, REPO_ROOT  # noqa: E402

DEMO = ASSETS_DIR / "demo.mp4"
GOAL_RATIO, LIVE_MS = 1.2, 1000 / 30
ARMS = ("headless", "app")


def headless() -> dict:
    from pipeline.config import PipelineConfig, load_refiners
    from pipeline.process import process_video
    cfg = PipelineConfig(k=10)
    with tempfile.TemporaryDirectory() as tmp:
        s = process_video(DEMO, Path(tmp), cfg, load_refiners(cfg), progress=False)
    return {"frames": s.stats.frames, "seconds": s.stats.wall_s, "cpu_s": s.stats.cpu_s}


def app() -> dict:
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.window import MainWindow
    qt = QApplication([sys.argv[0]])
    with tempfile.TemporaryDirectory() as tmp:
        window = MainWindow(QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat))
        window.confirm_close = False         # a script closes it: never wait for a question
        window.show()
        if window.realtime_action.isChecked():
            window.realtime_action.trigger()          # as fast as it can
        marks: dict[str, float] = {}
        ended = []
        shown = [0]                                    # frames drawn
        window.session.frame_shown.connect(lambda item: shown.__setitem__(0, shown[0] + 1))
        window.session.run_started.connect(lambda info: (marks.setdefault("start", time.perf_counter()),
                                                         marks.setdefault("cpu_start", time.process_time()),
                                                         marks.setdefault("gui_start", time.thread_time())))
        window.session.run_ended.connect(lambda r: (marks.setdefault("end", time.perf_counter()),
                                                    marks.setdefault("cpu_end", time.process_time()),
                                                    marks.setdefault("gui_end", time.thread_time()),
                                                    ended.append(r)))
        loop = QEventLoop()
        window.session.run_ended.connect(lambda r: loop.quit())
        QTimer.singleShot(600_000, loop.quit)          # a hung run ends the bench
        window.open_files([DEMO])
        loop.exec()
        window.close()
        if not ended:
            raise RuntimeError("the app's run did not end within 600 s")
        r = ended[0]
    return {"frames": r.snapshot.frames, "seconds": marks["end"] - marks["start"],
            "cpu_s": marks["cpu_end"] - marks["cpu_start"],
            "gui_cpu_s": marks["gui_end"] - marks["gui_start"], "worker_fps": r.snapshot.fps,
            "shown": shown[0]}


def run(repeat: int = 3) -> dict:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    runs: dict[str, list[dict]] = {a: [] for a in ARMS}
    for i in range(repeat):
        for arm in ARMS:
            done = subprocess.run([sys.executable, __file__, "--arm", arm], capture_output=True, text=True,
                                  cwd=REPO_ROOT, env=env, timeout=900)
            if done.returncode != 0:
                raise RuntimeError(f"{arm} failed: {done.stderr[-1500:]}")
            runs[arm].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(i, arm, runs[arm][-1], flush=True)
    ms = {a: statistics.median(1000 * r["seconds"] / r["frames"] for r in rs) for a, rs in runs.items()}
    cpu = {a: statistics.median(1000 * r["cpu_s"] / r["frames"] for r in rs) for a, rs in runs.items()}
    return {"ms_per_frame": ms, "cpu_ms_per_frame": cpu, "runs": runs, "repeat": repeat,
            "ratio": ms["app"] / ms["headless"], "cpu_ratio": cpu["app"] / cpu["headless"]}


def markdown(res: dict) -> str:
    ms, h = res["ms_per_frame"], res["ms_per_frame"]["headless"]
    lines = [f"The demo (230 frames, 1768x994) at K = 10; median of {res['repeat']} runs each, in fresh "
             "processes run alternately.\n",
             "| run | ms per frame | fps | against headless | CPU ms per frame (all threads) | against headless "
             "| GUI thread's share of a core | frames drawn |",
             "|---|---|---|---|---|---|---|---|"]
    cpu = res["cpu_ms_per_frame"]
    for arm in ARMS:
        rs = res["runs"][arm]
        drawn = [r["shown"] for r in rs if "shown" in r]
        gui = [r["gui_cpu_s"] / r["seconds"] for r in rs if "gui_cpu_s" in r]
        lines.append(f"| {arm} | {ms[arm]:.1f} | {1000 / ms[arm]:.0f} | {ms[arm] / h:.2f}x | {cpu[arm]:.1f} | "
                     f"{cpu[arm] / cpu['headless']:.2f}x | {f'{statistics.median(gui):.0%}' if gui else '-'} | "
                     f"{statistics.median(drawn) if drawn else '-'} |")
    ok = lambda good: "met" if good else "**missed**"
    lines.append(f"\nGoals: the app within {GOAL_RATIO}x of headless: {ok(res['ratio'] <= GOAL_RATIO)} "
                 f"({res['ratio']:.2f}x); under {LIVE_MS:.1f} ms per frame, so a 30 fps live source keeps "
                 f"up: {ok(ms['app'] <= LIVE_MS)} ({ms['app']:.1f} ms).\n")
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--arm", choices=ARMS)
    args = ap.parse_args()
    if args.arm:
        out = headless() if args.arm == "headless" else app()
        print(json.dumps(out))
    else:
        print(markdown(run(args.repeat)))
