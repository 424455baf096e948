"""Time plots (pyqtgraph): a joint's trajectory, refined against the raw keyframe detections, and
FLOPs per frame. Both redraw at most ten times a second; for live sources they scroll."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from pipeline.skeleton import BODY12_FROM_MP33, MEDIAPIPE33
from pipeline.streaming import FramePose

from .channel import RunInfo
from .views import KEYFRAME, RAW, REFINED

LIVE_WINDOW_S = 10.0         # what a live source's plots show
LIVE_KEEP_S = 120.0          # what they keep


class _Series:
    """Rows appended in time order into growable arrays; `trim` forgets the oldest."""

    def __init__(self, shape: tuple[int, ...]):
        self.n = 0
        self.t = np.empty(256)
        self.v = np.empty((256,) + shape, np.float32)

    def append(self, t: float, value: np.ndarray | float) -> None:
        if self.n == len(self.t):
            self.t = np.resize(self.t, 2 * self.n)
            self.v = np.concatenate([self.v, np.empty_like(self.v)])
        self.t[self.n], self.v[self.n] = t, value
        self.n += 1

    def trim(self, before: float) -> None:
        drop = int(np.searchsorted(self.t[:self.n], before))
        if drop > self.n // 2:                       # amortised: shift when half is stale
            self.t[:self.n - drop] = self.t[drop:self.n]
            self.v[:self.n - drop] = self.v[drop:self.n]
            self.n -= drop

    @property
    def times(self) -> np.ndarray:
        return self.t[:self.n]

    @property
    def values(self) -> np.ndarray:
        return self.v[:self.n]


class _TimePlot(QWidget):
    """A plot over time that redraws on a timer when new data came in."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.info: RunInfo | None = None
        self.plot = pg.PlotWidget(background="#101214")
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setLabel("bottom", "time", units="s")
        self.plot.addLegend(offset=(-8, 8), labelTextSize="8pt", brush=pg.mkBrush(16, 18, 20, 210))
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._flush)
        self._timer.start(100)

    def start(self, info: RunInfo) -> None:
        self.info = info
        self._reset()
        self._dirty = True

    def add(self, pose: FramePose) -> None:
        self._add(pose)
        self._dirty = True

    def _flush(self) -> None:
        if not self._dirty or self.info is None:
            return
        self._dirty = False
        self.redraw()
        last = self._last_time()
        if self.info.live:
            self.plot.setXRange(max(0.0, last - LIVE_WINDOW_S), max(LIVE_WINDOW_S, last), padding=0)
        else:
            duration = (self.info.frame_count or 0) / self.info.fps
            self.plot.setXRange(0, max(duration, last, 1.0), padding=0.01)

    def _reset(self) -> None:
        """Forget the data (a new run)."""
        raise NotImplementedError

    def _add(self, pose: FramePose) -> None:
        raise NotImplementedError

    def _last_time(self) -> float:
        raise NotImplementedError

    def redraw(self) -> None:
        raise NotImplementedError


class TrajectoryPlot(_TimePlot):
    """x and y (pixels) of one joint: the refined pose of every frame, and the estimator's raw
    detections on keyframes as dots."""
    joint_changed = Signal(str)
    JOINTS = [MEDIAPIPE33.joints[i] for i in BODY12_FROM_MP33]

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.combo = QComboBox()
        for name in self.JOINTS:
            self.combo.addItem(name.replace("_", " "), name)
        self.combo.setCurrentIndex(self.JOINTS.index("right_wrist"))
        self.combo.currentIndexChanged.connect(self._joint_changed)
        self.plot.setLabel("left", "position (px)")
        self._x = self.plot.plot(name="refined x", pen=pg.mkPen(REFINED, width=2))
        self._y = self.plot.plot(name="refined y", pen=pg.mkPen("#81c784", width=2))
        self._rx = self.plot.plot(name="raw x (keyframes)", pen=None, symbol="o", symbolSize=7,
                                  symbolBrush=RAW, symbolPen=pg.mkPen("#000000"))
        self._ry = self.plot.plot(name="raw y (keyframes)", pen=None, symbol="t", symbolSize=8,
                                  symbolBrush=KEYFRAME, symbolPen=pg.mkPen("#000000"))
        row = QHBoxLayout()
        row.addWidget(QLabel("joint"))
        row.addWidget(self.combo, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.plot)
        self._reset()

    @property
    def joint(self) -> str:
        return self.combo.currentData()

    def set_joint(self, name: str) -> None:
        if name in self.JOINTS:
            self.combo.setCurrentIndex(self.JOINTS.index(name))

    def _joint_changed(self) -> None:
        self._dirty = True
        self.joint_changed.emit(self.joint)

    def _reset(self) -> None:
        self.refined = _Series((len(MEDIAPIPE33), 2))
        self.raw = _Series((len(MEDIAPIPE33), 2))

    def _add(self, pose: FramePose) -> None:
        self.refined.append(pose.time_s, pose.image)
        if pose.raw is not None:
            self.raw.append(pose.time_s, pose.raw.image)
        if self.info is not None and self.info.live:
            for s in (self.refined, self.raw):
                s.trim(pose.time_s - LIVE_KEEP_S)

    def _last_time(self) -> float:
        return float(self.refined.times[-1]) if self.refined.n else 0.0

    def redraw(self) -> None:
        j = MEDIAPIPE33.index(self.joint)
        for series, (cx, cy) in ((self.refined, (self._x, self._y)), (self.raw, (self._rx, self._ry))):
            v = series.values[:, j]
            cx.setData(series.times, v[:, 0], connect="finite")
            cy.setData(series.times, v[:, 1], connect="finite")


class FlopsPlot(_TimePlot):
    """FLOPs spent on each frame (the estimator on keyframes, the refiner's share on all), their
    running mean, and what the estimator on every frame would cost."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot.setLogMode(y=True)
        self.plot.setLabel("left", "GFLOPs per frame")
        self._spent = self.plot.plot(name="spent on the frame", pen=pg.mkPen(122, 135, 147, 150, width=1))
        self._mean = self.plot.plot(name="effective (running mean)", pen=pg.mkPen(REFINED, width=2.5))
        self._dense = self.plot.plot(name="dense: estimator on every frame",
                                     pen=pg.mkPen(RAW, width=1.5, style=Qt.PenStyle.DashLine))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self._reset()

    def _reset(self) -> None:
        self.frames = _Series((2,))             # FLOPs spent, running mean

    def _add(self, pose: FramePose) -> None:
        f = self.info.flops
        i = pose.index
        spent = f.refiner_per_frame + (f.estimator_per_keyframe if i % f.k == 0 else 0.0)
        mean = f.refiner_per_frame + (i // f.k + 1) * f.estimator_per_keyframe / (i + 1)
        self.frames.append(pose.time_s, (spent, mean))
        if self.info.live:
            self.frames.trim(pose.time_s - LIVE_KEEP_S)

    def _last_time(self) -> float:
        return float(self.frames.times[-1]) if self.frames.n else 0.0

    def redraw(self) -> None:
        t, v = self.frames.times, self.frames.values
        self._spent.setData(t, v[:, 0] / 1e9)
        self._mean.setData(t, v[:, 1] / 1e9)
        dense = self.info.flops.estimator_per_keyframe / 1e9
        self._dense.setData(t[[0, -1]] if len(t) else [], [dense, dense] if len(t) else [])
