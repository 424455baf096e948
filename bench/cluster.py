"""Sequential vs Ray on the same folder of real videos (docs/scaling.md).

    python bench/cluster.py [--out docs/cluster_bench.json]

The folder: the shared real videos (the demo, carphone and the four pose2sim views), linked into
a temporary folder. Each command runs as the user would run it (`run_app.py process FOLDER`,
then the same with `--ray --workers 2`, a local Ray on this machine), start-up included, at
K = 10. Reported: videos per minute and frames per second end to end, and for the sequential command
the CPU time it used per frame (the cost per core that a cluster multiplies).

On this machine Ray has two cores to spread over, shared with whatever else runs (the load
average before and after each run is reported): Ray can at best match what the sequential
command gets from two cores, since the sequential command already uses both (decoding on a
reader thread, MediaPipe's own threads); what it adds here is its start-up (a few seconds) and
the scheduling. Its gain is on more cores and more machines, which this benchmark cannot show.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.paths import REPO_ROOT, VIDEO_DIR  # noqa: E402

VIDEOS = ["sports2d_demo.mp4", "carphone.mp4"] + [f"pose2sim_single/cam0{i}.mp4" for i in range(1, 5)]


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(folder: Path, out: Path, extra: list[str]) -> dict:
    env = dict(os.environ, RAY_AUTH_MODE=os.environ.get("RAY_AUTH_MODE", "disabled"))
    load = os.getloadavg()[0]
    cpu, t = _children_cpu(), time.perf_counter()
    subprocess.run([sys.executable, str(REPO_ROOT / "run_app.py"), "process", str(folder), "--out", str(out),
                    "--quiet", *extra], check=True, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL)
    wall, cpu = time.perf_counter() - t, _children_cpu() - cpu
    frames = sum(sum(1 for _ in open(p)) - 1 for p in out.glob("*.csv"))
    videos = len(list(out.glob("*.csv")))
    return {"videos": videos, "frames": frames, "wall_s": wall, "videos_per_min": 60 * videos / wall,
            "fps": frames / wall, "cpu_ms_per_frame": 1000 * cpu / frames,
            "load_before": load, "load_after": os.getloadavg()[0]}


def run() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "videos"
        folder.mkdir()
        for v in VIDEOS:
            (folder / Path(v).name).symlink_to(VIDEO_DIR / v)
        res = {"sequential": _run(folder, Path(tmp) / "seq", []),
               "ray, 2 workers": _run(folder, Path(tmp) / "ray", ["--ray", "--workers", "2"])}
        a, b = (sorted(Path(tmp, d).glob("*.csv")) for d in ("seq", "ray"))
        res["identical_csvs"] = [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    res["cores"] = os.cpu_count()
    return res


def markdown(res: dict) -> str:
    rows = ["| command | videos | frames | wall s | videos / min | frames / s | CPU ms / frame | load avg before → after |",
            "|---|---|---|---|---|---|---|---|"]
    for name in ("sequential", "ray, 2 workers"):
        r = res[name]
        cpu = f"{r['cpu_ms_per_frame']:.1f}" if name == "sequential" else "n/a"
        rows.append(f"| {name} | {r['videos']} | {r['frames']} | {r['wall_s']:.1f} | {r['videos_per_min']:.1f} | "
                    f"{r['fps']:.0f} | {cpu} | {r['load_before']:.1f} → {r['load_after']:.1f} |")
    rows.append("")
    rows.append(f"{res['cores']} cores; the CSVs of the two runs are "
                f"{'identical' if res['identical_csvs'] else 'NOT identical'}. CPU ms per frame: all the CPU time of "
                "the sequential command (start-up included) per frame written; Ray's workers are not "
                "children the command waits for, so their CPU time is not counted (n/a).")
    return "\n".join(rows)


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    r = run()
    print(markdown(r))
    if args.out:
        args.out.write_text(json.dumps(r, indent=1))
