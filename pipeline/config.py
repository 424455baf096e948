"""The pipeline's configuration, in one dataclass, and what it loads."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .estimators import ESTIMATORS
from .refiner.config import LATENCIES
from .refiner.runtime import NoAcceptedRefiner, Refiner, WeightsError, find_weights, load_card
from .skeleton import BODY12

# `auto` latency: cameras and streams get the keyframe mode, the lowest latency that the evaluation
# shows costs no accuracy (docs/refiner.md, "Accuracy against latency"): without an accepted window
# model a window is linear interpolation, which the keyframe mode equals or betters, and a window
# model's K*Q frames would be a second or more behind a live person; predicting past the last
# keyframe (zero) costs accuracy. Files get the most accurate mode (`file_latency`): the window
# mode where a window model is accepted, else the keyframe mode where one is (a file's missed
# keyframes are filled from both sides in either), else the window mode.
AUTO_LATENCY = {"file": "most accurate", "live": "keyframe"}
LATENCY_CHOICES = ("auto",) + LATENCIES


def file_latency(k: int, spaces: tuple[str, ...] = ("image", "world")) -> str:
    """`auto` for a file: the first of window and keyframe with an accepted refiner for K in one
    of `spaces`; window when neither has one."""
    for latency in ("window", "keyframe"):
        for space in spaces:
            try:
                find_weights(space, k, latency=latency)
                return latency
            except NoAcceptedRefiner:
                pass
    return "window"


@dataclass
class PipelineConfig:
    k: int = 10                      # keyframe interval: the estimator runs on frames 0, K, 2K, ...
    latency: str = "auto"            # window | keyframe | zero | auto (by source: AUTO_LATENCY)
    q: int | None = None             # keyframe intervals per window; None: the live model for K
    stride: int | None = None        # a window every `stride` keyframes; None: Q (windows share ends)
    estimator: str = "mediapipe"
    keyframe_mode: str = "static"    # MediaPipe mode on keyframes (docs/estimator_mode.md)
    pose_config: str | None = None   # mmpose: a config file, or an mmpose model name / alias
    pose_checkpoint: Path | None = None   # mmpose: the config's weights (brought by the user)
    weights: Path | None = None      # image-space refiner; None: the shipped weights for K, Q
    world_weights: Path | None = None
    world: bool = True               # also refine the world (3D) landmarks
    pin_keyframes: bool = True       # detected keyframes keep the estimator's own image pose
    pin_world: bool = False          # ... and world pose (costs 3D accuracy: docs/refiner.md)
    dense: bool = False              # also run the estimator on every frame (baseline)
    device: str = "cpu"
    refiner_runtime: str = "onnx"    # "onnx" (ONNX Runtime, no torch loaded) or "torch"
    refiner_threads: int = 1         # intra-op threads of the refiners: one window is too small to
                                     # share, and more threads fight the estimator (bench/app_speed.py)

    def estimator_options(self) -> dict:
        """Keyword arguments of `make_estimator` / `estimator_flops` beyond name and mode."""
        if self.estimator != "mmpose":
            return {}
        return {"pose_config": self.pose_config, "pose_checkpoint": self.pose_checkpoint}

    def estimator_label(self) -> str:
        """The estimator as the readout and the sidecar name it: `mediapipe (static)`,
        `mmpose (rtmpose-l_8xb256-420e_coco-256x192)`."""
        if self.estimator == "mmpose":
            return f"mmpose ({Path(str(self.pose_config or '?')).stem})"
        return f"{self.estimator} ({self.keyframe_mode})"

    def for_source(self, live: bool) -> "PipelineConfig":
        """This configuration with `auto` latency made concrete for a live source or a file."""
        if self.latency not in LATENCY_CHOICES:
            raise ValueError(f"latency {self.latency!r}: one of {', '.join(LATENCY_CHOICES)}")
        if self.latency != "auto":
            return self
        chosen = self.weights if self.weights is not None else self.world_weights
        if chosen is not None:                            # a chosen model runs in its own mode
            return replace(self, latency=load_card(chosen).config.latency)
        if live:
            return replace(self, latency=AUTO_LATENCY["live"])
        refined = ("image", "world") if self.world and ESTIMATORS[self.estimator].has_world else ("image",)
        return replace(self, latency=file_latency(self.k, refined))

    def to_dict(self) -> dict:
        """For the sidecar; `world` as run (off for an estimator without world joints)."""
        out = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
        out["world"] = self.world and ESTIMATORS[self.estimator].has_world
        return out


def load_refiners(cfg: PipelineConfig) -> tuple[Refiner, Refiner | None]:
    """The image refiner and the world one (None with `world` off or for an estimator without
    world joints) for cfg, refusing weights that don't fit.

    Without a weights file, only models their evaluation accepted are used (docs/refiner.md); a
    space without one is interpolated linearly (`Refiner.linear`, its card's note says why), with
    the windows of the other space's model so both share one schedule."""
    latency = cfg.for_source(live=False).latency      # `auto` without a source: a file's
    joints = list(BODY12.joints)
    run = {"device": cfg.device, "runtime": cfg.refiner_runtime, "threads": cfg.refiner_threads,
           "latency": latency}

    def shipped(space: str, k: int, q: int | None) -> Refiner | NoAcceptedRefiner:
        try:
            return Refiner.load(find_weights(space, k, q, latency=latency), space=space, joints=joints, **run)
        except NoAcceptedRefiner as e:
            return e

    if cfg.weights is not None:
        image = Refiner.load(cfg.weights, space="image", joints=joints, k=cfg.k, q=cfg.q, **run)
    else:
        image = shipped("image", cfg.k, cfg.q)
    world = None
    # a world model for an estimator with world joints (not a 2D mmpose model); it shares the
    # image model's windows
    if cfg.world and ESTIMATORS[cfg.estimator].has_world:
        q = image.q if isinstance(image, Refiner) else cfg.q
        if cfg.world_weights is not None:
            world = Refiner.load(cfg.world_weights, space="world", joints=joints, k=cfg.k, q=q, **run)
        else:
            world = shipped("world", cfg.k, q)
    q = next((r.q for r in (image, world) if isinstance(r, Refiner)), cfg.q or 1)
    how = {"window": "linear interpolation", "keyframe": "linear interpolation of the last two keyframes",
           "zero": "the last keyframe held"}[latency]
    if isinstance(image, NoAcceptedRefiner):
        image = Refiner.linear("image", cfg.k, q, note=f"{image}: {how}", latency=latency)
    if isinstance(world, NoAcceptedRefiner):
        world = Refiner.linear("world", cfg.k, q, note=f"{world}: {how}", latency=latency)
    return image, world


def refiner_notes(refiners: tuple[Refiner, Refiner | None]) -> list[str]:
    """One line per space interpolated for want of an accepted refiner (readout, summary)."""
    return [r.card.evaluation["note"] for r in refiners if r is not None and r.is_linear]


def weights_summary(refiner: Refiner | None) -> dict | None:
    if refiner is None:
        return None
    card = refiner.card
    if refiner.is_linear:
        return {"name": card.name, "space": card.space, "k": refiner.k, "q": refiner.q,
                "note": card.evaluation["note"]}
    return {"name": card.name, "space": card.space, **card.config.to_dict()}


__all__ = ["AUTO_LATENCY", "LATENCY_CHOICES", "file_latency", "PipelineConfig", "load_refiners", "refiner_notes", "weights_summary", "load_card"]
