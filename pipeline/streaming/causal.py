"""Streaming at keyframe or zero latency: each frame's pose from the one window that the refiner's
latency mode assigns it (`pipeline.refiner.latency`), emitted as soon as that window exists.

  keyframe  frames K(i-1)+1 ... K*i are emitted when keyframe i is estimated (at most K frames
            late), from the window of keyframes i-Q ... i (frame 0 with keyframe 1's), stitched
            to the pose given for keyframe i-1 on the same track (`refiner.latency.stitch`);
  zero      frame n is emitted with its own push, from the window of keyframes i-Q ... i where
            i = n // K: keyframes at or before n only, the frames after keyframe i predicted.
At the start of a person's track the window holds its first keyframe in place of the missing
ones, as `refine_causal` does for a file, so a stream and a file give the same poses.

Missed detections are held (the latest detection of the same person stands in for the missed
keyframe, at most `max_gap` frames) since the next one is not known yet; such frames are marked
filled (`detected` False). A detection that cannot be the same person (`pipeline.continuity`)
starts a new track: nothing of the previous person enters its windows, and in keyframe mode the
frames between the two people get no pose. Non-body joints and the confidence follow the window's
linear interpolation (at zero latency: the last keyframe held, as the interpolating fallback does).
"""
from __future__ import annotations

import time
from collections import deque

import numpy as np

from ..continuity import PersonTrack
from ..estimators import PoseEstimate
from ..refiner.latency import stitch
from ..refiner.runtime import Refiner
from ..skeleton import MEDIAPIPE33, Skeleton
from .pose import FramePose, RefinerStats, estimate_values


