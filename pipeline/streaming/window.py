"""Streaming refiner: keyframe estimates in, a pose for every frame out, as soon as it is final.

Frames arrive in order; on keyframes (index % K == 0) the estimator's result comes with them.
A window of Q+1 keyframes is refined once its last keyframe is known; a frame is emitted once
the last window covering it is done: at most K*Q frames after it, whatever the stride. (Files
may refine `batch` windows at a time instead, trading that latency for throughput.)
Overlapping windows are averaged with the Hann taper of `pipeline.refiner.windows`. Only the pending frames and the keyframes of unfinished windows
are kept, so memory stays bounded for an endless camera.

Missed detections: a keyframe with no person is filled by linear interpolation from the detected
keyframes on both sides when they are at most `max_gap` frames apart (default one window, K*Q,
and at least 2K); frames in a longer run of misses, or before the first / after the last
detection, get no pose (NaN) rather than an invented one.

Different people: two detections that cannot be the same person in the time between them
(`pipeline.continuity`: one leaves the picture, another enters) are never interpolated or refined
together. Such a pair is treated like a run of misses too long to fill: the detections form
separate segments, the frames between them get no pose, and a window that spans both is refined
once per segment, each part writing only to its own segment's frames.

Joints: the refiner's body joints are refined; the estimator's other joints (face, hands, feet)
are carried by linear interpolation between keyframes, as is the confidence.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..continuity import PersonTrack
from ..estimators import PoseEstimate
from ..interpolate import fill_gaps
from ..refiner.windows import interpolation_matrix, taper, window_starts
from ..refiner.runtime import Refiner
from ..skeleton import MEDIAPIPE33, Skeleton
from .pose import FramePose, RefinerStats, estimate_values


@dataclass
class _Key:
    raw: PoseEstimate | None
    value: tuple[np.ndarray, ...] | None = None     # (image, conf, world) used for windows
    valid: bool = False
    resolved: bool = False
    segment: int | None = None                      # valid keys: which run of one person


@dataclass
class _Window:
    """One window being refined: keyframes (image, conf, world) each (Q+1, J, D), their
    interpolation to all T frames, and which keyframes were detected."""
    start: int                   # first keyframe
    keyframes: list[np.ndarray]
    image: np.ndarray            # (T, J, 2)
    conf: np.ndarray             # (T, J)
    world: np.ndarray            # (T, J, 3)
    pin: np.ndarray              # (Q+1,) bool
    span: tuple[int, int] | None = None   # frames (from the window's start) it may write to; None: all


class StreamingRefiner:
    """Window latency: every frame from the overlapping windows that cover it (module doc)."""

    def __init__(self, image: Refiner, world: Refiner | None = None, skeleton: Skeleton = MEDIAPIPE33,
                 stride: int | None = None, max_gap: int | None = None, pin_keyframes: bool = True,
                 pin_world: bool = False, world_output: bool = True, batch: int = 1):
        """`world`: refiner for world joints (None: world joints are interpolated);
        `pin_keyframes`: detected keyframes keep the estimator's own image joints (and the
        refined frames between them are shifted to meet them); `pin_world`: the same for the
        world joints (off by default: MediaPipe's depth is noisy and the refined keyframes are
        closer to the truth, docs/refiner.md);
        `world_output`: whether frames carry world joints at all (the estimator gives them);
        `batch`: windows refined together. 1 for live display; more for files, where latency
        does not matter and one call on many windows costs a fraction of as many single calls
        (memory then holds `batch` more windows of keyframes and frames)."""
        if world is not None and (world.k, world.q) != (image.k, image.q):
            raise ValueError(f"image weights have K={image.k}, Q={image.q} but world weights "
                             f"K={world.k}, Q={world.q}")
        self.image_refiner, self.world_refiner = image, world
        self.k, self.q = image.k, image.q
        self.stride = stride or image.stride
        if not 1 <= self.stride <= self.q:
            raise ValueError(f"window stride must be between 1 and Q={self.q} keyframes")
        self.max_gap = max_gap if max_gap is not None else self.k * max(self.q, 2)
        self.pin_keyframes, self.pin_world = pin_keyframes, pin_world
        self.batch = max(1, batch)
        self.world_output = world_output
        self.skeleton = skeleton
        self.body = [skeleton.index(n) for n in image.skeleton.joints]
        self._m = interpolation_matrix(self.k, self.q)                      # (T, Q+1)
        self.window = self.k * self.q + 1
        self._taper = taper(self.window)
        self._keys: dict[int, _Key] = {}
        self._times: dict[int, float] = {}
        self._acc: dict[int, list] = {}
        self._n = 0
        self._next_window = 0
        self._next_emit = 0
        self._last_detected: int | None = None
        self._track = PersonTrack(skeleton)      # who the last detection was, where they go
        self._segment = 0
        self._pending: list[int] = []
        self.stats = RefinerStats()

    # -- input --------------------------------------------------------------------------------
    def push(self, index: int, time_s: float, estimate: PoseEstimate | None = None) -> list[FramePose]:
        """Add frame `index` (consecutive from 0); on keyframes pass the estimator's result."""
        if index != self._n:
            raise ValueError(f"expected frame {self._n}, got {index}")
        self._times[index] = time_s
        self._n += 1
        if index % self.k == 0:
            self._add_keyframe(index // self.k, estimate, time_s)
        return self._advance(final=False)

    def finish(self) -> list[FramePose]:
        """End of the stream: resolve what is pending, refine the padded last window, emit all."""
        if self._n == 0:
            return []
        for j in self._pending:
            self._keys[j].resolved = True
        self._pending = []
        return self._advance(final=True)

    @property
    def frames_pending(self) -> int:
        return self._n - self._next_emit

    def _add_keyframe(self, j: int, est: PoseEstimate | None, time_s: float) -> None:
        key = self._keys[j] = _Key(raw=est)
        i = self._last_detected
        if est is None:
            self._pending.append(j)
            if i is None or (j + 1 - i) * self.k > self.max_gap:   # nothing to fill from, or too long
                self._resolve_pending(None)
                self._track.reset()                                # start afresh
            return
        if i is not None and (j - i) * self.k > self.max_gap:
            self._track.reset()
        same = self._track.follows(est.image, time_s)
        if not same:                                  # first detection, or somebody else: start afresh
            self._segment += 1
        key.value, key.valid, key.resolved, key.segment = estimate_values(est), True, True, self._segment
        self._resolve_pending(j if same else None)
        self._last_detected = j

    def _resolve_pending(self, j: int | None) -> None:
        """Settle the pending misses, now that detection j of the same person arrived (None: the
        run is too long, or the detection after it is somebody else)."""
        i = self._last_detected
        fill = j is not None and i is not None and (j - i) * self.k <= self.max_gap
        for m in self._pending:
            key = self._keys[m]
            if fill:
                w = (m - i) / (j - i)
                key.value = tuple((1 - w) * a + w * b for a, b in zip(self._keys[i].value, self._keys[j].value))
                key.valid, key.segment = True, self._keys[j].segment
            key.resolved = True
        self._pending = []

    # -- windows ------------------------------------------------------------------------------
    def _advance(self, final: bool) -> list[FramePose]:
        if final:
            starts = [s for s in window_starts(self._n, self.k, self.q, self.stride) if s >= self._next_window]
        else:
            starts = []
            s = self._next_window
            while all(self._keys.get(j, _Key(None)).resolved for j in range(s, s + self.q + 1)):
                starts.append(s)
                s += self.stride
            if len(starts) < self.batch:
                starts = []                        # wait for a full batch
        if starts:
            self._refine_windows(starts)
            self._next_window = starts[-1] + self.stride
        done = self._n if final else min(self._next_window * self.k, self._n)
        out = [self._emit(f) for f in range(self._next_emit, done)]
        if out:
            self.stats.latency_frames = self._n - 1 - out[0].index
        self._next_emit = done
        for j in [j for j in self._keys if j < self._next_window and j * self.k < done - self.k]:
            del self._keys[j]
        return out

    def _refine_windows(self, starts: list[int]) -> None:
        """Refine the windows starting at keyframes `starts` (one call per refiner) and add them,
        tapered, to the frames they cover. A window holding two segments (people) is refined once
        per segment, the other's keyframes left out as if missed."""
        windows, last = [], max(self._keys)
        for s in starts:
            keys = [self._keys[min(j, last)] for j in range(s, s + self.q + 1)]   # pad with the last keyframe
            segments = sorted({k.segment for k in keys if k.value is not None})
            for g in segments:
                has = np.array([k.value is not None and k.segment == g for k in keys])
                proto = next(k.value for k, h in zip(keys, has) if h)
                kf = [np.stack([k.value[c] if h else proto[c] for k, h in zip(keys, has)]) for c in range(3)]
                kf = [fill_gaps(x, has) for x in kf]
                image, conf, world = (np.einsum("tq,q...->t...", self._m, x) for x in kf)   # eq. 1, all joints
                pin = has & np.array([k.raw is not None for k in keys])
                own = np.flatnonzero(has)
                span = None if len(segments) == 1 else (own[0] * self.k, own[-1] * self.k)
                windows.append(_Window(s, kf, image, conf, world, pin, span))
        if not windows:
            return
        t0 = time.perf_counter()
        self._refine_body(self.image_refiner, windows, "image")
        if self.world_refiner is not None:
            self._refine_body(self.world_refiner, [w for w in windows if np.isfinite(w.keyframes[2]).all()],
                              "world")
        self.stats.seconds += time.perf_counter() - t0
        self.stats.windows += len(windows)
        for win in windows:
            lo, hi = win.span or (0, self.window - 1)
            for t in range(lo, hi + 1):
                f = win.start * self.k + t
                if f >= self._n:
                    break
                w = self._taper[t]
                acc = self._acc.setdefault(f, [0.0, 0.0, 0.0, 0.0])
                acc[0] = acc[0] + w * win.image[t]
                acc[1] = acc[1] + w * win.conf[t]
                acc[2] = acc[2] + w * win.world[t]
                acc[3] += w

    def _refine_body(self, refiner: Refiner, windows: list[_Window], space: str) -> None:
        """Overwrite the body joints of each window's interpolated `space` ("image" or "world")
        poses with the refiner's output, pinned to the detected keyframes if asked."""
        if not windows:
            return
        channel = 0 if space == "image" else 2
        kf = np.stack([w.keyframes[channel][:, self.body] for w in windows])       # (W, Q+1, J, D)
        pinned = self.pin_keyframes if space == "image" else self.pin_world
        pin = np.stack([w.pin for w in windows]) if pinned else None
        for w, refined in zip(windows, refiner.refine_windows(kf, pin)):
            getattr(w, space)[:, self.body] = refined

    # -- output -------------------------------------------------------------------------------
    def _emit(self, f: int) -> FramePose:
        j, off = divmod(f, self.k)
        a = self._keys.get(j)
        b = self._keys.get(j + 1) if off else a
        tail = off and b is None                  # after the last keyframe: held, not detected
        if tail:
            b = a
        same = a is not None and b is not None and a.segment == b.segment      # one person on both sides
        valid = same and a.valid and b.valid
        detected = same and a.raw is not None and b.raw is not None and not tail
        acc = self._acc.pop(f, None)
        time_s = self._times.pop(f)
        n = len(self.skeleton)
        if valid and acc is not None and acc[3] > 0:
            image, conf, world = (acc[c] / acc[3] for c in range(3))
        else:
            image, conf, world = np.full((n, 2), np.nan), np.full(n, np.nan), np.full((n, 3), np.nan)
        if off == 0 and a is not None and a.raw is not None:  # a detected keyframe
            raw_image, raw_conf, raw_world = estimate_values(a.raw)
            if self.pin_keyframes:
                image, conf = raw_image, raw_conf             # exactly the estimator's pose
            if self.pin_world:
                world = raw_world
        self.stats.frames_out += 1
        return FramePose(f, time_s, off == 0, detected, image.astype(np.float32),
                         conf.astype(np.float32),
                         world.astype(np.float32) if self.world_output else None,
                         a.raw if off == 0 and a is not None else None)
