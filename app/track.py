"""Every refined pose of one run, kept compactly (under a kilobyte a frame) for export afterwards."""
from __future__ import annotations

from typing import Iterator

import numpy as np

from pipeline.streaming import FramePose


class PoseTrack:
    """Append-only arrays of the refined poses of frames 0, 1, 2, ... of one run.

    Raw keyframe detections are not kept: the CSV holds the refined poses only."""

    def __init__(self, joints: int, world: bool):
        self.joints, self.has_world = joints, world
        self._n = 0
        self._time = np.empty(0, np.float64)
        self._flags = np.empty((0, 2), bool)                      # keyframe, detected
        self._image = np.empty((0, joints, 2), np.float32)
        self._conf = np.empty((0, joints), np.float32)
        self._world = np.empty((0, joints, 3), np.float32)

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
                         self._image[i], self._conf[i], self._world[i] if self.has_world else None)

    def __iter__(self) -> Iterator[FramePose]:
        return (self.pose(i) for i in range(self._n))

    def with_pose(self) -> int:
        """How many frames have a pose."""
        return int(np.isfinite(self._image[:self._n]).all(axis=(1, 2)).sum())
