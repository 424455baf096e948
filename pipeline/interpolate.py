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


EXTRAPOLATIONS = ("hold last keyframe", "constant velocity")


def extrapolate_keyframes(kf_frames: np.ndarray, kf_values: np.ndarray, frames: np.ndarray,
                          kind: str = "constant velocity") -> np.ndarray:
    """Causal estimates: values (N, ...) at keyframes `kf_frames` (N,) -> values (M, ...) at
    `frames` (M,), each from the keyframes at or before it only (what a zero-latency display
    can know). `hold last keyframe` repeats the latest keyframe; `constant velocity` continues
    the motion between the latest two. Frames before the first keyframe hold it."""
    if kind not in EXTRAPOLATIONS:
        raise ValueError(f"unknown extrapolation {kind!r}; choose from {EXTRAPOLATIONS}")
    kf_frames = np.asarray(kf_frames, dtype=np.float64)
    i = np.clip(np.searchsorted(kf_frames, frames, side="right") - 1, 0, len(kf_frames) - 1)
    out = kf_values[i].astype(np.float64)
    if kind == "constant velocity" and len(kf_frames) > 1:
        prev = np.maximum(i - 1, 0)
        span = np.maximum(kf_frames[i] - kf_frames[prev], 1)
        step = np.where(i > 0, np.clip(np.asarray(frames) - kf_frames[i], 0, None) / span, 0.0)
        out += (kf_values[i] - kf_values[prev]) * step.reshape((-1,) + (1,) * (kf_values.ndim - 1))
    return out.astype(kf_values.dtype)


def fill_causal(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(N, ...) values with a (N,) validity mask -> invalid entries hold the latest valid one
    before them (the first valid one at the start): what a live source can know."""
    valid = np.asarray(valid, dtype=bool)
    if valid.all() or not valid.any():
        return values.copy()
    idx = np.where(valid, np.arange(len(valid)), -1)
    idx = np.maximum.accumulate(idx)
    idx[idx < 0] = np.flatnonzero(valid)[0]
    return values[idx]
