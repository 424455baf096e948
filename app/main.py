"""`python run_app.py [VIDEO ...]`: open the app, play the videos given (in order), else the camera,
else the bundled demo."""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from .args import build_parser
from .channel import FrameItem
from .session import RUNNING
from .window import DEMO_VIDEO, MainWindow

ORGANISATION = APPLICATION = "keyframe-pose"


def apply_theme(app: QApplication) -> None:
    """Fusion with a dark palette: video and plots read best on dark."""
    app.setStyle("Fusion")
    p = QPalette()
    colours = {QPalette.ColorRole.Window: "#202124", QPalette.ColorRole.WindowText: "#e8eaed",
               QPalette.ColorRole.Base: "#17181a", QPalette.ColorRole.AlternateBase: "#26282b",
               QPalette.ColorRole.Text: "#e8eaed", QPalette.ColorRole.Button: "#2d2f33",
               QPalette.ColorRole.ButtonText: "#e8eaed", QPalette.ColorRole.Highlight: "#4fc3f7",
               QPalette.ColorRole.HighlightedText: "#101214", QPalette.ColorRole.ToolTipBase: "#2d2f33",
               QPalette.ColorRole.ToolTipText: "#e8eaed", QPalette.ColorRole.Link: "#8ab4f8",
               QPalette.ColorRole.PlaceholderText: "#9aa0a6"}
    for role, colour in colours.items():
        p.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6f7378"))
    app.setPalette(p)


def screenshot_when_shown(window: MainWindow, path: Path, frame: int) -> None:
    """Save the window to `path` once frame `frame` (or a later one) is shown with a pose (or the
    run ends), then close it."""
    def on_frame(item: FrameItem) -> None:
        if item.pose.index >= frame and item.pose.has_pose:
            take()

    def take() -> None:
        window.session.frame_shown.disconnect(on_frame)
        window.session.run_ended.disconnect(take)
        if window.session.state == RUNNING:
            window.session.toggle_pause()        # hold this frame on screen
        QTimer.singleShot(400, shoot)            # let the plots redraw

    def shoot() -> None:
        image = window.grab()
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(str(path))
        print(f"screenshot {path} ({image.width()}x{image.height()})", flush=True)
        window.confirm_close = False
        window.close()

    window.session.frame_shown.connect(on_frame)
    window.session.run_ended.connect(take)


def seconds_since_launch() -> float:
    """Seconds since this process started (Linux: its start time in /proc; elsewhere since
    this module was imported)."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.perf_counter() - _IMPORTED


_IMPORTED = time.perf_counter()


def exit_at_first_pose(window: MainWindow) -> None:
    """Print when the first frame with a pose is on screen (seconds since launch), then quit."""
    def on_frame(item: FrameItem) -> None:
        if item.pose.has_pose:
            window.session.frame_shown.disconnect(on_frame)
            QApplication.processEvents()              # let the frame paint
            print(f"first pose on screen: frame {item.pose.index}, {seconds_since_launch():.2f} s "
                  f"after launch ({time.process_time():.2f} s of CPU)", flush=True)
            window.confirm_close = False
            window.close()

    window.session.frame_shown.connect(on_frame)


def close_on_signals(window: MainWindow) -> list[int]:
    """SIGTERM (kill, docker stop, a desktop session ending) and Ctrl-C in the terminal close the
    window as its close button does: settings saved, the worker's run stopped and its thread
    joined, no file left half written (an export runs in the GUI thread, between two signals'
    handling). Qt's event loop runs no Python, so a timer hands the interpreter a moment five
    times a second to run the handlers. Returns the list the signals received are added to."""
    received: list[int] = []

    def close(signum, frame) -> None:
        received.append(signum)
        window.confirm_close = False          # a signal closes without asking
        window.close()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, close)
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(200)
    return received


def main(argv: list[str]) -> int:
    app = QApplication([sys.argv[0] if sys.argv else "run_app.py", *argv])   # Qt takes its options
    args = build_parser().parse_args(app.arguments()[1:])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    apply_theme(app)
    window = MainWindow(QSettings())
    window.show()
    signals = close_on_signals(window)
    if args.videos:
        window.open_files(args.videos)
    else:
        window.open_camera(args.camera, fallback=DEMO_VIDEO)
    if args.screenshot:
        screenshot_when_shown(window, args.screenshot, args.screenshot_frame)
    if args.first_pose_exit:
        exit_at_first_pose(window)
    status = app.exec()
    return 128 + signals[0] if signals else status         # as the headless command: 143, 130
