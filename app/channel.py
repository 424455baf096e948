"""What the worker tells the GUI, and the bounded queue it goes through.

Frames (`FrameItem`) are bounded: a file source waits for room (never drops one), a live source
drops the oldest waiting frame. Events (run started / ended, errors, settings applied, the poses of
frames processed but not shown) are few and always go in, in order with the frames around them, so
the GUI sees a run end after its last frame.
The GUI only ever takes items without waiting.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from pipeline.config import PipelineConfig
from pipeline.estimators import PoseEstimate
from pipeline.flops import FlopsReadout
from pipeline.process import RunStats
from pipeline.skeleton import Skeleton
from pipeline.streaming import FramePose

from .track import PoseTrack


@dataclass(frozen=True)
class RunInfo:
    """What is being played and with what: fixed for a run."""
    name: str
    spec: str | int
    live: bool
    fps: float
    size: tuple[int, int]              # width, height in pixels of the frames shown (upright)
    frame_count: int | None
    k: int
    q: int
    stride: int
    flops: FlopsReadout
    max_latency_frames: int
    skeleton: Skeleton
    world: bool
    estimator: str
    weights: str
    rotation: int = 0                  # clockwise degrees that made the stored frames upright
    latency: str = "window"            # the run's latency mode (window | keyframe | zero)


@dataclass(frozen=True)
class Snapshot:
    """The run's counters and rates when a frame's pose was ready."""
    frames: int
    keyframes: int
    detected: int
    dropped: int
    fps: float
    measured_speedup: float
    estimator_ms: float
    latency_frames: int                # frames read after this one before its pose was final
    max_latency_frames: int = 0        # the most so far in this run (a missed keyframe waits)

    @classmethod
    def of(cls, stats: RunStats, latency_frames: int, max_latency_frames: int = 0) -> "Snapshot":
        return cls(stats.frames, stats.keyframes, stats.detected, stats.dropped, stats.fps,
                   stats.measured_speedup, stats.estimator_ms, latency_frames,
                   max(max_latency_frames, latency_frames))


@dataclass(frozen=True)
class FrameItem:
    """A frame to display (downscaled BGR) with its refined pose: they always match.
    `held_raw`: the estimator's detection on the last keyframe at or before this frame (its
    index, and None when it found nobody); `snapshot` is None for a frame browsed after the run."""
    pose: FramePose
    image: np.ndarray | None
    snapshot: Snapshot | None
    held_raw: tuple[int, PoseEstimate | None] | None = None


@dataclass(frozen=True)
class FramesPassed:
    """Frames processed but not shown, in order, each with its pose, snapshot and held detection
    (`image` None): a file processed as fast as possible shows only the frames the screen can
    (see `DisplayPicker`); the plots still get every pose. An event: it never waits for room."""
    items: tuple[FrameItem, ...]


@dataclass(frozen=True)
class RunStarted:
    info: RunInfo


@dataclass(frozen=True)
class RunEnded:
    """A run is over; `track` holds the pose of every frame read. `error`: why it ended early
    (lost camera, truncated file); `stopped`: it was ended early; `replaced`: ended early to play
    something else at once (restarted, new settings, other videos opened), not by Stop."""
    info: RunInfo
    track: PoseTrack
    meta: dict
    snapshot: Snapshot
    error: str | None = None
    stopped: bool = False
    replaced: bool = False


@dataclass(frozen=True)
class Connecting:
    """A camera or stream is being opened (it may take until its timeout; Stop cancels)."""
    spec: str | int
    name: str
    timeout_s: float


@dataclass(frozen=True)
class OpenFailed:
    spec: str | int
    message: str
    cancelled: bool = False            # the user stopped it while it was connecting


@dataclass(frozen=True)
class Notice:
    text: str
    error: bool = False


@dataclass(frozen=True)
class Configured:
    """Settings the worker has loaded and now uses."""
    cfg: PipelineConfig
    description: str
    flops: FlopsReadout | None = None  # what a run with these settings will cost per frame


@dataclass(frozen=True)
class PlaylistChanged:
    names: tuple[str, ...]
    specs: tuple = ()                    # the same sources, as opened


Event = FramesPassed | RunStarted | RunEnded | Connecting | OpenFailed | Notice | Configured | PlaylistChanged
Item = FrameItem | Event


class DisplayQueue:
    """Worker -> GUI: at most `maxsize` frames waiting; events are never dropped or refused.
    Browsed frames (a seek) go beside the queue, only the newest kept: they are shown at once,
    even while the run's frames wait (paused)."""

    def __init__(self, maxsize: int = 64):
        self.maxsize = maxsize
        self.dropped = 0                       # frames dropped because the GUI lagged (live)
        self.gui_load = 0.0                    # share of a core the GUI thread used lately (the
                                               # session measures it; the worker shows fewer frames)
        self._items: deque[Item] = deque()
        self._frames = 0
        self._browsed: FrameItem | None = None
        self._cond = threading.Condition()

    def put_browsed(self, item: FrameItem) -> None:
        with self._cond:
            self._browsed = item

    def take_browsed(self) -> FrameItem | None:
        with self._cond:
            item, self._browsed = self._browsed, None
            return item

    def start_run(self, maxsize: int) -> None:
        """A new run: its frame bound (a refiner burst must fit) and a fresh drop count."""
        with self._cond:
            self.maxsize, self.dropped = maxsize, 0
            self._cond.notify_all()

    def put_frame(self, item: FrameItem, timeout: float) -> bool:
        """Wait up to `timeout` s for room; False if there was none (the caller retries)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._frames < self.maxsize, timeout):
                return False
            self._append(item)
            return True

    def put_latest(self, item: FrameItem) -> None:
        """Never waits: when full, the oldest waiting frames make room (counted in `dropped`)."""
        with self._cond:
            while self._frames >= self.maxsize:
                oldest = next(i for i in self._items if isinstance(i, FrameItem))
                self._items.remove(oldest)
                self._frames -= 1
                self.dropped += 1
            self._append(item)

    def put_event(self, event: Event) -> None:
        with self._cond:
            self._items.append(event)

    def discard_frames(self) -> None:
        """Forget the waiting frames (the run they belong to was stopped); events stay."""
        with self._cond:
            self._items = deque(i for i in self._items if not isinstance(i, FrameItem))
            self._frames = 0
            self._cond.notify_all()

    def peek(self) -> Item | None:
        with self._cond:
            return self._items[0] if self._items else None

    def pop(self) -> Item | None:
        with self._cond:
            if not self._items:
                return None
            item = self._items.popleft()
            if isinstance(item, FrameItem):
                self._frames -= 1
                self._cond.notify_all()
            return item

    def frames_waiting(self) -> int:
        with self._cond:
            return self._frames

    def _append(self, item: FrameItem) -> None:
        self._items.append(item)
        self._frames += 1
