"""The main window: the video in the centre with the seek bar under it; readout, 3D pose and plots
in docks; toolbars with the sources, playback and pipeline settings; errors in the status bar. It
only shows the session's state and turns user actions into the session's intents. Its keyboard
shortcuts work whichever of its widgets has the focus."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QUrl
from PySide6.QtGui import (QAction, QCloseEvent, QDragEnterEvent, QDragMoveEvent, QDropEvent, QIcon,
                           QKeyEvent, QKeySequence, QPalette)
from PySide6.QtWidgets import (QApplication, QComboBox, QDockWidget, QFileDialog, QInputDialog, QLabel,
                               QMainWindow, QMenu, QMessageBox, QProgressBar, QPushButton, QSpinBox,
                               QStyle, QToolBar, QToolButton, QVBoxLayout, QWidget)

from pipeline.config import LATENCY_CHOICES, PipelineConfig
from pipeline.paths import ASSETS_DIR
from pipeline.process import output_stem
from pipeline.io.sources import VIDEO_EXTENSIONS, VideoSource, list_videos, looks_like_video, not_a_video

from .channel import FrameItem, RunEnded, RunInfo
from .controls import PipelineControls
from .icons import media_icon
from .plots import FlopsPlot, TrajectoryPlot
from .readout import ReadoutPanel
from .session import CONNECTING, IDLE, PAUSED, RUNNING, Session
from .timeline import Timeline
from .views import OVERLAYS, PoseView3D, VideoView

DEMO_VIDEO = ASSETS_DIR / "demo.mp4"
VIDEO_FILTER = "Videos ({})".format(" ".join(f"*{e}" for e in sorted(VIDEO_EXTENSIONS)))


def specs_from_urls(urls: list[QUrl]) -> tuple[list[str], list[str]]:
    """Dropped URLs -> (sources, refusals): local files as paths (a folder: its videos), others
    as streams; a file that is plainly no video (an image, an audio file, or neither a video's
    extension nor its first bytes: a text file) is refused at once, with why."""
    specs, refused = [], []
    for url in urls:
        if url.isLocalFile():
            path = Path(url.toLocalFile())
            if path.is_dir():
                specs += [str(p) for p in list_videos(path)]
            elif (why := not_a_video(path)) is not None or (
                    path.suffix.lower() not in VIDEO_EXTENSIONS and not looks_like_video(path)):
                refused.append(f"{path.name}: {why or 'not a video file'}")
            else:
                specs.append(str(path))
        elif url.scheme():
            specs.append(url.toString())
    return specs, refused


class WindowShortcuts(QObject):
    """Makes a window's shortcuts win over the widget with the focus: a spin box would take Space
    and Ctrl+U, a slider or a combo box the arrow keys. Installed on the application, it refuses
    the widget's claim (the shortcut-override event) on the keys of the window's actions; dialogs
    and menus are other windows and keep their keys."""

    def __init__(self, window: QWidget, actions: list[QAction]):
        super().__init__(window)
        self.window = window
        self.keys = {seq.toString() for a in actions for seq in a.shortcuts()}

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if (event.type() == QEvent.Type.ShortcutOverride and isinstance(obj, QWidget)
                and obj.window() == self.window and isinstance(event, QKeyEvent)
                and QKeySequence(event.keyCombination()).toString() in self.keys):
            event.ignore()                  # not claimed: the shortcut map gets the key
            return True
        return False


class MainWindow(QMainWindow):
    """keyframe pose's window; `settings` is where its choices are remembered."""

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        # ask before closing loses poses not yet exported; never where no one can answer (an
        # offscreen window: scripts, benchmarks) nor on a signal (`close_on_signals`)
        self.confirm_close = QApplication.platformName() != "offscreen"
        self.session = Session(self)
        self.video = VideoView()
        self.view3d = PoseView3D()
        self.trajectory = TrajectoryPlot()
        self.flops_plot = FlopsPlot()
        self.readout = ReadoutPanel()
        self.controls = PipelineControls()
        self.timeline = Timeline()
        self.setWindowTitle("keyframe pose")
        centre = QWidget()
        column = QVBoxLayout(centre)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.video, 1)
        column.addWidget(self.timeline)
        self.setCentralWidget(centre)
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self._build_actions()
        self._build_toolbars()
        self._build_menus()
        self._build_docks()
        self._build_status_bar()
        self._connect()
        self._restore_settings()
        self.session.configure(self.controls.config())
        self.shortcuts = WindowShortcuts(self, self.findChildren(QAction))
        QApplication.instance().installEventFilter(self.shortcuts)
        self.video.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.video.setFocus()                     # not the camera box: it would take Space

    # -- building --------------------------------------------------------------------------------
    def _action(self, text: str, slot: Callable, icon: QStyle.StandardPixmap | QIcon | None = None,
                shortcut: str | QKeySequence | None = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if icon is not None:
            action.setIcon(icon if isinstance(icon, QIcon) else self.style().standardIcon(icon))
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.setToolTip(tip or text)
        action.triggered.connect(slot)
        return action

    def _icon(self, kind: str) -> QIcon:
        return media_icon(kind, self.palette().color(QPalette.ColorRole.ButtonText))

    def _build_actions(self) -> None:
        SP = QStyle.StandardPixmap
        self.open_action = self._action("Open video…", self._open_dialog, SP.SP_DialogOpenButton,
                                        QKeySequence.StandardKey.Open, "Open one or several video files")
        self.camera_action = self._action("Camera", lambda: self.open_camera(), SP.SP_ComputerIcon,
                                          "Ctrl+K", "Open the camera with the chosen index")
        self.url_action = self._action("Stream URL…", self._url_dialog, SP.SP_DriveNetIcon,
                                       "Ctrl+U", "Open a network stream (rtsp://, http://, ...)")
        self.play_action = self._action("Play", self._play_pause, self._icon("play"), "Space",
                                        "Play / pause")
        self.restart_action = self._action("Restart", self.session.restart, self._icon("restart"),
                                           "Ctrl+R", "Play the current video again from its start")
        self.stop_action = self._action("Stop", self.session.stop, self._icon("stop"), "Ctrl+.",
                                        "Stop (the poses so far are kept) and clear the queue")
        self.realtime_action = self._action("Real time", self._set_realtime,
                                            tip="Files: show frames at the video's own pace "
                                                "(off: as fast as they are processed, showing as many as the screen can)")
        self.realtime_action.setCheckable(True)
        self.export_action = self._action("Export CSV…", self._export_dialog, SP.SP_DialogSaveButton,
                                          "Ctrl+E", "Export the current video's refined poses to CSV")
        self.export_all_action = self._action(
            "Export all to a folder…", self._export_all_dialog, SP.SP_DirOpenIcon, "Ctrl+Shift+E",
            "Export every video opened together (several files, a dropped folder) to a folder, "
            "one CSV each; those still playing or queued as each ends")
        self.prev_action = self._action("Previous frame", lambda: self.session.step(-1),
                                        shortcut="Left", tip="Previous frame (a file's run pauses)")
        self.next_action = self._action("Next frame", lambda: self.session.step(1),
                                        shortcut="Right", tip="Next frame")
        self.back_action = self._action("Back 10 frames", lambda: self.session.step(-10),
                                        shortcut="Shift+Left")
        self.ahead_action = self._action("Ahead 10 frames", lambda: self.session.step(10),
                                         shortcut="Shift+Right")
        self.first_action = self._action("First frame", lambda: self.session.seek(0), shortcut="Home")
        self.last_action = self._action("Last processed frame",
                                        lambda: self.session.seek(self.session.browsable - 1),
                                        shortcut="End")
        self.quit_action = self._action("Quit", self.close, shortcut=QKeySequence.StandardKey.Quit)

    def _build_toolbars(self) -> None:
        self.camera_box = QSpinBox()
        self.camera_box.setRange(0, 63)
        self.camera_box.setPrefix("camera ")
        self.camera_box.setToolTip("Camera index")
        self.overlay_box = QComboBox()
        for key, text in OVERLAYS.items():
            self.overlay_box.addItem(text, key)
        self.overlay_box.setToolTip("What is drawn over the video")

        def toolbar(title: str, *items: QAction | QWidget | None) -> QToolBar:
            bar = QToolBar(title)
            bar.setObjectName(title.lower() + "_toolbar")
            bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            for it in items:
                if it is None:
                    bar.addSeparator()
                elif isinstance(it, QAction):
                    bar.addAction(it)
                else:
                    bar.addWidget(it)
            self.addToolBar(bar)
            return bar

        # Export sits with the file actions, first: on a narrow screen the last toolbar's end is
        # what goes behind the overflow button
        source = toolbar("Source", self.open_action, self.camera_action, self.camera_box, self.url_action,
                         None, self.export_action)
        export = source.widgetForAction(self.export_action)       # its arrow offers "all"
        export.setMenu(QMenu(export))
        export.menu().addActions([self.export_action, self.export_all_action])
        export.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        toolbar("Playback", self.play_action, self.restart_action, self.stop_action,
                self.realtime_action, self.overlay_box)
        toolbar("Pipeline", self.controls)

    def _build_menus(self) -> None:
        file = self.menuBar().addMenu("&File")
        file.addActions([self.open_action, self.camera_action, self.url_action])
        file.addSeparator()
        file.addActions([self.export_action, self.export_all_action])
        file.addSeparator()
        file.addAction(self.quit_action)
        playback = self.menuBar().addMenu("&Playback")
        playback.addActions([self.play_action, self.restart_action, self.stop_action, self.realtime_action])
        playback.addSeparator()
        playback.addActions([self.prev_action, self.next_action, self.back_action, self.ahead_action,
                             self.first_action, self.last_action])
        self.view_menu = self.menuBar().addMenu("&View")

    def _build_docks(self) -> None:
        def dock(title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
            d = QDockWidget(title, self)
            d.setObjectName(title.lower().replace(" ", "_") + "_dock")
            d.setWidget(widget)
            self.addDockWidget(area, d)
            self.view_menu.addAction(d.toggleViewAction())
            return d
        R, B = Qt.DockWidgetArea.RightDockWidgetArea, Qt.DockWidgetArea.BottomDockWidgetArea
        readout = dock("Readout", self.readout, R)
        pose3d = dock("3D pose", self.view3d, R)
        trajectory = dock("Joint trajectory", self.trajectory, B)
        flops = dock("FLOPs per frame", self.flops_plot, B)
        self.splitDockWidget(readout, pose3d, Qt.Orientation.Vertical)
        self.splitDockWidget(trajectory, flops, Qt.Orientation.Horizontal)
        self.resizeDocks([readout, pose3d], [330, 330], Qt.Orientation.Vertical)
        self.resizeDocks([readout], [400], Qt.Orientation.Horizontal)
        self.resizeDocks([trajectory], [260], Qt.Orientation.Vertical)
        for w in (self.view3d.plot, self.trajectory.plot, self.flops_plot.plot):
            w.setAcceptDrops(False)              # drops anywhere reach the window

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.state_label = QLabel("idle")
        self.queue_label = QLabel("")
        self.export_bar = QProgressBar()
        self.export_bar.setMaximumWidth(180)
        self.export_bar.setFormat("export %p%")
        self.export_bar.hide()
        self.offer_button = QPushButton("Export the kept poses…")
        self.offer_button.clicked.connect(self._export_dialog)
        self.offer_button.hide()
        for w in (self.offer_button, self.export_bar, self.queue_label, self.state_label):
            bar.addPermanentWidget(w)
        self.video.set_placeholder("Drop video files here, or open a video, a camera or a stream")

    def _connect(self) -> None:
        s = self.session
        s.run_started.connect(self._run_started)
        self.video.display_size_changed.connect(s.set_display_size)
        s.frame_shown.connect(self._frame_shown)
        s.frames_passed.connect(self._frames_passed)
        s.frame_browsed.connect(self._frame_browsed)
        s.position_changed.connect(self.timeline.set_position)
        s.connecting.connect(self._connecting)
        s.run_ended.connect(self._run_ended)
        s.stats_changed.connect(self.readout.show_snapshot)
        s.stats_changed.connect(self.timeline.show_progress)
        self.timeline.seek_requested.connect(s.seek)
        self.timeline.step_requested.connect(s.step)
        s.state_changed.connect(self._state_changed)
        s.playlist_changed.connect(self._playlist_changed)
        s.configured.connect(self._configured)
        s.message.connect(self.show_message)
        s.export_progress.connect(self._export_progress)
        s.export_finished.connect(lambda *_: self.export_bar.hide())
        s.export_offered.connect(self.offer_button.setVisible)
        self.controls.changed.connect(s.configure)
        self.overlay_box.currentIndexChanged.connect(
            lambda: self.video.set_overlay(self.overlay_box.currentData()))

    # -- intents ---------------------------------------------------------------------------------
    def open_files(self, paths: list[str | Path]) -> None:
        """Play these files now, one after another."""
        self.session.open([str(p) for p in paths])

    def enqueue_files(self, specs: list[str]) -> None:
        """Play these after what is playing (at once when nothing is)."""
        if specs:
            names = ", ".join(VideoSource(s).name for s in specs)
            self.show_message(f"queued {len(specs)}: {names}" if self.session.state != "idle"
                              else f"opening {names}")
            self.session.enqueue(specs)

    def open_camera(self, index: int | None = None, fallback: Path | None = None) -> None:
        if index is not None:
            self.camera_box.setValue(index)
        self.session.open_camera(self.camera_box.value(), fallback)

    def open_url(self, url: str) -> None:
        if url.strip():
            self.settings.setValue("source/url", url.strip())
            self.session.open([url.strip()])

    def export_csv(self, path: str | Path) -> None:
        self.settings.setValue("export/folder", str(Path(path).parent))
        self.session.export(path)

    def export_all(self, folder: str | Path) -> None:
        self.settings.setValue("export/folder", str(folder))
        self.session.export_all(folder)

    def show_message(self, text: str, error: bool = False) -> None:
        self.statusBar().setStyleSheet("QStatusBar { color: #ff8a80; }" if error else "")
        self.statusBar().showMessage(("⚠ " if error else "") + text)

    # -- dialogs ---------------------------------------------------------------------------------
    def _open_dialog(self) -> None:
        folder = self.settings.value("source/folder", str(ASSETS_DIR), type=str)
        paths, _ = QFileDialog.getOpenFileNames(self, "Open videos", folder, f"{VIDEO_FILTER};;All files (*)")
        if paths:
            self.settings.setValue("source/folder", str(Path(paths[0]).parent))
            self.open_files(paths)

    def _url_dialog(self) -> None:
        url, ok = QInputDialog.getText(self, "Open a stream", "Stream URL (rtsp://, http://, ...):",
                                       text=self.settings.value("source/url", "", type=str))
        if ok:
            self.open_url(url)

    def _export_dialog(self) -> None:
        result, info = self.session.last_result, self.session.info
        if info is None:
            self.show_message("nothing to export yet: play a video first", True)
            return
        source = (result.info if result is not None and self.session.state == "idle" else info).spec
        name = output_stem(VideoSource(source)) + ".csv"
        folder = self.settings.value("export/folder", str(Path.home()), type=str)
        path, _ = QFileDialog.getSaveFileName(self, "Export refined poses", str(Path(folder) / name),
                                              "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def _export_all_dialog(self) -> None:
        if not self.session.has_batch:              # the session's own test, before the dialog
            self.show_message("nothing to export yet: play a video first", True)
            return
        folder = QFileDialog.getExistingDirectory(self, "Export every video to a folder",
                                                  self.settings.value("export/folder", str(Path.home()), type=str))
        if not folder:
            return
        existing = [p.name for p in self.session.planned_paths(folder) if p.exists()]
        if existing:
            listed = ", ".join(existing[:3]) + (f" and {len(existing) - 3} more" if len(existing) > 3 else "")
            answer = QMessageBox.question(
                self, "Replace files?", f"{folder} already holds {listed}.\n\nReplace them?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel)
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.export_all(folder)

    def _play_pause(self) -> None:
        if self.session.state == CONNECTING:
            return
        if self.session.state in (RUNNING, PAUSED):
            self.session.toggle_pause()
        elif self.session.info is not None:
            self.session.restart()
        else:
            self._open_dialog()

    # -- state -> views --------------------------------------------------------------------------
    def _set_realtime(self, on: bool) -> None:
        self.session.set_realtime(on)
        self.timeline.realtime = on
        for plot in (self.trajectory, self.flops_plot):
            plot.set_fast(not on)

    def _run_started(self, info: RunInfo) -> None:
        self.setWindowTitle(f"keyframe pose — {info.name}")
        for view in (self.video, self.trajectory, self.flops_plot, self.timeline):
            view.start(info)
        self.view3d.clear(info.skeleton)
        self.readout.show_run(info)

    def _frame_shown(self, item: FrameItem) -> None:
        self.video.show_frame(item)
        self.view3d.set_pose(item.pose.world, item.pose.keyframe, item.pose.filled)
        self.trajectory.add(item.pose)
        self.flops_plot.add(item.pose)

    def _frames_passed(self, items: tuple[FrameItem, ...]) -> None:
        """Frames processed but not shown (a file as fast as possible): the plots get their poses."""
        for item in items:
            self.trajectory.add(item.pose)
            self.flops_plot.add(item.pose)

    def _frame_browsed(self, item: FrameItem) -> None:
        """A frame of the processed run, revisited: drawn with its kept poses; the plots mark it."""
        self.video.show_frame(item, browsing=True)
        self.view3d.set_pose(item.pose.world, item.pose.keyframe, item.pose.filled)
        for plot in (self.trajectory, self.flops_plot):
            plot.set_cursor(item.pose.time_s)

    def _connecting(self, name: str, timeout_s: float) -> None:
        self.video.set_placeholder(f"connecting to {name} …\n\nStop cancels; gives up after "
                                   f"{timeout_s:.0f} s without video")

    def _run_ended(self, result: RunEnded) -> None:
        self.timeline.finish(result.info, len(result.track))
    def _state_changed(self, state: str) -> None:
        paused = state != RUNNING
        self.play_action.setText("Play" if paused else "Pause")
        self.play_action.setIcon(self._icon("play" if paused else "pause"))
        name = self.session.info.name if self.session.info else ""
        self.state_label.setText({IDLE: "idle", RUNNING: f"▶ {name}", PAUSED: f"❚❚ {name}",
                                  CONNECTING: "connecting …"}[state])
        if state == IDLE and self.video.item is None:
            self.video.set_placeholder("Drop video files here, or open a video, a camera or a stream")

    def _playlist_changed(self, names: tuple[str, ...]) -> None:
        self.queue_label.setText(f"queued: {len(names)}" if names else "")
        self.queue_label.setToolTip("\n".join(names) + "\n\nExport all to a folder… (Ctrl+Shift+E) writes each "
                                    "video of this batch as it ends" if names else "")

    def _configured(self, cfg: PipelineConfig, description: str, flops: object) -> None:
        self.controls.show_config(cfg, description)
        if flops is not None and self.session.state == IDLE:
            self.readout.show_config(cfg, flops, description)
        s = self.settings
        s.setValue("pipeline/k", cfg.k)
        s.setValue("pipeline/q", cfg.q)
        s.setValue("pipeline/estimator", cfg.estimator)
        s.setValue("pipeline/mode", cfg.keyframe_mode)
        s.setValue("pipeline/latency", cfg.latency)
        if cfg.estimator == "mmpose":                # kept while another estimator is chosen
            s.setValue("pipeline/pose_config", cfg.pose_config or "")
            s.setValue("pipeline/pose_checkpoint", str(cfg.pose_checkpoint or ""))
        s.setValue("pipeline/weights", str(cfg.weights or ""))
        s.setValue("pipeline/world_weights", str(cfg.world_weights or ""))
        q = f", Q={cfg.q}" if cfg.q is not None else ""
        self.show_message(f"refiner weights: {description.replace(chr(10), '; ')} (K={cfg.k}{q})")

    def _export_progress(self, done: int, total: int) -> None:
        self.export_bar.setMaximum(max(total, 1))
        self.export_bar.setValue(done)
        self.export_bar.setVisible(done < total)

    # -- drag and drop ---------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        specs, refused = specs_from_urls(event.mimeData().urls())
        if not specs:
            self.show_message("; ".join(refused) or "nothing to open in what was dropped (no video files)", True)
            return
        event.acceptProposedAction()
        self.enqueue_files(specs)
        if refused:
            self.show_message(f"not opened: {'; '.join(refused)}", True)

    # -- settings --------------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = self.settings
        self.resize(1440, 900)
        if (geometry := s.value("window/geometry")) is not None:
            self.restoreGeometry(geometry)
        if (state := s.value("window/state")) is not None:
            self.restoreState(state)
        self.camera_box.setValue(s.value("source/camera", 0, type=int))
        self.overlay_box.setCurrentIndex(max(0, self.overlay_box.findData(s.value("view/overlay", "refined"))))
        realtime = s.value("view/realtime", True, type=bool)
        self.realtime_action.setChecked(realtime)
        self._set_realtime(realtime)
        self.trajectory.set_joint(s.value("view/joint", "right_wrist", type=str))
        self.view3d.set_yaw(s.value("view/yaw", 30, type=int))
        weights = [Path(p) if p and Path(p).with_suffix(".json").exists() else None
                   for p in (s.value("pipeline/weights", "", type=str),
                             s.value("pipeline/world_weights", "", type=str))]
        cfg = PipelineConfig(k=s.value("pipeline/k", 10, type=int), q=s.value("pipeline/q", 3, type=int),
                             estimator=s.value("pipeline/estimator", "mediapipe", type=str),
                             keyframe_mode=s.value("pipeline/mode", "static", type=str),
                             latency=latency if (latency := s.value("pipeline/latency", "auto", type=str))
                             in LATENCY_CHOICES else "auto",
                             pose_config=s.value("pipeline/pose_config", "", type=str) or None,
                             pose_checkpoint=Path(p) if (p := s.value("pipeline/pose_checkpoint", "",
                                                                    type=str)) else None,
                             weights=weights[0], world_weights=weights[1])
        self.controls.show_config(cfg, "")

    def _save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("source/camera", self.camera_box.value())
        s.setValue("view/overlay", self.overlay_box.currentData())
        s.setValue("view/realtime", self.realtime_action.isChecked())
        s.setValue("view/joint", self.trajectory.joint)
        s.setValue("view/yaw", self.view3d.yaw)
        s.sync()

    def unsaved(self) -> str | None:
        """What closing now would lose, in a sentence, or None: a queued export (its run has not
        ended) or the kept poses of a run that stopped early, not exported. An export already
        writing is finished before the window closes (`Session.shutdown`)."""
        pending, info = self.session.pending_export, self.session.info
        why = []
        if pending is not None and info is not None:
            why.append(f"{info.name} is still running: its export to {pending.name} is written when the "
                       "run ends, and closing now stops the run without writing it.")
        if (folder := self.session.batch_following) is not None:
            why.append(f"The video(s) still playing or queued are to be exported to {folder} as each "
                       "ends; closing now stops them without writing them.")
        if not self.offer_button.isHidden():       # offered, whether or not the window is on screen
            why.append("The poses kept from the run that stopped early are not exported yet.")
        return "\n\n".join(why) or None

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop the worker cleanly (a run in progress ends, its thread is joined), after asking
        when that would lose poses the user meant to keep (`unsaved`)."""
        if self.confirm_close and (why := self.unsaved()) is not None:
            answer = QMessageBox.question(
                self, "Close keyframe pose?", f"{why}\n\nClose anyway?",
                QMessageBox.StandardButton.Close | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel)
            if answer != QMessageBox.StandardButton.Close:
                event.ignore()
                return
        self._save_settings()
        self.session.shutdown()
        event.accept()
