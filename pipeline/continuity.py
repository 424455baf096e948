"""Whether a detection can be the same person as the one before it, in the time between them.

The estimator finds one person per frame but says nothing of who it is: when one person leaves
and another enters between two keyframes, the two detections must be neither interpolated nor
refined together (the pose would slide across the picture on nobody). A detection continues the
track when its torso centre (the mid-point of shoulders and hips) lies inside a gate around where
the track would be after `dt` seconds:

    |c - (c_last + v·dt)| <= torso · (SLACK + SPEED_CHANGE·dt)   when the track's velocity v is known
    |c - c_last|          <= torso · (SLACK + MAX_SPEED·dt)      otherwise (a track of one detection)

`torso` is the larger torso length (shoulder to hip mid-points) of the two detections, so the
gate scales with the person's size in the picture. Calibration, image motion in torso lengths per
second: the fastest runs in the motion capture move 9.6, walking about 4; seen through random
virtual cameras with detector noise and 20 % of keyframes missed (52 clips, 3 views, K = 5, 10
and 20: about 8,000 keyframe pairs), the gate splits 9 pairs, all in one clip of jumps; on the
shared videos of one person it splits none. On the bundled
demo (K = 10) the woman is last found at frame 180 walking left, the man at frame 200 on the right:
7.8 torso lengths from where her walk would have taken her, where the gate is 4.5. With no
velocity known (a track of one detection) the gate is wide: 7.2 torso lengths at 0.67 s.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .skeleton import Skeleton

MAX_SPEED = 10.0       # torso lengths per second: faster than the fastest run in the motion capture
SPEED_CHANGE = 6.0     # torso lengths per second the velocity may change by over the time between
SLACK = 0.5            # torso lengths: detector jitter and outliers
MAX_VELOCITY_DT = 1.0  # s: detections further apart than this give no velocity


def torso_centre_and_length(image: np.ndarray, skeleton: Skeleton) -> tuple[np.ndarray, float]:
    """(J, 2) image joints -> torso centre (2,) and torso length (shoulder to hip mid-points)."""
    sh = image[[skeleton.index("left_shoulder"), skeleton.index("right_shoulder")]].mean(0)
    hip = image[[skeleton.index("left_hip"), skeleton.index("right_hip")]].mean(0)
    return (sh + hip) / 2, float(np.linalg.norm(sh - hip))


@dataclass
class PersonTrack:
    """The last detection of the person being followed (centre, torso length, time) and its
    velocity (pixels per second, when the last two detections were of the same track)."""
    skeleton: Skeleton
    max_speed: float = MAX_SPEED
    speed_change: float = SPEED_CHANGE
    slack: float = SLACK
    _last: tuple[np.ndarray, float, float] | None = field(default=None, repr=False)
    _velocity: np.ndarray | None = field(default=None, repr=False)

    def reset(self) -> None:
        """Forget the track (after a run of misses too long to bridge)."""
        self._last, self._velocity = None, None

    def gate(self, image: np.ndarray, time_s: float) -> tuple[float, float] | None:
        """How far (torso lengths) a detection (J, 2) at `time_s` is from where the track would
        be, and the gate's radius; None when there is no track."""
        if self._last is None:
            return None
        centre, torso = torso_centre_and_length(image, self.skeleton)
        last, last_torso, t = self._last
        dt = max(time_s - t, 0.0)
        scale = max(torso, last_torso, 1e-6)
        if self._velocity is not None:
            miss = np.linalg.norm(centre - (last + self._velocity * dt))
            return float(miss / scale), self.slack + self.speed_change * dt
        return float(np.linalg.norm(centre - last) / scale), self.slack + self.max_speed * dt

    def continues(self, image: np.ndarray, time_s: float) -> bool:
        """Whether a detection (J, 2) at `time_s` would continue the track (nothing changes)."""
        g = self.gate(image, time_s)
        return g is not None and g[0] <= g[1] and bool(np.isfinite(image).all())

    def follows(self, image: np.ndarray, time_s: float) -> bool:
        """Whether a detection (J, 2) at `time_s` continues the track; it becomes the track's last
        detection either way (the first of a new track when it does not continue this one)."""
        same = self.continues(image, time_s)
        centre, torso = torso_centre_and_length(image, self.skeleton)
        if same and time_s - self._last[2] <= MAX_VELOCITY_DT and time_s > self._last[2]:
            self._velocity = (centre - self._last[0]) / (time_s - self._last[2])
        else:
            self._velocity = None
        self._last = (centre, torso, time_s)
        return same
