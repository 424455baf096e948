"""The pipeline's configuration, in one dataclass, and what it loads."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from .refiner.runtime import Refiner, WeightsError, find_weights, load_card
from .skeleton import BODY12


@dataclass
class PipelineConfig:
    k: int = 10                      # keyframe interval: the estimator runs on frames 0, K, 2K, ...
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

    def to_dict(self) -> dict:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


def load_refiners(cfg: PipelineConfig) -> tuple[Refiner, Refiner | None]:
    """The image refiner (and the world one) for cfg, refusing weights that don't fit."""
    joints = list(BODY12.joints)
    if cfg.weights is not None:
        image = Refiner.load(cfg.weights, space="image", joints=joints, k=cfg.k, q=cfg.q,
                             device=cfg.device)
    else:
        image = Refiner.load(find_weights("image", cfg.k, cfg.q), space="image", joints=joints,
                             device=cfg.device)
    world = None
    if cfg.world:
        if cfg.world_weights is not None:
            world = Refiner.load(cfg.world_weights, space="world", joints=joints, k=image.k, q=image.q,
                                 device=cfg.device)
        else:
            try:
                world = Refiner.load(find_weights("world", image.k, image.q), space="world",
                                     joints=joints, device=cfg.device)
            except WeightsError:
                world = None      # no 3D model for this K, Q: world landmarks are interpolated
    return image, world


def weights_summary(refiner: Refiner | None) -> dict | None:
    if refiner is None:
        return None
    return {"name": refiner.card.name, "space": refiner.card.space, **refiner.card.config.to_dict()}


__all__ = ["PipelineConfig", "load_refiners", "weights_summary", "load_card"]
