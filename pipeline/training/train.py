"""Train a MixSynthFormer refiner.

    python -m pipeline.train --space image --k 10 --q 3 --out weights/image_k10_q3
    python -m pipeline.train --space world --k 10 --q 10 --out weights/world_k10_q10 --resume

Data: the training clips of ../shared/data/motion turned into detector-like windows (random
bodies, frame rates, speeds, mirroring and virtual cameras, and the measured detector-noise model
at a level drawn per window from none to heavy; see pipeline/training/synth.py), or the DeciWatch
files a user owns (--deciwatch ROOT --dataset h36m --estimator fcn). `--exclude gaitkit_gait`
leaves a motion file out (leave-one-dataset-out evaluation).
Loss: L1 over the frames of the window the pipeline uses (all of them, eq. 16; `--latency`
keyframe: the last keyframe interval, zero: the K frames predicted from the last keyframe on) in normalised units, on measured joints only. Adam with exponential
learning-rate decay, a seed, a checkpoint `<out>.ckpt` every --ckpt-every steps (--resume
continues from it), a progress bar; CUDA when present.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..refiner.model import MixSynthFormer, ModelConfig, count_parameters, linear_interpolation_matrix
from .motion import DECIWATCH as DECIWATCH_SKELETON, PairedSequence, load_deciwatch, load_motion_dir
from ..refiner.normalize import normalise, window_stats
from ..paths import MOTION_DIR
from ..atomic import atomic_write
from ..refiner.runtime import ModelCard, save_weights
from ..skeleton import BODY12, Skeleton
from .synth import (MEDIAPIPE, BodyShape, CameraRange, MotionAugment, NoiseModel, WindowSampler,
                    corrupt_keyframes)


@dataclass
class TrainConfig:
    space: str = "image"
    k: int = 10
    q: int = 3
    dim: int = 64
    depth: int = 4
    r_t: int = 1
    r_s: int = 1
    learned_interp: bool = True
    dropout: float = 0.1
    latency: str = "window"     # window | keyframe | zero (ModelConfig.latency): frames trained on
    exclude: str = ""           # motion files (stems, comma-separated) left out of training
    noise_min: float = 0.1      # detector-noise level per window, log-uniform in [min, max] x the
    noise_max: float = 3.0      # noise model (1 = as measured on MediaPipe) ...
    clean_share: float = 0.15   # ... or exactly clean (perfect keyframes) for this share of windows
    speed_max: float = 1.5      # playback speed of the motion up to this (from 0.5, log-uniform)
    accel_weight: float = 0.0   # + this x L1 of the acceleration (second difference) error
    steps: int = 20000
    batch: int = 128
    lr: float = 1e-3
    lr_final: float = 2e-5
    seed: int = 0
    val_every: int = 500
    ckpt_every: int = 500

    def model_config(self, pose_dim: int) -> ModelConfig:
        return ModelConfig(pose_dim=pose_dim, k=self.k, q=self.q, dim=self.dim, depth=self.depth,
                           r_t=self.r_t, r_s=self.r_s, dropout=self.dropout,
                           learned_interp=self.learned_interp, latency=self.latency)


class MotionBatches:
    """(keyframes (B, Q+1, J, D), clean window (B, T, J, D), measured joints (B, J)) from motion capture."""

    def __init__(self, cfg: TrainConfig, motion_dir: Path, noise: NoiseModel):
        excluded = {e.strip() for e in cfg.exclude.split(",") if e.strip()}
        clips = load_motion_dir(motion_dir)
        unknown = excluded - {c.source for c in clips}
        if unknown:
            raise ValueError(f"--exclude {', '.join(sorted(unknown))}: no such motion file in {motion_dir} "
                             f"(have {', '.join(sorted({c.source for c in clips}))})")
        clips = [c for c in clips if c.split == "train" and c.source not in excluded]
        default = MotionAugment()
        self.augment = replace(default, speed=(default.speed[0], cfg.speed_max))
        self.sampler = WindowSampler(clips, cfg.model_config(1).window, cfg.space, augment=self.augment)
        self.cfg, self.noise, self.skeleton = cfg, noise, BODY12
        sources = sorted({c.source for c in clips})
        self.description = (f"{len(clips)} training clips of {', '.join(sources)} "
                            f"({sum(len(c.joints) for c in clips)} captured frames; CMU test split held out"
                            + (f"; left out: {', '.join(sorted(excluded))}" if excluded else "") + ")")

    def levels(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n,) noise level per window: 0 for a `clean_share` of them, else log-uniform."""
        c = self.cfg
        lv = np.exp(rng.uniform(np.log(c.noise_min), np.log(c.noise_max), n))
        return np.where(rng.random(n) < c.clean_share, 0.0, lv)

    def __call__(self, n: int, rng: np.random.Generator):
        clean, measured, frame_dt = self.sampler.sample(n, rng)
        kf = corrupt_keyframes(clean, self.cfg.k, self.noise, rng, self.cfg.space, frame_dt,
                               self.levels(n, rng))
        return kf, clean, measured


