"""What the streaming refiners emit: one pose per video frame, and their running statistics."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..estimators import PoseEstimate


@dataclass
class FramePose:
    """The pose of one video frame: image (J, 2) pixels, conf (J,), world (J, 3) metres or None;
    NaN everywhere when there is no pose. `raw` is the estimator's own output on keyframes."""
    index: int
    time_s: float
    keyframe: bool
    detected: bool
    image: np.ndarray
    conf: np.ndarray
    world: np.ndarray | None
    raw: PoseEstimate | None = None

    @property
    def has_pose(self) -> bool:
        return bool(np.isfinite(self.image).all())

    @property
    def filled(self) -> bool:
        """A pose that rests on a missed keyframe filled from the detections around it."""
        return self.has_pose and not self.detected


@dataclass
class RefinerStats:
    windows: int = 0
    seconds: float = 0.0
    frames_out: int = 0
    latency_frames: int = 0     # frames that arrived after the oldest frame of the last emission


def estimate_values(e: PoseEstimate) -> tuple[np.ndarray, ...]:
    """An estimate's image (J, 2), conf (J,) and world (J, 3) joints, float32 (world NaN when the
    estimator gives none): what the streaming refiners interpolate and refine."""
    world = e.world if e.world is not None else np.full(e.image.shape[:-1] + (3,), np.nan, np.float32)
    return e.image.astype(np.float32), e.conf.astype(np.float32), world.astype(np.float32)