class CausalStreamingRefiner:
    def __init__(self, image: Refiner, world: Refiner | None = None, skeleton: Skeleton = MEDIAPIPE33,
                 max_gap: int | None = None, pin_keyframes: bool = True, pin_world: bool = False,
                 world_output: bool = True, fill_ahead: bool = False):
        """As `StreamingRefiner` (window latency), for refiners of the keyframe or zero mode.
        `fill_ahead` (keyframe mode, files): a missed keyframe waits for the next detection and
        is filled between the two, as the window mode does, instead of holding the last one."""
        cfg = image.card.config
        if cfg.latency not in ("keyframe", "zero"):
            raise ValueError(f"{image.card.name} is a {cfg.latency}-latency refiner: use StreamingRefiner")
        if world is not None and (world.k, world.q, world.card.config.latency) != (cfg.k, cfg.q, cfg.latency):
            raise ValueError(f"image weights have K={cfg.k}, Q={cfg.q}, {cfg.latency} latency but world "
                             f"weights K={world.k}, Q={world.q}, {world.card.config.latency} latency")
        self.image_refiner, self.world_refiner = image, world
        self.latency, self.k, self.q = cfg.latency, cfg.k, cfg.q
        self.stride = 1
        self.max_gap = max_gap if max_gap is not None else self.k * max(self.q, 2)
        self.pin_keyframes, self.pin_world, self.world_output = pin_keyframes, pin_world, world_output
        self.fill_ahead = fill_ahead and self.latency == "keyframe"
        self._deferred: list[tuple[int, float]] = []     # fill_ahead: missed keyframes waiting
        self.skeleton = skeleton
        self.body = [skeleton.index(n) for n in image.skeleton.joints]
        self._m = image.interp[cfg.emitted]              # (E, Q+1): eq. 1, the last keyframe held
        self._emitted = cfg.emitted
        self._history: deque[tuple[tuple[np.ndarray, ...], bool]] = deque(maxlen=self.q + 1)
        self._last_detected: int | None = None     # keyframe index
        self._track = PersonTrack(skeleton)
        self._block: tuple[int, list[tuple[np.ndarray, ...]], list[bool]] | None = None
        self._waiting: list[tuple[int, float]] = []     # keyframe mode: frames until the next keyframe
        self._new_track = False                          # keyframe mode: the last keyframe began one
        self._raw: dict[int, PoseEstimate | None] = {}
        self._n = 0
        self.stats = RefinerStats()

    # -- input --------------------------------------------------------------------------------
    def push(self, index: int, time_s: float, estimate: PoseEstimate | None = None) -> list[FramePose]:
        """Add frame `index` (consecutive from 0); on keyframes pass the estimator's result."""
        if index != self._n:
            raise ValueError(f"expected frame {self._n}, got {index}")
        self._n += 1
        if self.latency == "zero":
            if index % self.k == 0:
                self._add_keyframe(index // self.k, estimate, time_s)
            out = [self._emit(index, time_s)]
        else:
            self._waiting.append((index, time_s))
            out = self._keyframe(index // self.k, estimate, time_s) if index % self.k == 0 else []
        if out:
            self.stats.latency_frames = self._n - 1 - out[0].index
        return out

    def finish(self) -> list[FramePose]:
        """End of the stream: misses waiting for a detection that never came get no pose (a
        file), and the frames after the last keyframe (keyframe mode) hold its pose, marked not
        detected (no keyframe after them)."""
        out = self._settle()
        out += [self._emit(f, t, tail=True) for f, t in self._waiting]
        self._waiting = []
        return out

    @property
    def frames_pending(self) -> int:
        return len(self._waiting)

    # -- keyframes and windows ----------------------------------------------------------------
    def _keyframe(self, j: int, est: PoseEstimate | None, time_s: float) -> list[FramePose]:
        """Keyframe mode: add keyframe j -> the frames up to it that are now final."""
        if self.fill_ahead and est is None and self._can_defer(j):
            self._deferred.append((j, time_s))
            return []
        out = self._fill(j, est, time_s) if est is not None and self._fills(j, est, time_s) else self._settle()
        self._add_keyframe(j, est, time_s)
        return out + self._release(j)

    def _can_defer(self, j: int) -> bool:
        """Missed keyframe j may still be filled: a detection within `max_gap` of the last one
        can follow it."""
        return bool(self._history) and self._bridges(j + 1)

    def _bridges(self, j: int) -> bool:
        """A detection at keyframe j would be within `max_gap` of the last one."""
        return self._last_detected is not None and (j - self._last_detected) * self.k <= self.max_gap

    def _fills(self, j: int, est: PoseEstimate, time_s: float) -> bool:
        """There are missed keyframes waiting and the detection at keyframe j continues the
        track within `max_gap`: they are filled between it and the last detection."""
        return bool(self._deferred) and self._bridges(j) and self._track.continues(est.image, time_s)

    def _fill(self, j: int, est: PoseEstimate, time_s: float) -> list[FramePose]:
        """The waiting misses, linearly between the last detection and this one (marked filled),
        each refined and released as it would have been had it been detected."""
        i, before, after = self._last_detected, self._history[-1][0], estimate_values(est)
        out = []
        for jd, _ in self._deferred:
            w = (jd - i) / (j - i)
            self._history.append((tuple(a + w * (b - a) for a, b in zip(before, after)), False))
            self._raw, self._new_track = {jd: None}, False
            self._block = (jd, *self._refine(jd))
            out += self._release(jd)
        self._deferred = []
        return out

    def _settle(self) -> list[FramePose]:
        """The waiting misses that nothing will fill (the person left, or the gap is too long):
        no pose, as in the window mode, rather than one held after the person's last detection."""
        out, deferred, self._deferred = [], self._deferred, []
        for jd, td in deferred:
            self._history.clear()
            self._track.reset()
            self._add_keyframe(jd, None, td)
            out += self._release(jd)
        return out

    def _add_keyframe(self, j: int, est: PoseEstimate | None, time_s: float) -> None:
        self._raw = {j - 1: self._raw.get(j - 1), j: est}   # keyframe mode emits frame 0 with keyframe 1
        gap_ok = self._bridges(j)
        self._new_track = False
        if est is None:
            if not (gap_ok and self._history):
                self._history.clear()                       # nothing to hold: no pose until a detection
                self._track.reset()
            else:
                self._history.append((self._history[-1][0], False))
        else:
            if not gap_ok:
                self._track.reset()
            if not self._track.follows(est.image, time_s):    # first detection, or somebody else
                self._history.clear()
                self._new_track = True
            self._history.append((estimate_values(est), True))
            self._last_detected = j
        self._block = (j, *self._refine(j)) if self._history else None

    def _refine(self, j: int) -> tuple[list[np.ndarray], list[bool]]:
        """The window ending at the newest keyframe -> its emitted frames (image, conf, world),
        each (E, J, D), and whether each rests on detections only."""
        held = [self._history[0]] * (self.q + 1 - len(self._history)) + list(self._history)
        values = [v for v, _ in held]                                       # a track's start held
        detected = [d for _, d in held]
        kf = [np.stack([v[c] for v in values]) for c in range(3)]        # (Q+1, J, D)
        out = [np.einsum("eq,q...->e...", self._m, x) for x in kf]         # all joints interpolated
        t0 = time.perf_counter()
        pin = np.array(detected)                  # detected keyframes keep their input, if asked
        for refiner, c, pinned in ((self.image_refiner, 0, self.pin_keyframes),
                                   (self.world_refiner, 2, self.pin_world)):
            if refiner is None or not np.isfinite(kf[c]).all():
                continue
            window = refiner.refine_windows(kf[c][None][:, :, self.body], pin[None] if pinned else None)[0]
            out[c][:, self.body] = window[self._emitted]
            if self.latency == "keyframe" and self._continues(j):      # as refine_causal does
                out[c][1:, self.body] = stitch(self._block[1][c][-1, self.body], out[c][:, self.body])
            self.stats.windows += 1
        self.stats.seconds += time.perf_counter() - t0
        if self.latency == "keyframe":                   # frames between the last two keyframes
            return out, detected[-2:]
        return out, [detected[-1]]

    def _continues(self, j: int) -> bool:
        """Keyframe j's block follows the previous one on the same person's track, whose last
        frame is already given (block 0's is not: frame 0 comes with block 1)."""
        return self._block is not None and self._block[0] == j - 1 >= 1 and not self._new_track

    # -- output -------------------------------------------------------------------------------
    def _release(self, j: int) -> list[FramePose]:
        """Keyframe mode, keyframe j's block just made: emit the waiting frames up to it (frame 0
        waits for keyframe 1's)."""
        ready = [w for w in self._waiting if w[0] <= self.k * j] if j > 0 else []
        self._waiting = self._waiting[len(ready):]
        return [self._emit(f, t) for f, t in ready]

    def _emit(self, f: int, time_s: float, tail: bool = False) -> FramePose:
        n = len(self.skeleton)
        image, conf, world = np.full((n, 2), np.nan), np.full(n, np.nan), np.full((n, 3), np.nan)
        detected, j = False, f // self.k
        raw = self._raw.get(j) if f % self.k == 0 else None
        if self._block is not None:
            start, poses, flags = self._block
            if self.latency == "zero":
                e = f - self.k * start
            elif tail:
                e = len(poses[0]) - 1                     # after the last keyframe: held
            else:
                e = f - self.k * (start - 1)              # frames K(i-1) .. K*i of the block
            across = self.latency == "keyframe" and self._new_track and 0 < e < len(poses[0]) - 1
            if 0 <= e < len(poses[0]) and not across:
                image, conf, world = (p[e] for p in poses)
                detected = not tail and (all(flags) if self.latency == "keyframe" else flags[-1])
        if f % self.k == 0:                               # a keyframe row: its own detection
            detected = raw is not None
        if raw is not None:                               # a detected keyframe
            raw_image, raw_conf, raw_world = estimate_values(raw)
            if self.pin_keyframes:
                image, conf = raw_image, raw_conf
            if self.pin_world:
                world = raw_world
        self.stats.frames_out += 1
        return FramePose(f, time_s, f % self.k == 0, detected, np.asarray(image, np.float32),
                         np.asarray(conf, np.float32),
                         np.asarray(world, np.float32) if self.world_output else None, raw)