class PairedBatches:
    """Random windows of DeciWatch sequences: the estimator's keyframes and the ground truth."""

    def __init__(self, cfg: TrainConfig, seqs: list[PairedSequence], skeleton: Skeleton):
        t = cfg.model_config(1).window
        self.seqs = [s for s in seqs if len(s.gt) >= t]
        if not self.seqs:
            raise ValueError(f"no training sequence has the {t} frames a window needs")
        self.t, self.k, self.skeleton = t, cfg.k, skeleton
        self.p = np.array([len(s.gt) - t + 1 for s in self.seqs], float)
        self.p /= self.p.sum()
        self.description = f"{len(self.seqs)} DeciWatch training sequences"

    def __call__(self, n: int, rng: np.random.Generator):
        kf, gt = [], []
        for i in rng.choice(len(self.seqs), size=n, p=self.p):
            s = self.seqs[i]
            a = rng.integers(len(s.gt) - self.t + 1)
            kf.append(s.pred[a:a + self.t:self.k])
            gt.append(s.gt[a:a + self.t])
        return np.stack(kf), np.stack(gt), np.ones((n, len(self.skeleton)), bool)


def to_tensors(kf: np.ndarray, clean: np.ndarray, measured: np.ndarray, skeleton: Skeleton, device: str):
    """Normalise both by the keyframes' statistics; flatten joints: (B, Q+1, P), (B, T, P), and the
    loss weight of each pose feature (B, 1, P): 1 for measured joints, 0 for completed ones."""
    centre, scale = window_stats(kf, skeleton)
    x = normalise(kf, centre, scale).reshape(len(kf), kf.shape[1], -1)
    y = normalise(clean, centre, scale).reshape(len(clean), clean.shape[1], -1)
    w = np.repeat(measured, kf.shape[-1], axis=-1)[:, None].astype(np.float32)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(device)
    return t(x), t(y), t(w)


