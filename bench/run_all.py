"""Run every benchmark and rewrite docs/benchmarks.md (plus its PNG plots).

    python bench/run_all.py            # or: make bench   (about 10-15 minutes here)

Run it on an otherwise idle machine: the timings are wall-clock.
"""
from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import accuracy  # noqa: E402
import app_speed  # noqa: E402
import cluster  # noqa: E402
import live_latency  # noqa: E402
import memory  # noqa: E402
import mmpose_speed  # noqa: E402
import refiner_cost  # noqa: E402
import speed  # noqa: E402
import startup  # noqa: E402
import train_time  # noqa: E402
from pipeline.io.export import versions  # noqa: E402
from pipeline.paths import REPO_ROOT  # noqa: E402

DOCS = REPO_ROOT / "docs"


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    import os
    mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal")) / 2**20
    v = versions()
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} "
            f"{platform.release()}; Python {v['python']}, torch {v['torch']} (CPU), "
            f"OpenCV {v['opencv']}, MediaPipe {v.get('mediapipe', '?')}, numpy {v['numpy']}")


def plot_speed(res: dict, png: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    labels = ["read()", "grab()", "dense static", "dense tracking"] + [f"K={k}" for k in speed.KS]
    keys = ["read", "grab", "dense static", "dense tracking"] + [f"K={k}" for k in speed.KS]
    fig, axes = plt.subplots(1, len(res), figsize=(5 * len(res), 3.2), squeeze=False)
    for ax, (name, r) in zip(axes[0], res.items()):
        vals = [1000 * (r[k][0] if isinstance(r[k], (list, tuple)) else r[k]) for k in keys]
        est = [1000 * r[k][1] if isinstance(r[k], (list, tuple)) else 0 for k in keys]
        ax.barh(labels, vals, color="#8aa")
        ax.barh(labels, est, color="#c66", label="estimator share")
        ax.invert_yaxis()
        ax.set_xlabel("ms per frame")
        ax.set_title(name)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def plot_accuracy(res: dict, png: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2))
    frames = sum(r["frames"] for r in res.values())
    for m, style in (("refined", "o-"), ("linear", "s--")):
        err = [sum(r[f"{m} K={k}"]["error"] * r["frames"] for r in res.values()) / frames for k in accuracy.KS]
        acc = [sum(r[f"{m} K={k}"]["accel"] * r["frames"] for r in res.values()) / frames for k in accuracy.KS]
        a1.plot(accuracy.KS, err, style, label=m)
        a2.plot(accuracy.KS, acc, style, label=m)
    dense_acc = sum(r["dense accel"] * r["frames"] for r in res.values()) / frames
    a2.axhline(dense_acc, color="gray", ls=":", label="dense")
    a1.set(xlabel="K", ylabel="error vs dense (torso lengths)", xticks=accuracy.KS)
    a2.set(xlabel="K", ylabel="mean acceleration (torso/frame²)", xticks=accuracy.KS, yscale="log")
    a1.legend()
    a2.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def mmpose_section(results: dict) -> str:
    if "mmpose" not in results:
        return "Not measured: mmpose is not installed (requirements-mmpose*.txt; `make bench` installs it)."
    doc = mmpose_speed.__doc__.split(chr(10) + chr(10), 2)[2].strip()
    return f"{doc}\n\n{mmpose_speed.markdown(results['mmpose'])}"


def main() -> int:
    t0 = time.perf_counter()
    py = sys.executable
    for script, out in (("estimator_mode.py", "estimator_mode.md"), ("noise_calibration.py", "noise_calibration.md")):
        subprocess.run([py, str(REPO_ROOT / "bench" / script), "--out", str(DOCS / out)], check=True,
                       cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
        print(f"{script} done", flush=True)
    subprocess.run([py, "-m", "pipeline.training.noise_fit", "--doc", str(DOCS / "noise_model.md")], check=True,
                   cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
    print("noise_fit done", flush=True)
    results = {"speed": speed.run(), "refiner": refiner_cost.run(), "accuracy": accuracy.run(),
               "memory": memory.run(), "training": train_time.run(), "startup": startup.run(),
               "app_speed": app_speed.run(), "live_latency": live_latency.run(), "cluster": cluster.run()}
    from pipeline.estimators.mmpose import available as mmpose_available
    if mmpose_available():                      # the optional install (make bench installs it)
        results["mmpose"] = mmpose_speed.run()
    plot_speed(results["speed"], DOCS / "speed.png")
    plot_accuracy(results["accuracy"], DOCS / "accuracy.png")
    memory.plot(results["memory"], DOCS / "memory.png")
    page = f"""# Benchmarks

Produced by `make bench` (`python bench/run_all.py`) in {time.perf_counter() - t0:.0f} s on
{time.strftime('%Y-%m-%d')}. Machine: {machine()}.
Wall-clock timings on this shared 2-core machine vary by 10-20 % from run to run; each speed figure
is the faster of two runs. Raw numbers: `benchmarks.json`.

## Speed

{speed.__doc__.split(chr(10) + chr(10), 2)[2].strip()}

![ms per frame](speed.png)

{speed.markdown(results['speed'])}

## Start-up

{startup.__doc__.split(chr(10) + chr(10), 2)[2].strip()}

{startup.markdown(results['startup'])}

## The app's speed

{app_speed.__doc__.split(chr(10) + chr(10), 2)[2].strip()}

{app_speed.markdown(results['app_speed'])}

## A live source in the app: latency modes

{live_latency.__doc__.split(chr(10) + chr(10), 2)[2].strip()}

{live_latency.markdown(results['live_latency'])}

## mmpose: a heavy estimator on keyframes

{mmpose_section(results)}

## Refiner cost

{refiner_cost.__doc__.split(chr(10) + chr(10), 2)[2].strip()}

{refiner_cost.markdown(results['refiner'])}

## Accuracy on real video (no hand labels)

{accuracy.__doc__.split(chr(10) + chr(10), 2)[2].strip()}

![error and smoothness against K](accuracy.png)

{accuracy.markdown(results['accuracy'])}

## Memory

{memory.markdown(results['memory'])}

## Training time

{train_time.__doc__.split(chr(10) + chr(10), 2)[2].strip()}

{train_time.markdown(results['training'])}

## Sequential vs Ray (`--ray`)

{cluster.__doc__.split(chr(10) + chr(10), 2)[2].strip()}

{cluster.markdown(results['cluster'])}

What this means for a library on a cluster: [scaling.md](scaling.md).

## Related measurements

* [MediaPipe mode on keyframes](estimator_mode.md) (static vs tracking) — rerun by this command.
* [MediaPipe's noise against a multi-view reference](noise_model.md), to which the refiner's
  training noise model is fitted — rerun by this command (`python -m pipeline.training.noise_fit`).
* [MediaPipe's frame-to-frame jitter without a reference](noise_calibration.md), on every shared
  clip, including the small, distant people of the demo — rerun by this command.
* [Refiner evaluation on held-out motion capture](refiner.md) (`make evaluate`).
"""
    (DOCS / "benchmarks.md").write_text(page)
    (DOCS / "benchmarks.json").write_text(json.dumps(results, indent=1, default=float))
    print(f"wrote {DOCS / 'benchmarks.md'} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
