"""Per-window normalisation: centre on the hips, scale by torso length, both from keyframes only.

The statistics come from the Q+1 keyframes of a window (all the refiner sees), so a window in
pixels of a 4K video and one in metres of a world pose look alike to the model. Undo on output.
"""
from __future__ import annotations

import numpy as np

from ..skeleton import Skeleton, root_of, torso_length

MIN_SCALE_FRACTION = 0.25   # torso may not be shorter than this share of the joints' spread


def window_stats(keyframes: np.ndarray, skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """(..., Q+1, J, D) keyframes -> centre (..., 1, 1, D) and scale (..., 1, 1, 1).

    centre: mean hip mid-point over the keyframes. scale: mean torso length over the keyframes,
    floored by a share of the RMS spread of the joints (a torso seen end-on is short).
    """
    centre = root_of(keyframes, skeleton).mean(axis=-2)[..., None, None, :]
    torso = torso_length(keyframes, skeleton).mean(axis=-1)
    spread = np.sqrt(((keyframes - centre) ** 2).sum(-1).mean(axis=(-1, -2)))
    scale = np.maximum(torso, MIN_SCALE_FRACTION * spread)
    scale = np.maximum(scale, 1e-6)[..., None, None, None]
    return centre.astype(keyframes.dtype), scale.astype(keyframes.dtype)


def normalise(x: np.ndarray, centre: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return (x - centre) / scale


def denormalise(x: np.ndarray, centre: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return x * scale + centre