def masked_l1(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean |pred - target| over all frames and the weighted features (eq. 16 on measured joints)."""
    return ((pred - target).abs() * weight).sum() / (weight.sum() * pred.shape[1])


def accel(x: torch.Tensor) -> torch.Tensor:
    """(B, T, P) -> (B, T-2, P) second difference over frames."""
    return x[:, 2:] - 2 * x[:, 1:-1] + x[:, :-2]


def loss_fn(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, accel_weight: float) -> torch.Tensor:
    """Eq. 16 (L1 over all frames), plus optionally L1 of the acceleration error (smoothness)."""
    loss = masked_l1(pred, target, weight)
    if accel_weight:
        loss = loss + accel_weight * masked_l1(accel(pred), accel(target), weight)
    return loss


def train(cfg: TrainConfig, out: Path, batches, space: str, resume: bool = False,
          device: str | None = None, extra_training: dict | None = None) -> ModelCard:
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    val = to_tensors(*batches(1024, np.random.default_rng(cfg.seed + 10_000)), batches.skeleton, device)
    pose_dim = val[0].shape[-1]
    mc = cfg.model_config(pose_dim)
    model = MixSynthFormer(mc).to(device)
    em = mc.emitted                 # the frames the pipeline uses: the loss covers those
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gamma = (cfg.lr_final / cfg.lr) ** (1 / max(cfg.steps, 1))
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma)
    ckpt = out.with_suffix(".ckpt")
    step, seconds = 0, 0.0
    if resume and ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        if state["config"] != asdict(cfg):
            raise ValueError(f"{ckpt} was written with another configuration: {state['config']}")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        step, seconds = state["step"], state["seconds"]

    def validate() -> tuple[float, float]:
        model.eval()
        with torch.no_grad():
            refined = model.refine_keyframes(val[0])[:, em]
            linear = (linear_interpolation_matrix(mc.k, mc.q, mc.horizon).to(device) @ val[0])[:, em]
        model.train()
        return masked_l1(refined, val[1][:, em], val[2]).item(), masked_l1(linear, val[1][:, em], val[2]).item()

    print(f"MixSynthFormer {count_parameters(model):,} parameters, {cfg.model_config(pose_dim)}; "
          f"data: {batches.description}; device {device}", flush=True)
    model.train()
    bar = tqdm(total=cfg.steps, initial=step, desc=out.name, unit="step", dynamic_ncols=True,
               mininterval=0.5 if sys.stderr.isatty() else 60)
    start = time.perf_counter() - seconds
    val_l1, linear_l1 = validate()
    while step < cfg.steps:
        x, y, w = to_tensors(*batches(cfg.batch, rng), batches.skeleton, device)
        loss = loss_fn(model.refine_keyframes(x)[:, em], y[:, em], w, cfg.accel_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        bar.update(1)
        if step % cfg.val_every == 0 or step == cfg.steps:
            val_l1, linear_l1 = validate()
        bar.set_postfix(loss=f"{loss.item():.4f}", val=f"{val_l1:.4f}", linear=f"{linear_l1:.4f}")
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            state = {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                     "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "step": step,
                     "seconds": time.perf_counter() - start, "config": asdict(cfg)}
            atomic_write(ckpt, lambda p: torch.save(state, p))
    bar.close()
    seconds = time.perf_counter() - start
    card = ModelCard(
        name=out.name, space=space, skeleton=batches.skeleton.name,
        joints=list(batches.skeleton.joints), model=cfg.model_config(pose_dim).to_dict(),
        training={"data": batches.description, "config": asdict(cfg), "device": device,
                  "seconds": round(seconds), "val_l1_normalised": round(val_l1, 5),
                  "val_l1_linear_interpolation": round(linear_l1, 5), **(extra_training or {})})
    save_weights(out, model.cpu().eval(), card)
    print(f"saved {out.with_suffix('.pt')} and {out.with_suffix('.json')} after {seconds / 60:.1f} min; "
          f"validation L1 {val_l1:.4f} (linear interpolation {linear_l1:.4f})")
    return card


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    d = TrainConfig()
    for f, v in asdict(d).items():
        flag = "--" + f.replace("_", "-")
        if isinstance(v, bool):
            ap.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes"), default=v)
        else:
            ap.add_argument(flag, type=type(v), default=v)
    ap.add_argument("--out", type=Path, required=True, help="weights path without suffix")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--device")
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    ap.add_argument("--motion", type=Path, default=MOTION_DIR)
    ap.add_argument("--deciwatch", type=Path)
    ap.add_argument("--dataset", choices=sorted(DECIWATCH_SKELETON))
    ap.add_argument("--estimator", default="fcn")
    ap.add_argument("--noise-rigid", type=float, help="share of the noise that turns bones "
                    "(NoiseModel.rigid; default: the fitted model's)")
    args = ap.parse_args(argv)
    cfg = TrainConfig(**{f: getattr(args, f) for f in asdict(d)})
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        if args.deciwatch:
            if not args.dataset:
                ap.error("--deciwatch needs --dataset")
            skeleton, dims = DECIWATCH_SKELETON[args.dataset]
            batches = PairedBatches(cfg, load_deciwatch(args.deciwatch, args.dataset, args.estimator,
                                                        "train"), skeleton)
            space = "image" if dims == 2 else "world"
            extra = {}
        else:
            noise = MEDIAPIPE[cfg.space]
            if args.noise_rigid is not None:
                noise = replace(noise, rigid=args.noise_rigid)
            batches = MotionBatches(cfg, args.motion, noise)
            space = cfg.space
            extra = {"noise": noise.to_dict(), "augment": asdict(batches.augment),
                     "camera": asdict(CameraRange()), "body": asdict(BodyShape())}
        train(cfg, args.out, batches, space, args.resume, args.device, extra)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted; resume with --resume from {args.out.with_suffix('.ckpt')}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
