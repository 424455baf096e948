"""Time plots (pyqtgraph): a joint's trajectory, refined against the raw keyframe detections, and
FLOPs per frame. Both redraw at most ten times a second (twice while a file is processed as fast
as possible: their painting holds Python's lock, which the run needs); for live sources they
scroll. Legends sit above the data (never over the newest), and a cursor marks the frame being
browsed."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QGraphicsItem, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from pipeline.skeleton import BODY12, MEDIAPIPE33
from pipeline.streaming import FramePose

from .channel import RunInfo
from .views import FILLED, KEYFRAME, RAW, REFINED

REFRESH_MS, FAST_REFRESH_MS = 100, 500
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
        for axis in ("left", "bottom"):     # grid lines at the labelled ticks only (the minor
            ax = self.plot.getAxis(axis)    # levels' cost 3x the plot's paint), and kept as a
            ax.setStyle(maxTickLevel=0)     # picture while the range stays (a third of the rest)
            ax.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.plot.setLabel("bottom", "time", units="s")
        item = self.plot.getPlotItem()
        self.legend = pg.LegendItem(colCount=5, labelTextSize="8pt", verSpacing=-6, horSpacing=16)
        item.layout.removeItem(item.titleLabel)         # no title: its row holds the legend,
        item.titleLabel.hide()
        item.layout.addItem(self.legend, 0, 1)          # above the data
        item.layout.setRowFixedHeight(0, 22)
        self.cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#e8eaed", width=1,
                                                                         style=Qt.PenStyle.DotLine))
        self.cursor.setZValue(10)
        self.cursor.hide()
        self.plot.addItem(self.cursor, ignoreBounds=True)
        self._dirty = False
        self._fast = False                  # files processed as fast as possible
        self._x_range: tuple[float, float, float] | None = None    # (start, end, padding) set last
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._flush)
        self._timer.start(REFRESH_MS)

    def curve(self, name: str | None, **kwargs) -> pg.PlotDataItem:
        """A curve of this plot, listed in its legend when named."""
        item = self.plot.plot(**kwargs)
        if name:
            self.legend.addItem(item, name)
        return item

    def set_fast(self, fast: bool) -> None:
        """Files are processed as fast as possible (real-time pacing off): redraw less often."""
        self._fast = fast
        self._retime()

    def _retime(self) -> None:
        live = self.info is not None and self.info.live
        self._timer.setInterval(FAST_REFRESH_MS if self._fast and not live else REFRESH_MS)

    def start(self, info: RunInfo) -> None:
        self.info = info
        self._retime()
        self.cursor.hide()
        self._x_range = None
        self._reset()
        self._dirty = True

    def add(self, pose: FramePose) -> None:
        self._add(pose)
        self.cursor.hide()
        self._dirty = True

    def set_cursor(self, time_s: float) -> None:
        """Mark the frame being browsed."""
        self.cursor.setPos(time_s)
        self.cursor.show()

    def _flush(self) -> None:
        if not self._dirty or self.info is None:
            return
        self._dirty = False
        self.redraw()
        last = self._last_time()
        if self.info.live:
            x_range = (max(0.0, last - LIVE_WINDOW_S), max(LIVE_WINDOW_S, last), 0.0)
        else:
            duration = (self.info.frame_count or 0) / self.info.fps
            x_range = (0.0, max(duration, last, 1.0), 0.01)
        if x_range != self._x_range:       # a file's stays put: setting it again relays the axes out
            self._x_range = x_range
            self.plot.setXRange(*x_range[:2], padding=x_range[2])

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
    """x and y (pixels) of one joint: the refined pose of every frame (dashed where it is filled
    across missed keyframes), and the estimator's raw detections on keyframes as dots."""
    joint_changed = Signal(str)
    JOINTS = list(BODY12.joints)        # by name: in every estimator's skeleton

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.combo = QComboBox()
        for name in self.JOINTS:
            self.combo.addItem(name.replace("_", " "), name)
        self.combo.setCurrentIndex(self.JOINTS.index("right_wrist"))
        self.combo.currentIndexChanged.connect(self._joint_changed)
        self.plot.setLabel("left", "position (px)")
        dash = Qt.PenStyle.DashLine
        self._x = self.curve("refined x", pen=pg.mkPen(REFINED, width=2))
        self._y = self.curve("refined y", pen=pg.mkPen("#81c784", width=2))
        self._fx = self.curve("filled (no detection)", pen=pg.mkPen(FILLED, width=2, style=dash))
        self._fy = self.curve(None, pen=pg.mkPen(FILLED, width=2, style=dash))
        self._rx = self.curve("raw x", pen=None, symbol="o", symbolSize=7,
                              symbolBrush=RAW, symbolPen=pg.mkPen("#000000"))
        self._ry = self.curve("raw y", pen=None, symbol="t", symbolSize=8,
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

    @property
    def skeleton(self):
        return self.info.skeleton if self.info is not None else MEDIAPIPE33

    def _reset(self) -> None:
        self.refined = _Series((len(self.skeleton), 2))
        self.filled = _Series(())                   # 1 where the refined pose is filled
        self.raw = _Series((len(self.skeleton), 2))

    def _add(self, pose: FramePose) -> None:
        self.refined.append(pose.time_s, pose.image)
        self.filled.append(pose.time_s, float(pose.filled))
        if pose.raw is not None:
            self.raw.append(pose.time_s, pose.raw.image)
        if self.info is not None and self.info.live:
            for s in (self.refined, self.filled, self.raw):
                s.trim(pose.time_s - LIVE_KEEP_S)

    def _last_time(self) -> float:
        return float(self.refined.times[-1]) if self.refined.n else 0.0

    def redraw(self) -> None:
        j = self.skeleton.index(self.joint)
        t, v = self.refined.times, self.refined.values[:, j]
        filled = self.filled.values > 0
        near = filled.copy()                        # the dashed part meets the solid on both sides
        near[1:] |= filled[:-1]
        near[:-1] |= filled[1:]
        for cx, cy, keep in ((self._x, self._y, ~filled), (self._fx, self._fy, near)):
            if not keep.any():
                cx.setData([], [])
                cy.setData([], [])
            elif keep.all() and np.isfinite(v).all():      # the common case, drawn without gaps
                cx.setData(t, v[:, 0], connect="all", skipFiniteCheck=True)
                cy.setData(t, v[:, 1], connect="all", skipFiniteCheck=True)
            else:
                cx.setData(t, np.where(keep, v[:, 0], np.nan), connect="finite")
                cy.setData(t, np.where(keep, v[:, 1], np.nan), connect="finite")
        r = self.raw.values[:, j]
        self._rx.setData(self.raw.times, r[:, 0])
        self._ry.setData(self.raw.times, r[:, 1])


class FlopsPlot(_TimePlot):
    """FLOPs spent on each frame (the estimator on keyframes, the refiner's share on all), their
    running mean, and what the estimator on every frame would cost."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot.setLogMode(y=True)
        self.plot.setLabel("left", "GFLOPs per frame")
        self.plot.enableAutoRange(y=False)
        self.plot.setYRange(-3.2, 1.2, padding=0)          # 0.001 to 10 GFLOPs (log10), also empty
        self._spent = self.curve("spent on the frame", pen=pg.mkPen(122, 135, 147, 150, width=1))
        self._mean = self.curve("effective (running mean)", pen=pg.mkPen(REFINED, width=2.5))
        self._dense = self.curve("dense: estimator every frame",
                                 pen=pg.mkPen(RAW, width=1.5, style=Qt.PenStyle.DashLine))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self._reset()

    def _reset(self) -> None:
        self.frames = _Series((2,))             # FLOPs spent, running mean
        if self.info is not None:               # from the refiner's share to the estimator's
            f = self.info.flops
            low, high = np.log10([max(f.refiner_per_frame, 1e3) / 1e9, f.estimator_per_keyframe / 1e9])
            self.plot.setYRange(np.floor(low) - 0.2, np.ceil(high) + 0.2, padding=0)

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
