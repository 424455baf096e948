"""Memory: resident set size while the headless command processes a 10-minute video.

    python bench/memory.py [--minutes 10]

The 10-minute video is the bundled demo (a real clip) played forwards and backwards in a loop at
half size, written once to a temporary folder. `run_app.py process` runs on it in a child process
whose RSS is read from /proc every half second; the run is flat when, after the first tenth of the
run (start-up: imports, models) and before it exits, RSS stays within a few MB.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.paths import ASSETS_DIR, REPO_ROOT  # noqa: E402


def looped_video(path: Path, minutes: float) -> int:
    cap = cv2.VideoCapture(str(ASSETS_DIR / "demo.mp4"))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(f, (f.shape[1] // 2, f.shape[0] // 2), interpolation=cv2.INTER_AREA))
    fps = cap.get(cv2.CAP_PROP_FPS)
    n = int(minutes * 60 * fps)
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for i in range(n):
        j = i % (2 * len(frames) - 2)               # play forwards then backwards: no jump cut
        out.write(frames[j if j < len(frames) else 2 * len(frames) - 2 - j])
    out.release()
    return n


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def run(minutes: float = 10.0) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "long.mp4"
        t = time.perf_counter()
        n = looped_video(video, minutes)
        print(f"wrote {n} frames in {time.perf_counter() - t:.0f} s", flush=True)
        proc = subprocess.Popen([sys.executable, str(REPO_ROOT / "run_app.py"), "process", str(video),
                                 "--out", tmp, "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=REPO_ROOT, env={**os.environ})
        samples = []
        start = time.perf_counter()
        while proc.poll() is None:
            r = rss_mb(proc.pid)
            if r is not None:
                samples.append((time.perf_counter() - start, r))
            time.sleep(0.5)
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"processing failed: {err.strip().splitlines()[-1:]}")
        rows = sum(1 for _ in open(Path(tmp) / "long.csv")) - 1
    total = samples[-1][0]
    settled = [r for t, r in samples if total / 10 <= t <= total * 0.95]   # not start-up or exit
    return {"frames": n, "rows": rows, "seconds": total, "samples": samples,
            "peak_mb": max(r for _, r in samples), "rss_settled_mb": settled[0],
            "rss_end_mb": samples[-1][1], "settled_min": min(settled), "settled_max": max(settled),
            "summary": out.strip().splitlines()[:4]}


def plot(res: dict, png: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    t, r = zip(*res["samples"])
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot(t, r)
    ax.set_xlabel("seconds into the run")
    ax.set_ylabel("RSS (MB)")
    ax.set_ylim(0, max(r) * 1.15)
    ax.set_title(f"Headless run on a {res['frames']}-frame (10-minute) video")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def markdown(res: dict) -> str:
    spread = res["settled_max"] - res["settled_min"]
    return (f"A {res['frames']}-frame video (the demo looped to 10 minutes at half size) processed "
            f"headless in {res['seconds']:.0f} s; the CSV has {res['rows']} rows. RSS after the first "
            f"tenth of the run {res['rss_settled_mb']:.0f} MB, peak {res['peak_mb']:.0f} MB; between a "
            f"tenth and 95 % of the run (after start-up, before exit) it moves within {spread:.0f} MB: "
            f"{'flat' if spread < 30 else 'NOT flat'}.\n\n![RSS over the run](memory.png)\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    res = run(ap.parse_args().minutes)
    print(markdown(res))
