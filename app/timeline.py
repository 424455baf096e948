"""The row under the video: step back, the seek bar, step forward, where we are, and for files
how far processing has got (frames done / total, time left). It shows the session's position and
emits seek intents; the frames that can be browsed are those of the file's run shown so far."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QSlider, QToolButton, QWidget

from .channel import RunInfo, Snapshot


def eta_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


class Timeline(QWidget):
    seek_requested = Signal(int)         # a frame index
    step_requested = Signal(int)         # frames to move by (negative: back)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.info: RunInfo | None = None
        self.browsable = 0
        self.realtime = True          # a file plays at its own pace (the window sets it)
        self.back = QToolButton()
        self.back.setText("◀")
        self.back.setToolTip("Previous frame (Left)")
        self.forward = QToolButton()
        self.forward.setText("▶")
        self.forward.setToolTip("Next frame (Right)")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("seek_bar")
        self.slider.setToolTip("Seek: drag to browse the processed frames with their poses "
                               "(a run in progress pauses)")
        self.slider.setPageStep(30)
        self.label = QLabel("")
        self.label.setMinimumWidth(190)
        self.progress = QProgressBar()
        self.progress.setObjectName("processing_progress")
        self.progress.setMinimumWidth(250)
        self.progress.setMaximumWidth(300)
        self.progress.setToolTip("Frames processed / frames in the file, and the time left at the "
                                 "current processing speed")
        self.progress.hide()
        for w in (self.back, self.forward, self.slider):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)       # the window's shortcuts keep the keys
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 2, 6, 2)
        for w in (self.back, self.slider, self.forward, self.label, self.progress):
            row.addWidget(w, 1 if w is self.slider else 0)
        # as tall with the progress bar as without it: the video above keeps its size when a run ends
        self.setFixedHeight(max(w.sizeHint().height() for w in (self.back, self.slider, self.label, self.progress)) + 4)
        self.back.clicked.connect(lambda: self.step_requested.emit(-1))
        self.forward.clicked.connect(lambda: self.step_requested.emit(1))
        self.slider.valueChanged.connect(self._moved)
        self._show_enabled()

    def start(self, info: RunInfo) -> None:
        self.info, self.browsable = info, 0
        self._set_slider(0, max(0, (info.frame_count or 1) - 1))
        self.progress.setVisible(not info.live and bool(info.frame_count))
        self.progress.setRange(0, info.frame_count or 0)
        self.progress.setValue(0)
        self.progress.setFormat(f"processing 0 / {info.frame_count}")
        self.set_position(-1, 0)

    def set_position(self, index: int, browsable: int) -> None:
        """The frame on screen and how many frames can be browsed."""
        self.browsable = browsable
        if self.info is None:
            return
        if self.info.live:
            self.label.setText(f"live · frame {max(index, 0)}")
        elif index >= 0:
            total = self.info.frame_count or browsable
            self._set_slider(index, max(self.slider.maximum(), browsable - 1))
            self.label.setText(f"frame {index} / {total - 1}   {index / self.info.fps:6.2f} s")
        self._show_enabled()

    def show_progress(self, info: RunInfo, s: Snapshot) -> None:
        """Processing progress of a file: frames done / total and the time left."""
        if info.live or not info.frame_count:
            return
        total = info.frame_count
        self.progress.setValue(min(s.frames, total))
        rate = min(s.fps, info.fps) if self.realtime and info.fps > 0 else s.fps   # paced: the video's own
        left = (total - s.frames) / rate if rate > 0 else float("nan")
        eta = f" · {eta_text(left)} left" if s.frames < total and left == left else ""
        self.progress.setFormat(f"processing {s.frames} / {total}{eta}")

    def finish(self, info: RunInfo, frames: int) -> None:
        """The run is over: every frame read can be browsed."""
        self.progress.hide()
        if not info.live and frames:
            self.slider.setMaximum(frames - 1)

    def _set_slider(self, value: int, maximum: int) -> None:
        self.slider.blockSignals(True)
        self.slider.setRange(0, maximum)
        self.slider.setValue(value)
        self.slider.blockSignals(False)

    def _moved(self, value: int) -> None:
        self.seek_requested.emit(value)

    def _show_enabled(self) -> None:
        browse = self.info is not None and not self.info.live and self.browsable > 0
        for w in (self.slider, self.back, self.forward):
            w.setEnabled(browse)
