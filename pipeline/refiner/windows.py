"""Keyframe schedule and refiner windows.

Keyframes are frames 0, K, 2K, ...; a window holds Q+1 consecutive keyframes (K*Q + 1 frames) and
windows start every `stride` keyframes (stride = Q: neighbouring windows share their end keyframe;
stride = 1: every frame is covered by Q or Q+1 windows). Overlapping outputs are averaged with a
Hann taper, so each window fades out towards its ends and the seams between windows stay smooth.
The last window is padded with the last keyframe and its output trimmed, so every frame gets a pose.
"""
from __future__ import annotations

import numpy as np


def keyframe_indices(n_frames: int, k: int) -> np.ndarray:
    """Frame indices of the keyframes of an n-frame video: 0, K, 2K, ... (N_kf,)."""
    return np.arange(0, max(n_frames, 0), k)


def is_keyframe(frame: int, k: int) -> bool:
    return frame % k == 0


def keyframe_slots(n_frames: int, k: int) -> int:
    """Keyframe positions needed to cover n frames: the real keyframes, plus one padded slot
    (holding the last keyframe) when the video does not end on a keyframe."""
    return -(-(max(n_frames, 1) - 1) // k) + 1


def window_starts(n_frames: int, k: int, q: int, stride: int) -> np.ndarray:
    """Keyframe index where each window starts; together the windows cover all n frames."""
    if not 1 <= stride <= q:
        raise ValueError(f"window stride must be between 1 and Q={q} keyframes, got {stride}")
    slots = keyframe_slots(n_frames, k)
    starts = list(range(0, max(slots - 1 - q, 0) + 1, stride))
    if starts[-1] + q < slots - 1:                      # tail not covered yet: one padded window
        starts.append(starts[-1] + stride)
    return np.array(starts)


def gather_windows(keyframes: np.ndarray, starts: np.ndarray, q: int) -> np.ndarray:
    """(N_kf, ...) keyframes -> (W, Q+1, ...) windows, padded with the last keyframe."""
    idx = np.minimum(starts[:, None] + np.arange(q + 1)[None], len(keyframes) - 1)
    return keyframes[idx]


def interpolation_matrix(k: int, q: int, horizon: int = 0) -> np.ndarray:
    """(T, Q+1) float32 matrix M with M @ keyframes = linear interpolation of the keyframes over
    a window of T = K*Q + 1 + horizon frames (frames after the last keyframe continue its velocity)."""
    n = k * q + 1 + horizon
    t = np.arange(n, dtype=np.float32) / np.float32(k)              # position in keyframe units
    left = np.minimum(np.floor(t).astype(np.int64), q - 1)
    frac = t - left
    m = np.zeros((n, q + 1), np.float32)
    rows = np.arange(len(t))
    m[rows, left] = 1 - frac
    m[rows, left + 1] += frac
    return m


def taper(t: int) -> np.ndarray:
    """(T,) Hann weights of a window's frames for averaging overlaps: small at the ends, never 0."""
    return np.sin(np.pi * (np.arange(t) + 0.5) / t) ** 2


def merge_windows(outputs: np.ndarray, starts: np.ndarray, k: int, n_frames: int) -> np.ndarray:
    """(W, T, ...) window outputs -> (n_frames, ...), overlapping frames averaged with `taper`."""
    t = outputs.shape[1]
    w = taper(t)
    acc = np.zeros((n_frames,) + outputs.shape[2:], dtype=np.float64)
    count = np.zeros(n_frames)
    for s, out in zip(starts * k, outputs):
        n = min(t, n_frames - s)
        if n <= 0:
            continue
        acc[s:s + n] += out[:n] * w[:n].reshape((-1,) + (1,) * (out.ndim - 1))
        count[s:s + n] += w[:n]
    if (count == 0).any():
        raise ValueError("windows do not cover every frame")
    return (acc / count.reshape((-1,) + (1,) * (acc.ndim - 1))).astype(outputs.dtype)
