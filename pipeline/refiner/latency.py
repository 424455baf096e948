"""Latency modes: which window gives each frame its pose, and from which keyframes.

Keyframes are frames 0, K, 2K, ...; keyframe i is frame K*i. A model card's `latency`
(`ModelConfig.latency`) says which frames of its window the pipeline uses:
  window    every frame; windows overlap and are averaged (`windows.py`): a frame is final
            once the last keyframe of its last window is estimated, up to K*Q frames later;
  keyframe  frames K(i-1)+1 ... K*i from the window whose last keyframe is i (Q keyframes before
            the frame, one after it): final at keyframe i, at most K frames later; stitched to
            the pose already given for keyframe i-1 (`stitch`), so the track has no jump there;
  zero      frames K*i ... K*i + K-1 from the window whose last keyframe is i, predicted from
            keyframes up to i only: every frame's pose exists when the frame arrives.
Windows at the start of a video, with fewer than Q keyframes before them, hold the first keyframe
in place of the missing ones.
"""
from __future__ import annotations

import numpy as np


def latency_frames(latency: str, k: int, q: int) -> int:
    """Frames a pose is shown after its video frame, at worst (misses aside)."""
    return {"window": k * q, "keyframe": k, "zero": 0}[latency]


def causal_window_index(last: np.ndarray, q: int) -> np.ndarray:
    """(W,) index of each window's last keyframe -> (W, Q+1) keyframe indices, start held."""
    return np.maximum(np.asarray(last)[:, None] - q + np.arange(q + 1)[None], 0)


def stitch(shown: np.ndarray, poses: np.ndarray) -> np.ndarray:
    """Keyframe latency, where one window hands over to the next. shown (J, D): the pose already
    given for the frame the block starts at (the previous window's newest keyframe); poses
    (K+1, J, D): the block, whose first pose re-estimates that frame -> (K, J, D) its other frames,
    shifted by the difference, fading linearly to none at its own keyframe: the track stays
    continuous (no jump at every keyframe, which would cost Accel) and each keyframe keeps the
    estimate of the window that ends there."""
    fade = 1.0 - np.arange(1, len(poses)) / (len(poses) - 1)
    offset = np.nan_to_num(shown - poses[0])            # none where either is missing
    return poses[1:] + fade.reshape(-1, *([1] * (poses.ndim - 1))) * offset


def refine_causal(refiner, keyframes: np.ndarray, n_frames: int,
                  pin: np.ndarray | None = None) -> np.ndarray:
    """(N_kf, J, D) keyframes of an n-frame sequence -> (n_frames, J, D) poses, each frame from
    the one window its latency mode assigns it (no averaging: a live display shows that one).
    Frames after the last keyframe's share hold the last pose (a file's end)."""
    cfg = refiner.card.config
    k, q, n_kf = cfg.k, cfg.q, len(keyframes)
    first = 1 if cfg.latency == "keyframe" and n_kf > 1 else 0
    last = np.arange(first, n_kf)
    idx = causal_window_index(last, q)
    windows = refiner.refine_windows(keyframes[idx], None if pin is None else pin[idx])
    emitted = windows[:, cfg.emitted]                     # (W, K+1 | K, J, D)
    out = np.empty((n_frames,) + keyframes.shape[1:], windows.dtype)
    filled = 0
    for i, poses in zip(last, emitted):
        if cfg.latency == "keyframe":                     # frames K(i-1) .. K*i; frame 0 once
            start = 0 if i == first else k * (i - 1) + 1
            poses = poses if i == first else stitch(out[start - 1], poses)
        else:                                             # frames K*i .. K*i + K-1
            start = k * i
        n = min(len(poses), n_frames - start)
        if n <= 0:
            break
        out[start:start + n] = poses[:n]
        filled = start + n
    out[filled:] = out[filled - 1] if filled else keyframes[-1]
    return out
