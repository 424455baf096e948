"""Every pose of one run, kept compactly (under a kilobyte a frame) for export and browsing."""
from __future__ import annotations

from bisect import bisect_right
from typing import Iterator

import numpy as np

from pipeline.estimators import PoseEstimate
from pipeline.streaming import FramePose


class PoseTrack:
    """Append-only arrays of the refined poses of frames 0, 1, 2, ... of one run, and the
    estimator's raw detections on its keyframes (image joints and confidence: what the overlay
    draws when the run is browsed; the CSV holds the refined poses only)."""

    def __init__(self, joints: int, world: bool):
        self.joints, self.has_world = joints, world
        self._n = 0
        self._time = np.empty(0, np.float64)
        self._flags = np.empty((0, 2), bool)                      # keyframe, detected
        self._image = np.empty((0, joints, 2), np.float32)
        self._conf = np.empty((0, joints), np.float32)
        self._world = np.empty((0, joints, 3), np.float32)
        self._keyframes: list[int] = []                          # frame indices, ascending
        self._raw: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # keyframe -> (image, conf)

    def __len__(self) -> int:
        return self._n

    def append(self, pose: FramePose) -> None:
        if pose.index != self._n:
            raise ValueError(f"expected the pose of frame {self._n}, got frame {pose.index}")
        if self._n == len(self._time):
            self._grow(max(256, 2 * self._n))
        i = self._n
        self._time[i] = pose.time_s
        self._flags[i] = pose.keyframe, pose.detected
        self._image[i] = pose.image
        self._conf[i] = pose.conf
        if self.has_world:
            self._world[i] = pose.world if pose.world is not None else np.nan
        if pose.keyframe:
            self._keyframes.append(i)
            if pose.raw is not None:
                self._raw[i] = (pose.raw.image.astype(np.float32), pose.raw.conf.astype(np.float32))
        self._n += 1

    def _grow(self, capacity: int) -> None:
        def grown(a: np.ndarray) -> np.ndarray:
            out = np.empty((capacity,) + a.shape[1:], a.dtype)
            out[:self._n] = a[:self._n]
            return out
        self._time, self._flags, self._image, self._conf = map(
            grown, (self._time, self._flags, self._image, self._conf))
        if self.has_world:
            self._world = grown(self._world)

    def pose(self, i: int) -> FramePose:
        if not 0 <= i < self._n:
            raise IndexError(i)
        return FramePose(i, float(self._time[i]), bool(self._flags[i, 0]), bool(self._flags[i, 1]),
                         self._image[i], self._conf[i], self._world[i] if self.has_world else None,
                         self._raw_estimate(i))

    def held_raw(self, i: int) -> tuple[int, PoseEstimate | None] | None:
        """The last keyframe at or before frame i and its raw detection (None: nobody found)."""
        k = bisect_right(self._keyframes, i)
        if k == 0:
            return None
        key = self._keyframes[k - 1]
        return key, self._raw_estimate(key)

    def _raw_estimate(self, i: int) -> PoseEstimate | None:
        raw = self._raw.get(i)
        return PoseEstimate(*raw) if raw is not None else None

    def __iter__(self) -> Iterator[FramePose]:
        return (self.pose(i) for i in range(self._n))

    def with_pose(self) -> int:
        """How many frames have a pose."""
        return int(np.isfinite(self._image[:self._n]).all(axis=(1, 2)).sum())
