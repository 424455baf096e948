"""Pose estimators (one module per backend) behind the `Estimator` protocol of `base`.

`mediapipe` is always there; `mmpose` (top-down models, a config and checkpoint the user brings)
where the optional requirements-mmpose*.txt are installed (`available_estimators`).
"""
from __future__ import annotations

from pathlib import Path

from . import mmpose as _mmpose
from .base import Estimator, PoseEstimate, filter_library_chatter
from .mediapipe import MediaPipePose
from .mmpose import MMPosePose

ESTIMATORS = {"mediapipe": MediaPipePose, "mmpose": MMPosePose}


def available_estimators() -> list[str]:
    """The estimators installed here (mmpose's packages are optional)."""
    return [n for n in ESTIMATORS if n != "mmpose" or _mmpose.available()]


def _check(name: str) -> None:
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; available: {', '.join(available_estimators())}")
    if name == "mmpose":
        _mmpose.require()


def make_estimator(name: str, static: bool = True, pose_config: str | Path | None = None,
                   pose_checkpoint: str | Path | None = None) -> Estimator:
    """An open estimator. mmpose needs `pose_config` (a file, or a model name / alias) and
    `pose_checkpoint`; ValueError with the reason where one is missing or does not fit."""
    _check(name)
    if name == "mmpose":
        check_estimator(name, pose_config, pose_checkpoint)
        return MMPosePose(_mmpose.resolve_config(pose_config), _mmpose.check_checkpoint(pose_checkpoint),
                          static=static)
    return ESTIMATORS[name](static=static)


def check_estimator(name: str, pose_config: str | Path | None = None,
                    pose_checkpoint: str | Path | None = None) -> None:
    """That the estimator can be made (installed; mmpose: its config and checkpoint exist),
    without loading it; ValueError with the reason otherwise."""
    _check(name)
    if name == "mmpose":
        if pose_config is None or str(pose_config) == "":
            raise ValueError("the mmpose estimator needs a config: a config file or an mmpose "
                             "model name or alias")
        _mmpose.resolve_config(pose_config)
        _mmpose.check_checkpoint(pose_checkpoint)


def estimator_flops(name: str, static: bool = True, pose_config: str | Path | None = None,
                    pose_checkpoint: str | Path | None = None) -> float:
    """FLOPs of one call of an estimator, known without its weights (mmpose: its config's model,
    built with random weights and counted once per config; `pose_checkpoint` is not needed)."""
    _check(name)
    if name == "mmpose":
        return MMPosePose.flops(static, pose_config)
    return ESTIMATORS[name].flops(static)


__all__ = ["ESTIMATORS", "Estimator", "MMPosePose", "MediaPipePose", "PoseEstimate",
           "available_estimators", "check_estimator", "estimator_flops", "filter_library_chatter", "make_estimator"]
