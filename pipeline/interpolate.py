"""Interpolation of keyframe poses (scipy): baselines, joints the refiner does not cover, and gaps."""
from __future__ import annotations

import numpy as np
from scipy.interpolate import interp1d

KINDS = ("nearest", "linear", "quadratic", "cubic")
_MIN_POINTS = {"nearest": 1, "linear": 2, "quadratic": 3, "cubic": 4}


def interpolate_keyframes(kf_frames: np.ndarray, kf_values: np.ndarray, frames: np.ndarray,
                          kind: str = "linear") -> np.ndarray:
    """Values (N, ...) at keyframes `kf_frames` (N,) -> values (M, ...) at `frames` (M,).

    Frames outside the keyframes hold the nearest keyframe (the tail is padded, never
    extrapolated). With too few keyframes for `kind`, the highest order they allow is used.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown interpolation {kind!r}; choose from {KINDS}")
    kf_frames = np.asarray(kf_frames, dtype=np.float64)
    if len(kf_frames) == 0:
        raise ValueError("no keyframes to interpolate")
    if len(kf_frames) == 1:
        return np.repeat(kf_values[:1], len(frames), axis=0)
    while _MIN_POINTS[kind] > len(kf_frames):
        kind = KINDS[KINDS.index(kind) - 1]
    f = interp1d(kf_frames, kf_values, kind=kind, axis=0, assume_sorted=True)
    clipped = np.clip(frames, kf_frames[0], kf_frames[-1])
    return f(clipped).astype(kf_values.dtype)


def fill_gaps(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(N, ...) values with a (N,) validity mask -> invalid entries filled from their valid
    neighbours (linear between them, held at the ends). With no valid entry nothing changes."""
    valid = np.asarray(valid, dtype=bool)
    if valid.all() or not valid.any():
        return values.copy()
    idx = np.flatnonzero(valid)
    out = values.copy()
    out[~valid] = interpolate_keyframes(idx, values[idx], np.flatnonzero(~valid), "linear")
    return out
