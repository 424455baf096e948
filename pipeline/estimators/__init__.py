"""Pose estimators (one module per backend) behind the `Estimator` protocol of `base`."""
from __future__ import annotations

from .base import Estimator, PoseEstimate, filter_library_chatter
from .mediapipe import MediaPipePose

ESTIMATORS = {"mediapipe": MediaPipePose}


def make_estimator(name: str, static: bool = True) -> Estimator:
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; available: {', '.join(ESTIMATORS)}")
    return ESTIMATORS[name](static=static)


def estimator_flops(name: str, static: bool = True) -> float:
    """FLOPs of one call of an estimator, known without loading it."""
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; available: {', '.join(ESTIMATORS)}")
    return ESTIMATORS[name].flops(static)


__all__ = ["ESTIMATORS", "Estimator", "MediaPipePose", "PoseEstimate", "estimator_flops",
           "filter_library_chatter", "make_estimator"]
