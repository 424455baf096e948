"""The video with its pose overlay, and the 3D world pose: they show state, nothing else.

Colours: refined poses in blue, keyframes in amber with a KEY tag, raw estimator detections dashed
in red. Filled poses (resting on a missed keyframe, filled from the detections around it) are
drawn faded and dashed with a "filled" tag; joints the estimator is unsure of (confidence under
LOW_CONFIDENCE: mostly joints outside the picture, whose positions are guesses) are faded, and
nothing is drawn outside the picture. Pose coordinates are source pixels; the displayed frame may
be downscaled, so the overlay is drawn in widget coordinates, which keeps lines crisp at any size.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from functools import lru_cache

from pipeline.skeleton import BODY12, MEDIAPIPE33, Skeleton

from .channel import FrameItem, RunInfo

REFINED = QColor("#4fc3f7")
KEYFRAME = QColor("#ffb300")
RAW = QColor("#ff5252")
FILLED = QColor("#b0bec5")
OVERLAYS = {"refined": "Refined", "raw": "Raw keyframes", "both": "Refined + raw"}
LOW_CONFIDENCE = 0.5          # MediaPipe visibility below which a joint is drawn faded
FADED_ALPHA = 70


@lru_cache(maxsize=None)
def _parts(skeleton: Skeleton) -> tuple[frozenset[int], list, list]:
    """The refined body joints of a skeleton (the refiner's 12, by name), the bones between
    them (drawn thick), and the other bones (face, hands, feet; drawn thin)."""
    body = frozenset(skeleton.index(n) for n in BODY12.joints)
    bones = [b for b in skeleton.bones if b[0] in body and b[1] in body]
    return body, bones, [b for b in skeleton.bones if b not in bones]


class VideoView(QWidget):
    """The current frame, its refined pose (or the raw keyframe detection) drawn over it. Frames
    that come fitted to the size it announces (`display_size_changed`, device pixels) are drawn
    1:1, a copy; others are resampled (3 ms a frame here)."""
    display_size_changed = Signal(int, int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(320, 200)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.overlay = "refined"
        self.item: FrameItem | None = None
        self._info: RunInfo | None = None
        self._image: QImage | None = None
        self._held_raw: tuple[int, np.ndarray, np.ndarray] | None = None   # last keyframe's raw
        self.browsing = False                 # the frame is a revisited one of a processed run
        self._placeholder = "Drop video files here, or open a video, a camera or a stream"

    def start(self, info: RunInfo) -> None:
        self._info, self.item, self._image, self._held_raw = info, None, None, None
        self._placeholder = f"{info.name}: processing the first frames ..."
        self.update()

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def set_overlay(self, overlay: str) -> None:
        self.overlay = overlay
        self.update()

    def show_frame(self, item: FrameItem, browsing: bool = False) -> None:
        """Draw this frame and its pose; `browsing`: a frame of the processed run, revisited."""
        self.item, self.browsing = item, browsing
        held = item.held_raw
        if held is None and item.pose.keyframe:                # an item made without it
            held = (item.pose.index, item.pose.raw)
        if held is not None:
            index, raw = held
            self._held_raw = (index, raw.image, raw.conf) if raw is not None else None
        if item.image is not None:
            h, w = item.image.shape[:2]
            self._image = QImage(item.image.data, w, h, item.image.strides[0], QImage.Format.Format_BGR888)
            self._image.setDevicePixelRatio(self.devicePixelRatioF())
        self.update()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        dpr = self.devicePixelRatioF()
        self.display_size_changed.emit(round(self.width() * dpr), round(self.height() * dpr))

    # -- painting --------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#101214"))
        if self._image is None or self._info is None or self.item is None:
            p.setPen(QColor("#9aa0a6"))
            p.setFont(QFont(self.font().family(), 12))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
            return
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        target = self._target_rect()
        p.drawImage(target, self._image)
        scale = target.width() / self._info.size[0]
        to_view = lambda xy: np.asarray(xy, np.float64) * scale + (target.x(), target.y())
        pose = self.item.pose
        p.save()
        p.setClipRect(target)                    # joints guessed outside the picture stay there
        if self.overlay in ("raw", "both") and self._held_raw is not None:
            index, raw, raw_conf = self._held_raw
            self._draw_skeleton(p, to_view(raw), RAW, dashed=True, conf=raw_conf)
            if index != pose.index:
                self._tag(p, to_view(raw), f"raw, held from frame {index}", RAW)
        if self.overlay in ("refined", "both") and pose.has_pose:
            if pose.filled:
                self._draw_skeleton(p, to_view(pose.image), FILLED, dashed=True, conf=pose.conf,
                                    alpha=150)
            else:
                colour = KEYFRAME if pose.keyframe else REFINED
                self._draw_skeleton(p, to_view(pose.image), colour, dashed=False, conf=pose.conf)
        p.restore()
        if pose.keyframe and (pose.has_pose or self._held_raw is not None):
            self._badge(p, to_view(pose.image if pose.has_pose else self._held_raw[1]),
                        "KEY · FILLED" if pose.filled else "KEY")
        elif pose.filled and self.overlay != "raw":
            self._badge(p, to_view(pose.image), "FILLED", FILLED)
        self._hud(p, pose.keyframe and not pose.has_pose)

    def _target_rect(self) -> QRectF:
        """Where the frame goes: fitted, centred; at the image's own size when that is the fit to
        a pixel, on whole pixels, so that drawing it is a copy."""
        w, h = self._info.size
        s = min(self.width() / w, self.height() / h)
        tw, th = w * s, h * s
        size = self._image.deviceIndependentSize() if self._image is not None else None
        whole = size is not None and abs(size.width() - tw) <= 1 and abs(size.height() - th) <= 1
        if whole:
            tw, th = size.width(), size.height()
        x, y = (self.width() - tw) / 2, (self.height() - th) / 2
        return QRectF(round(x), round(y), tw, th) if whole else QRectF(x, y, tw, th)

    def _draw_skeleton(self, p: QPainter, pts: np.ndarray, colour: QColor, dashed: bool,
                       conf: np.ndarray | None = None, alpha: int = 255) -> None:
        """Bones and joints; those with a joint under LOW_CONFIDENCE faded, thinner, no shadow."""
        ok = np.isfinite(pts).all(axis=1)
        sure = ok if conf is None else ok & (np.nan_to_num(conf, nan=0.0) >= LOW_CONFIDENCE)
        style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
        solid, faded = QColor(colour), QColor(colour)
        solid.setAlpha(alpha)
        faded.setAlpha(min(alpha, FADED_ALPHA))
        body, body_bones, other_bones = _parts(self._info.skeleton)
        for bones, width in ((other_bones, 2.0), (body_bones, 3.5)):
            drawn = [(a, b) for a, b in bones if ok[a] and ok[b]]
            strong = [QLineF(*pts[a], *pts[b]) for a, b in drawn if sure[a] and sure[b]]
            weak = [QLineF(*pts[a], *pts[b]) for a, b in drawn if not (sure[a] and sure[b])]
            p.setPen(QPen(faded, width * 0.6, Qt.PenStyle.DotLine, Qt.PenCapStyle.RoundCap))
            p.drawLines(weak)
            shadow = QPen(QColor(0, 0, 0, alpha * 150 // 255), width + 2.5, Qt.PenStyle.SolidLine,
                          Qt.PenCapStyle.RoundCap)
            for q in (shadow, QPen(solid, width, style, Qt.PenCapStyle.RoundCap)):
                p.setPen(q)
                p.drawLines(strong)
        for j in np.flatnonzero(ok):
            r = 4.0 if j in body else 2.2
            p.setPen(QPen(QColor(0, 0, 0, 180 if sure[j] else 60), 1.2))
            p.setBrush(solid if sure[j] else faded)
            p.drawEllipse(QPointF(*pts[j]), r if sure[j] else r * 0.7, r if sure[j] else r * 0.7)

    def _badge(self, p: QPainter, pts: np.ndarray, text: str, colour: QColor = KEYFRAME) -> None:
        """A tag above the skeleton (or in the corner when there is none)."""
        ok = np.isfinite(pts).all(axis=1)
        font = QFont(self.font().family(), 10, QFont.Weight.Bold)
        p.setFont(font)
        w, h = p.fontMetrics().horizontalAdvance(text) + 14, p.fontMetrics().height() + 6
        if ok.any():
            x, y = pts[ok, 0].mean() - w / 2, pts[ok, 1].min() - h - 12
        else:
            x, y = self.width() - w - 12, 12
        box = QRectF(max(4, x), max(4, y), w, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(colour)
        p.drawRoundedRect(box, 4, 4)
        p.setPen(QColor("#1a1a1a"))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _tag(self, p: QPainter, pts: np.ndarray, text: str, colour: QColor) -> None:
        ok = np.isfinite(pts).all(axis=1)
        if not ok.any():
            return
        p.setFont(QFont(self.font().family(), 9))
        p.setPen(colour)
        p.drawText(QPointF(pts[ok, 0].min(), pts[ok, 1].max() + 16), text)

    def _hud(self, p: QPainter, keyframe_without_pose: bool) -> None:
        pose, info = self.item.pose, self._info
        total = f" / {info.frame_count - 1}" if info.frame_count else ""      # as the timeline: last index
        made = "predicted" if info.latency == "zero" else "refined"
        lines = [f"{info.name}   frame {pose.index}{total}   {pose.time_s:6.2f} s",
                 {"refined": f"{made} pose", "raw": "raw keyframe detection",
                  "both": f"{made} (solid) + raw (dashed)"}[self.overlay]
                 + ("   KEYFRAME" if pose.keyframe else "")]
        if not pose.has_pose:
            lines.append("no person" + (" detected on this keyframe" if keyframe_without_pose else ""))
        elif pose.filled:
            lines.append("filled: rests on a missed keyframe (dashed)")
        if self.browsing:
            lines.append("browsing the processed run (←/→ step, Space plays again)")
        p.setFont(QFont(self.font().family(), 10))
        fm = p.fontMetrics()
        box = QRectF(10, 10, max(fm.horizontalAdvance(s) for s in lines) + 20, fm.height() * len(lines) + 12)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 160))
        p.drawRoundedRect(box, 6, 6)
        for i, text in enumerate(lines):
            p.setPen(KEYFRAME if i == 1 and pose.keyframe else QColor("#e8eaed"))
            p.drawText(QPointF(box.x() + 10, box.y() + 6 + fm.ascent() + i * fm.height()), text)


class _OrbitPlot(pg.PlotWidget):
    """A plot whose mouse drags orbit the camera instead of panning."""
    dragged = Signal(float, float)

    def __init__(self) -> None:
        super().__init__(background="#101214")
        self._last: QPointF | None = None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._last = event.position()
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._last is not None:
            d = event.position() - self._last
            self._last = event.position()
            self.dragged.emit(d.x(), d.y())
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._last = None
        event.accept()

    def wheelEvent(self, event) -> None:
        event.accept()


class PoseView3D(QWidget):
    """The refined world pose (metres, hip-centred) in an orthographic view; drag or the slider
    orbits it. MediaPipe's world y points down: it is flipped for display."""
    yaw_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.pitch = 15.0
        self.skeleton = MEDIAPIPE33
        self._world: np.ndarray | None = None
        self._keyframe = self._filled = False
        self._floor_key: tuple | None = None           # what the floor and style were set for
        self._style: tuple[str, bool] | None = None
        self.plot = _OrbitPlot()
        item = self.plot.getPlotItem()
        item.hideAxis("left")
        item.hideAxis("bottom")
        item.setMouseEnabled(False, False)
        item.hideButtons()
        item.setAspectLocked(True)
        item.setRange(xRange=(-1.1, 1.1), yRange=(-1.15, 1.05), padding=0)
        self._floor = pg.PlotDataItem(pen=pg.mkPen("#3c4043", width=1), connect="pairs")
        self._other = pg.PlotDataItem(pen=pg.mkPen("#7a8793", width=1.5), connect="pairs")
        self._body = pg.PlotDataItem(pen=pg.mkPen(REFINED, width=3), connect="pairs", antialias=True)
        self._joints = pg.ScatterPlotItem(size=7, pen=pg.mkPen("#000000"), brush=pg.mkBrush(REFINED))
        for it in (self._floor, self._other, self._body, self._joints):
            self.plot.addItem(it)
        self._label = pg.TextItem("", color="#9aa0a6", anchor=(0, 0))
        self._label.setPos(-1.08, 1.03)
        self.plot.addItem(self._label)
        self.plot.dragged.connect(self._orbit)

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(-180, 180)
        self.slider.setValue(30)
        self.slider.setToolTip("Orbit: yaw in degrees (or drag the view; drag up/down to tilt)")
        self.slider.valueChanged.connect(self._yaw_changed)
        row = QHBoxLayout()
        row.addWidget(QLabel("yaw"))
        row.addWidget(self.slider)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        layout.addLayout(row)
        self._redraw()

    @property
    def yaw(self) -> int:
        return self.slider.value()

    def set_yaw(self, degrees: int) -> None:
        self.slider.setValue(int(degrees))

    def clear(self, skeleton: Skeleton = MEDIAPIPE33) -> None:
        """No pose; the next ones are of `skeleton` (the run's estimator's)."""
        self._world, self.skeleton = None, skeleton
        self._redraw()

    def set_pose(self, world: np.ndarray | None, keyframe: bool, filled: bool = False) -> None:
        self._world = world if world is not None and np.isfinite(world).all() else None
        self._keyframe, self._filled = keyframe, filled
        self._redraw()

    def _orbit(self, dx: float, dy: float) -> None:
        self.pitch = float(np.clip(self.pitch + dy * 0.4, -85, 85))
        yaw = (self.yaw + round(dx * 0.5) + 180) % 360 - 180
        if yaw != self.yaw:
            self.set_yaw(yaw)
        else:
            self._redraw()

    def _yaw_changed(self, value: int) -> None:
        self._redraw()
        self.yaw_changed.emit(value)

    def project(self, xyz: np.ndarray) -> np.ndarray:
        """(..., 3) world (x right, y down, z away) -> (..., 2) display (x right, y up)."""
        a, e = math.radians(self.yaw), math.radians(self.pitch)
        x = xyz[..., 0] * math.cos(a) + xyz[..., 2] * math.sin(a)
        depth = -xyz[..., 0] * math.sin(a) + xyz[..., 2] * math.cos(a)
        up = -xyz[..., 1]
        return np.stack([x, up * math.cos(e) + depth * math.sin(e)], axis=-1)

    def _redraw(self) -> None:
        """Project the pose (and the floor under it); what has not changed is not set again
        (pens and text re-lay pyqtgraph items out: they cost more than the projection)."""
        w = self._world
        floor_y = round(float(np.nanmax(w[:, 1])), 2) if w is not None else 0.9
        self._set_floor(floor_y, self.yaw, self.pitch)
        if w is None:
            for it in (self._other, self._body):
                it.setData([], [])
            self._joints.setData([], [])
            self._set_style(None, "no 3D pose")
            return
        xy = self.project(w.astype(np.float64))
        body, body_bones, other_bones = _parts(self.skeleton)
        for it, bones in ((self._other, other_bones), (self._body, body_bones)):
            seg = xy[np.array(bones).ravel()]
            it.setData(seg[:, 0], seg[:, 1])
        colour = FILLED if self._filled else KEYFRAME if self._keyframe else REFINED
        body = xy[sorted(body)]
        self._joints.setData(body[:, 0], body[:, 1])
        self._set_style((colour.name(), self._filled), ("filled " if self._filled else "refined ")
                        + f"world pose (m)   yaw {self.yaw}°  tilt {self.pitch:.0f}°")

    def _set_floor(self, floor_y: float, yaw: int, pitch: float) -> None:
        if self._floor_key == (floor_y, yaw, pitch):
            return
        self._floor_key = (floor_y, yaw, pitch)
        g = np.linspace(-1.0, 1.0, 9)
        ends = [((u, floor_y, -1.0), (u, floor_y, 1.0)) for u in g] + [((-1.0, floor_y, u), (1.0, floor_y, u)) for u in g]
        floor = self.project(np.array(ends, np.float64).reshape(-1, 3))
        self._floor.setData(floor[:, 0], floor[:, 1])

    def _set_style(self, style: tuple[str, bool] | None, label: str) -> None:
        """The body's colour and dashing (None: no body) and the label."""
        self._label.setText(label)                      # (pyqtgraph skips an unchanged text)
        if style is not None and style != self._style:
            self._style = style
            colour, dashed = style
            self._body.setPen(pg.mkPen(colour, width=3, style=Qt.PenStyle.DashLine if dashed
                                       else Qt.PenStyle.SolidLine))
            self._joints.setBrush(pg.mkBrush(colour))
