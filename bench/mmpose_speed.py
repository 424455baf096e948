"""mmpose speed: dense against the keyframe pipeline at K = 5, 10, 20 for heavy estimators.

    python bench/mmpose_speed.py       # prints the table; bench/run_all.py puts it in docs/benchmarks.md

The models: RTMPose-t, RTMPose-l and HRNet-w32 (top-down, COCO, 256x192), built from the
configs inside the mmpose wheel with random weights (no checkpoint can be downloaded here; the
time of a forward pass does not depend on the weights' values). Each call is MediaPipe's person
detector (the box) and the model. On one real clip (the first 40 frames of
`pose2sim_single/cam01.mp4`, 1080x1920, one person; short, since the CPU here is shared), torch
on one thread:
(a) dense: the estimator on every frame (`run_dense`: decoding, detector, model);
(b) the keyframe pipeline end to end, headless (`process_video`: decoding on a reader thread, the
    estimator on keyframes, the streaming image refiner, CSV written), with the shipped live
    models: Q = 6, 3 and 2 for K = 5, 10 and 20.
The estimator is created and called once before the clock starts (as in the app and in the
headless command, where one estimator serves all videos). "Estimator ×" is the dense run's
estimator time over the keyframe run's; "end to end ×" the dense run's wall time over the
keyframe run's. Goal at K = 10 for the heavy models: ≥ 9.5× and ≥ 8×.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.config import PipelineConfig, load_refiners  # noqa: E402
from pipeline.paths import VIDEO_DIR  # noqa: E402
from pipeline.process import process_video, run_dense  # noqa: E402
from pipeline.io.sources import VideoSource  # noqa: E402

SOURCE = VIDEO_DIR / "pose2sim_single" / "cam01.mp4"
FRAMES = 40
KS = (5, 10, 20)
MODELS = {"RTMPose-t": "rtmpose-t_8xb256-420e_coco-256x192",
          "RTMPose-l": "rtmpose-l_8xb256-420e_coco-256x192",
          "HRNet-w32": "td-hm_hrnet-w32_8xb64-210e_coco-256x192"}
HEAVY = ("RTMPose-l", "HRNet-w32")


def short_clip(folder: Path, n: int = FRAMES) -> Path:
    """The first n frames of SOURCE as a clip of its own."""
    import cv2
    cap = cv2.VideoCapture(str(SOURCE))
    fps = cap.get(cv2.CAP_PROP_FPS)
    path = folder / "clip.mp4"
    writer = None
    for _ in range(n):
        ok, frame = cap.read()
        if not ok:
            break
        if writer is None:
            h, w = frame.shape[:2]
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        writer.write(frame)
    writer.release()
    cap.release()
    return path


def random_checkpoint(config: str, folder: Path) -> Path:
    """The model of `config` with random weights, saved as an mmengine checkpoint."""
    from mmengine.runner import save_checkpoint
    from pipeline.estimators import mmpose as mm
    model = mm.build_model(config)
    path = folder / f"{config}.pth"
    save_checkpoint({"state_dict": model.state_dict(), "meta": {"dataset_meta": model.dataset_meta}}, str(path))
    return path


def warm(config: str, checkpoint: Path, video: Path):
    from pipeline.estimators import make_estimator
    est = make_estimator("mmpose", pose_config=config, pose_checkpoint=checkpoint)
    with VideoSource(video) as src:
        est.estimate(next(src.frames()).image)
    return est


def run_model(config: str, folder: Path, video: Path) -> dict:
    ckpt = random_checkpoint(config, folder)
    est = warm(config, ckpt, video)
    _, wall, calls = run_dense(video, est)
    n = len(calls)
    out = {"frames": n, "gflops_per_call": est.flops_per_call() / 1e9,
           "dense": {"wall": wall / n, "estimator": calls.sum() / n}}
    for k in KS:
        cfg = PipelineConfig(k=k, estimator="mmpose", pose_config=config, pose_checkpoint=ckpt, world=False)
        with tempfile.TemporaryDirectory() as tmp:
            s = process_video(video, Path(tmp), cfg, load_refiners(cfg), progress=False, estimator=est)
        out[f"K={k}"] = {"wall": s.stats.wall_s / s.frames, "estimator": s.stats.estimator_s / s.frames,
                         "refiner": s.stats.refiner_s / s.frames}
    est.close()
    return out


def run() -> dict:
    import torch
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        video = short_clip(Path(folder))
        return {name: run_model(config, Path(folder), video) for name, config in MODELS.items()}


def markdown(res: dict) -> str:
    rows = ["| model | GFLOPs per call | run | ms per frame | fps | estimator share | estimator × | end to end × |",
            "|---|---|---|---|---|---|---|---|"]
    for name, r in res.items():
        d = r["dense"]
        rows.append(f"| {name} | {r['gflops_per_call']:.2f} | dense | {1000 * d['wall']:.1f} | {1 / d['wall']:.1f} | "
                    f"{d['estimator'] / d['wall']:.0%} | 1.0 | 1.0 |")
        for k in KS:
            x = r[f"K={k}"]
            rows.append(f"| | | K = {k} | {1000 * x['wall']:.1f} | {1 / x['wall']:.1f} | "
                        f"{x['estimator'] / x['wall']:.0%} | {d['estimator'] / x['estimator']:.1f} | "
                        f"{d['wall'] / x['wall']:.1f} |")
    lines = ["\n".join(rows), ""]
    for name in HEAVY:
        if name in res:
            d, x = res[name]["dense"], res[name]["K=10"]
            est, e2e = d["estimator"] / x["estimator"], d["wall"] / x["wall"]
            ok = "met" if est >= 9.5 and e2e >= 8 else "missed"
            lines.append(f"* {name} at K = 10: {est:.1f}× less estimator time, {e2e:.1f}× end to end "
                         f"(goal ≥ 9.5× and ≥ 8×: {ok}).")
    return "\n".join(lines)


if __name__ == "__main__":
    result = run()
    print(markdown(result))
