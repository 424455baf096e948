"""Pose-sequence metrics as in the DeciWatch / MixSynthFormer protocol."""
from __future__ import annotations

import numpy as np


def bbox_from_joints(joints: np.ndarray) -> np.ndarray:
    """(T, J, 2) -> (T, 4) tight box x1 y1 x2 y2 around the joints of each frame."""
    return np.concatenate([joints.min(axis=1), joints.max(axis=1)], axis=-1)


def pck(pred: np.ndarray, gt: np.ndarray, bbox: np.ndarray, alpha: float) -> float:
    """Share of joints within alpha * max(w, h) of the ground-truth box of their frame.

    pred, gt (T, J, 2); bbox (T, 4) x1 y1 x2 y2, same units."""
    size = np.maximum(bbox[:, 2] - bbox[:, 0], bbox[:, 3] - bbox[:, 1])
    err = np.linalg.norm(pred - gt, axis=-1)
    return float((err <= alpha * size[:, None]).mean())


def mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean per-joint position error (same units as the input), (T, J, D)."""
    return float(np.linalg.norm(pred - gt, axis=-1).mean())


def accel_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean over frames 1..T-2 and joints of |second difference of pred - that of gt|, (T, J, D)."""
    if len(pred) < 3:
        return float("nan")
    acc = lambda x: x[:-2] - 2 * x[1:-1] + x[2:]
    return float(np.linalg.norm(acc(pred) - acc(gt), axis=-1).mean())


def mean_accel(x: np.ndarray) -> float:
    """Mean magnitude of the second difference (smoothness without ground truth), (T, J, D)."""
    if len(x) < 3:
        return float("nan")
    return float(np.linalg.norm(x[:-2] - 2 * x[1:-1] + x[2:], axis=-1).mean())


def procrustes_align(pred: np.ndarray, gt: np.ndarray, scale: bool = True) -> np.ndarray:
    """(T, J, 3) pred aligned to gt frame by frame: the rotation (and, with `scale`, the uniform
    scale) and translation that bring it closest in the least-squares sense (Umeyama / Kabsch,
    reflections excluded)."""
    mp, mg = pred.mean(-2, keepdims=True), gt.mean(-2, keepdims=True)
    p, g = pred - mp, gt - mg
    u, s, vt = np.linalg.svd(np.swapaxes(p, -1, -2) @ g)                 # (T, 3, 3)
    d = np.sign(np.linalg.det(u @ vt))
    u[..., :, -1] *= d[..., None]
    s[..., -1] *= d
    rot = u @ vt                                                          # p @ rot ~ g
    k = s.sum(-1) / np.maximum((p ** 2).sum((-1, -2)), 1e-12) if scale else np.ones(len(p))
    return k[..., None, None] * p @ rot + mg


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """MPJPE after per-frame similarity (Procrustes) alignment, (T, J, 3)."""
    return mpjpe(procrustes_align(pred, gt), gt)
