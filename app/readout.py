"""The live readout: FLOPs per frame, theoretical and measured speed-up, fps, display latency.
The FLOPs and the theoretical speed-up follow the settings as soon as they are applied (before
any run); the measured rows belong to the run being played or the last one."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from pipeline.config import PipelineConfig
from pipeline.flops import FlopsReadout

from .channel import RunInfo, Snapshot

_ROWS = [
    ("FLOPs per frame", None, None),
    ("estimator", "Estimator", "the estimator's FLOPs per keyframe, divided by K"),
    ("refiner", "Refiner", "MixSynthFormer: FLOPs of one window over the frames it adds"),
    ("effective", "Effective", "estimator / K + refiner"),
    ("theoretical", "Theoretical speed-up", "estimator on every frame / effective"),
    ("Measured", None, None),
    ("fps", "Processing", "frames processed per second of processing time"),
    ("measured", "Speed-up vs dense", "dense time (estimator on every frame, from the measured "
                                      "per-call time) / actual processing time"),
    ("estimator_ms", "Estimator time", "mean wall time of one estimator call"),
    ("mode", "Latency mode", "window: K·Q frames; keyframe: at most K frames; zero: each frame's "
                             "pose predicted from past keyframes as it arrives (auto: keyframe for "
                             "live sources, the most accurate for files)"),
    ("latency", "Display latency", "frames read after a frame before its refined pose is final: "
                                   "K·Q, K or 0 by the mode, with every keyframe detected (once a "
                                   "run is over: its median)"),
    ("worst_latency", "Worst latency", "the most so far: a missed keyframe holds the frames of its "
                                       "windows until the next detection (up to one more window)"),
    ("Run", None, None),
    ("frames", "Frames", "frames processed / in the file"),
    ("keyframes", "Keyframes", "keyframes estimated, with a person found"),
    ("dropped", "Dropped", "live sources: stale frames dropped because processing lagged"),
    ("weights", "Weights", "refiner weights in use"),
]


def flops_text(x: float) -> str:
    for unit, scale in (("GFLOPs", 1e9), ("MFLOPs", 1e6), ("kFLOPs", 1e3)):
        if x >= scale:
            return f"{x / scale:.4g} {unit}"
    return f"{x:.0f} FLOPs"


class ReadoutPanel(QWidget):
    """Shows a run's fixed numbers (`show_run`) and its measured ones (`show_snapshot`)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._info: RunInfo | None = None
        self._labels: dict[str, QLabel] = {}
        grid = QGridLayout(self)
        grid.setColumnStretch(1, 1)
        grid.setVerticalSpacing(3)
        value_font = QFont(self.font())
        value_font.setPointSizeF(value_font.pointSizeF() * 1.1)
        value_font.setBold(True)
        for row, (key, title, tip) in enumerate(_ROWS):
            if title is None:
                head = QLabel(key.upper())
                head.setStyleSheet("color: #8ab4f8; font-size: 8pt; padding-top: 6px;")
                grid.addWidget(head, row, 0, 1, 2)
                continue
            name = QLabel(title)
            name.setStyleSheet("color: #9aa0a6;")
            value = QLabel("–")
            value.setFont(value_font)
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setObjectName(f"readout_{key}")
            value.setWordWrap(True)      # long values wrap: the dock (and the video beside it) keep their width
            for w in (name, value):
                w.setToolTip(tip)
            grid.addWidget(name, row, 0)
            grid.addWidget(value, row, 1)
            self._labels[key] = value
        grid.setRowStretch(len(_ROWS), 1)
        self._labels["weights"].setFont(self.font())     # a line per space
        self._labels["weights"].setText("2D: –\n3D: –")   # its height counts in the panel's minimum
        self.setMinimumHeight(self.sizeHint().height())

    def value(self, key: str) -> str:
        return self._labels[key].text()

    def show_run(self, info: RunInfo) -> None:
        self._info = info
        self._show_flops(info.flops, info.estimator, info.weights, info.q)
        self._clear_measured()

    def show_config(self, cfg: PipelineConfig, flops: FlopsReadout, weights: str) -> None:
        """Settings applied while nothing plays: what a run with them will cost (the last run's
        measurements, made with other settings, are cleared rather than shown beside them)."""
        self._show_flops(flops, cfg.estimator_label(), weights, cfg.q)
        self._clear_measured()
        self._info = None

    def _clear_measured(self) -> None:
        for key in ("fps", "measured", "estimator_ms", "mode", "latency", "worst_latency", "frames",
                    "keyframes", "dropped"):
            self._set(key, "–")

    def _show_flops(self, f: FlopsReadout, estimator: str, weights: str, q: int | None) -> None:
        self._set("estimator", f"{flops_text(f.estimator_per_frame)}")
        self._labels["estimator"].setToolTip(
            f"{flops_text(f.estimator_per_keyframe)} per keyframe ({estimator}), divided by K={f.k}")
        self._set("refiner", flops_text(f.refiner_per_frame))
        self._set("effective", flops_text(f.effective_per_frame))
        self._set("theoretical", f"{f.theoretical_speedup:.2f}×")
        self._set("weights", weights)
        self._labels["weights"].setToolTip(
            f"refiner weights: {weights.replace(chr(10), '; ')} (K={f.k}" + (f", Q={q})" if q is not None else ")")
            + ("; interpolated: no model passed its evaluation for these settings (docs/refiner.md)"
               if "interpolated" in weights else ""))

    def show_snapshot(self, info: RunInfo, s: Snapshot) -> None:
        if info is not self._info:
            self.show_run(info)
        self._set("fps", f"{s.fps:.1f} fps")
        self._set("measured", f"{s.measured_speedup:.2f}×")
        self._set("estimator_ms", f"{s.estimator_ms:.1f} ms / keyframe")
        ms = lambda frames: f"{frames} frames · {1000 * frames / info.fps:.0f} ms"
        self._set("mode", f"{info.latency} ({ms(info.max_latency_frames)})")
        self._set("latency", ms(s.latency_frames))
        self._set("worst_latency", ms(s.max_latency_frames))
        total = f" / {info.frame_count}" if info.frame_count else ""
        self._set("frames", f"{s.frames}{total}")
        self._set("keyframes", f"{s.keyframes} ({s.detected} with a person)")
        self._set("dropped", f"{s.dropped}" if info.live else "0 (files never drop)")

    def _set(self, key: str, text: str) -> None:
        self._labels[key].setText(text)
