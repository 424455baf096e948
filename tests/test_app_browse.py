"""Moving through a processed video, and what the window marks on it: the demo is processed once
in a window (offscreen, real pipeline, as fast as possible: only the frames the screen can show
are shown while processing), exported, then browsed with the seek bar and the keys. A browsed
frame must be that frame (the image shown while processing, or the video's frame downscaled the
same way) with that frame's CSV row, and nothing is estimated again. Also: no pose drawn between the two people of the demo, filled
frames marked in the overlay and the plot, the latency and progress readouts, the plots' legends
and axes, keyboard shortcuts whatever has the focus, K changed while stopped, and a stream that
never answers (connecting, Stop, timeout with the reason)."""
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QApplication

from app.channel import FrameItem, RunInfo
from app.session import CONNECTING, IDLE, PAUSED, RUNNING
from app.views import FILLED, KEYFRAME, REFINED, VideoView
from app.window import DEMO_VIDEO, MainWindow
from pipeline.config import PipelineConfig, load_refiners
from pipeline.estimators import PoseEstimate, estimator_flops
from pipeline.flops import FlopsReadout
from pipeline.process import pipeline_flops
from pipeline.skeleton import MEDIAPIPE33
from pipeline.streaming import FramePose

from test_app import CARPHONE, Recorder, make_window, wait_ended

N = 230                                  # frames of the demo


def wait_for(predicate, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        QApplication.processEvents()
        time.sleep(0.005)


@pytest.fixture(scope="module")
def demo(qapp, tmp_path_factory):
    """The demo processed in a window and exported: (window, recorder, CSV, progress seen)."""
    folder = tmp_path_factory.mktemp("demo")
    window = MainWindow(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))
    window.show()
    window.confirm_close = False           # closing at the end never waits for a dialog
    if window.realtime_action.isChecked():
        window.realtime_action.trigger()
    rec = Recorder(window)
    progress = []
    window.session.stats_changed.connect(lambda info, s: progress.append(
        (window.timeline.progress.isVisible(), window.timeline.progress.format())))
    window.open_files([DEMO_VIDEO])
    wait_for(lambda: rec.ended)
    csv = folder / "demo.csv"
    done = []
    window.session.export_finished.connect(lambda *a: done.append(a))
    window.export_csv(csv)
    wait_for(lambda: done)
    yield window, rec, pd.read_csv(csv), progress
    window.close()


def csv_pose(df: pd.DataFrame, i: int) -> np.ndarray:
    row = df.loc[i]
    return np.array([[row[f"{j}_x"], row[f"{j}_y"]] for j in MEDIAPIPE33.joints], np.float32)


def browse(window: MainWindow, i: int) -> FrameItem:
    wait_for(lambda: window.video.browsing and window.video.item.pose.index == i, 30)
    return window.video.item


def test_no_drawn_pose_lies_between_the_two_people(demo):
    """The woman walks out on the left (last found at frame 180), the man is found on the right
    at frame 200: before, a pose slid ~1,100 px across the empty wall between them."""
    window, rec, df, _ = demo
    shown = {f.pose.index: f.pose for f in rec.items}                 # every frame's pose
    assert sorted(shown) == list(range(N))
    assert not any(shown[i].has_pose for i in range(181, 200))
    centre = lambda p: p.image[[23, 24]].mean(0)                       # the hips
    assert centre(shown[180])[0] < 300 and centre(shown[200])[0] > 1000
    with_pose = [i for i in range(N) if shown[i].has_pose]
    for a, b in zip(with_pose, with_pose[1:]):
        if b == a + 1:                                                 # walking: ~15 px a frame
            assert np.linalg.norm(centre(shown[b]) - centre(shown[a])) < 40, (a, b)
    # the trajectory plot has no ramp either: nothing plotted between them
    t, x = window.trajectory._x.getData()
    tf, xf = window.trajectory._fx.getData()
    gap = lambda times: (times > 180.5 / 30) & (times < 199.5 / 30)
    assert not np.isfinite(x[gap(t)]).any() and not np.isfinite(xf[gap(tf)]).any()


def test_seek_bar_and_keys_show_each_frame_with_its_csv_row_without_estimating(demo, qtbot, monkeypatch):
    window, rec, df, _ = demo
    assert window.session.state == IDLE and window.session.browsable == N
    assert window.timeline.slider.isEnabled() and window.timeline.slider.maximum() == N - 1
    estimated = []
    import pipeline.estimators.mediapipe as mp_module
    monkeypatch.setattr(mp_module.MediaPipePose, "estimate", lambda *a: estimated.append(a))
    shown_while_processing = {f.pose.index: f for f in rec.frames}
    wanted = (150, 151, 149, 65, 190, N - 1, 0, 42)
    cap = cv2.VideoCapture(str(DEMO_VIDEO))                 # the pictures of the frames browsed
    pictures = {}
    for i in range(max(wanted) + 1):
        ok, image = cap.read()
        if i in wanted:
            pictures[i] = window.session.worker._downscale(image)
    cap.release()
    assert {0, N - 1} <= set(shown_while_processing)
    window.activateWindow()

    def check(i: int) -> FrameItem:
        item = browse(window, i)
        assert item.pose.index == i and window.timeline.slider.value() == i
        assert f"frame {i} / {N - 1}" in window.timeline.label.text()
        np.testing.assert_array_equal(item.image, pictures[i])                       # that frame
        if i in shown_while_processing:        # as shown (then fitted to the view as it was)
            shown = shown_while_processing[i].image
            h, w = item.image.shape[:2]
            same = shown if shown.shape == item.image.shape else cv2.resize(shown, (w, h), interpolation=cv2.INTER_AREA)
            assert np.abs(same.astype(int) - item.image).mean() < 4
        expected = csv_pose(df, i)
        assert np.isnan(item.pose.image).all() == np.isnan(expected).all()
        np.testing.assert_allclose(item.pose.image, expected, atol=0.006)            # its CSV row
        assert item.pose.detected == bool(df.detected[i]) and item.pose.keyframe == bool(df.keyframe[i])
        key, raw = item.held_raw                                                      # and its raw one
        assert key == i - i % 10
        if df.detected[key] and df.keyframe[key]:
            np.testing.assert_allclose(raw.image, csv_pose(df, key), atol=0.006)     # pinned keyframes
        else:
            assert raw is None
        return item

    window.timeline.slider.setValue(150)             # the user drags the seek bar
    check(150)
    qtbot.keyClick(window.video, Qt.Key.Key_Right)
    check(151)
    qtbot.keyClick(window.video, Qt.Key.Key_Left)
    qtbot.keyClick(window.video, Qt.Key.Key_Left)
    check(149)
    window.timeline.slider.setValue(65)              # a pose filled across a missed keyframe
    assert check(65).pose.filled
    window.timeline.slider.setValue(190)             # between the two people: nobody
    assert not check(190).pose.has_pose
    qtbot.keyClick(window.video, Qt.Key.Key_End)
    check(N - 1)
    qtbot.keyClick(window.video, Qt.Key.Key_Home)
    check(0)
    for i in (3, 97, 200, 42):                       # fast scrubbing: the last one wins
        window.timeline.slider.setValue(i)
    check(42)
    assert window.trajectory.cursor.isVisible() and window.trajectory.cursor.value() == pytest.approx(42 / 30)
    assert not estimated and len(rec.started) == 1   # nothing estimated, no run started again


def test_filled_frames_are_drawn_dashed_with_a_tag_and_dashed_in_the_plot(demo):
    window, rec, df, _ = demo
    filled = {f.pose.index for f in rec.items if f.pose.filled}
    csv_filled = set(df.frame[df.left_hip_x.notna() & (df.detected == 0)])
    assert filled == csv_filled and len(filled) >= 10
    t, x = window.trajectory._x.getData()
    tf, xf = window.trajectory._fx.getData()
    frames = np.round(t * 30).astype(int)
    assert not np.isfinite(x[np.isin(frames, list(filled))]).any()       # solid: only real detections
    assert np.isfinite(xf[np.isin(frames, list(filled))]).all()          # dashed: the filled ones
    assert window.trajectory.legend.getLabel(window.trajectory._fx).text == "filled (no detection)"
    # drawn: grey and dashed, with a FILLED tag, not in the refined blue
    window.session.seek(65)
    browse(window, 65)
    image = window.video.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    pixels = pixels[:, :3 * image.width()].reshape(image.height(), image.width(), 3).astype(int)
    near = lambda c: (np.abs(pixels - [c.red(), c.green(), c.blue()]).sum(-1) < 30).sum()
    assert near(FILLED) > 200 and near(REFINED) < 20


def test_latency_and_progress_readouts_agree_with_the_readme(demo):
    """The display latency is K*Q frames at most in the window mode (30 at K=10, Q=3, 1 s at
    30 fps), K in the keyframe mode; a missed keyframe holds its frames until the next detection,
    up to one more window (keyframe mode, a file: one more keyframe interval): 'worst'."""
    window, rec, _, progress = demo
    r = window.readout
    k, q = 10, load_refiners(PipelineConfig(k=10))[0].q        # Q=1 where the app interpolates
    latency = [f.snapshot.latency_frames for f in rec.items]
    if rec.started[0].latency == "window":
        worst, typical_range = k * q + k, (k * q - k, k * q)
    else:                                             # frame K(i-1)+1 waits for keyframe i (+1 missed)
        worst, typical_range = 2 * k - 1, (0, k)
    assert max(latency[:200]) == worst                # keyframes 70 and 190 were missed
    typical = int(r.value("latency").split()[0])
    assert typical_range[0] <= typical <= typical_range[1]
    assert r.value("latency").endswith(f"{round(typical * 1000 / 30)} ms")
    assert r.value("worst_latency") == f"{worst} frames · {round(worst * 1000 / 30)} ms"
    # a progress bar for files: frames done / total and the time left, hidden once done
    assert progress and all(visible for visible, _ in progress)
    texts = [text for _, text in progress]
    assert any(t.startswith("processing ") and t.endswith(" left") and "/ 230" in t for t in texts)
    assert not window.timeline.progress.isVisible()


def test_legends_sit_above_the_data_and_the_empty_flops_axis_is_legible(demo, qtbot, tmp_path):
    window = demo[0]
    for plot in (window.trajectory, window.flops_plot):
        legend = plot.legend.sceneBoundingRect()
        assert legend.height() > 5
        assert not legend.intersects(plot.plot.getPlotItem().vb.sceneBoundingRect())
    empty = make_window(qtbot, tmp_path / "settings.ini")
    axis = empty.flops_plot.plot.getAxis("left")
    canvas = QImage(800, 400, QImage.Format.Format_RGB32)
    painter = QPainter(canvas)
    labels = [text for _, _, text in axis.generateDrawSpecs(painter)[2]]
    painter.end()
    assert labels and len(labels) <= 6, labels          # decades, not 2 3 4 ... 9 crammed together
    empty.close()


def test_shortcuts_work_whatever_widget_has_the_focus(qtbot, tmp_path, monkeypatch):
    window = make_window(qtbot, tmp_path / "settings.ini", realtime=True)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    assert QApplication.focusWidget() is not window.camera_box       # at start: not the spin box
    asked = []
    monkeypatch.setattr("app.window.QInputDialog.getText", lambda *a, **k: asked.append(a) or ("", False))
    rec = Recorder(window)
    s = window.session
    window.open_files([CARPHONE])
    qtbot.waitUntil(lambda: len(rec.frames) >= 5, timeout=30_000)
    window.camera_box.setFocus()
    assert QApplication.focusWidget() is window.camera_box
    text = window.camera_box.text()
    qtbot.keyClick(window.camera_box, Qt.Key.Key_Space)
    assert s.state == PAUSED
    qtbot.keyClick(window.camera_box, Qt.Key.Key_Space)
    assert s.state == RUNNING
    qtbot.keyClick(window.camera_box, Qt.Key.Key_U, Qt.KeyboardModifier.ControlModifier)
    assert len(asked) == 1 and window.camera_box.text() == text     # the URL dialog, not the box
    window.overlay_box.setFocus()
    overlay = window.overlay_box.currentIndex()
    qtbot.waitUntil(lambda: len(rec.frames) >= 20, timeout=30_000)
    qtbot.keyClick(window.overlay_box, Qt.Key.Key_Left)              # a step back (pauses)
    assert s.state == PAUSED and window.overlay_box.currentIndex() == overlay
    qtbot.waitUntil(lambda: window.video.browsing, timeout=10_000)
    assert window.video.item.pose.index == s.position < rec.frames[-1].pose.index
    window.close()


def test_k_changed_while_stopped_updates_the_theoretical_speed_up(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path / "settings.ini")
    qtbot.waitUntil(lambda: window.session.cfg is not None, timeout=20_000)
    qtbot.waitUntil(lambda: window.readout.value("theoretical") != "–", timeout=20_000)
    expected = {}
    for k in (5, 20):
        cfg = PipelineConfig(k=k)
        flops = pipeline_flops(load_refiners(cfg), None, estimator_flops("mediapipe", static=True))
        expected[k] = f"{flops.theoretical_speedup:.2f}×"
    for k in (5, 20):
        box = window.controls.k_box
        box.setCurrentIndex(box.findData(k))
        box.activated.emit(box.currentIndex())               # the user picks K; nothing plays
        qtbot.waitUntil(lambda: window.readout.value("theoretical") == expected[k], timeout=20_000)
        assert window.session.state == IDLE and window.session.cfg.k == k
        assert "K=" + str(k) in window.readout._labels["estimator"].toolTip()
    assert expected[5] != expected[20]
    window.close()


@pytest.fixture
def silent_server():
    """A local TCP server that accepts connections and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []
    stop = threading.Event()

    def serve():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/live.mp4"
    stop.set()
    thread.join(2)
    for c in held:
        c.close()
    server.close()


def test_unresponsive_stream_shows_connecting_stop_cancels_and_it_times_out(window, qtbot, silent_server):
    rec = Recorder(window)
    s = window.session
    status = window.statusBar().currentMessage
    window.open_files([Path("missing.mp4")])                         # an old error on screen
    qtbot.waitUntil(lambda: "no such file" in status(), timeout=10_000)
    window.open_url(silent_server)
    qtbot.waitUntil(lambda: s.state == CONNECTING, timeout=5000)
    assert status().startswith("connecting to " + silent_server) and "Stop cancels" in status()
    assert "connecting to" in window.video._placeholder and window.state_label.text() == "connecting …"
    started = time.monotonic()
    window.stop_action.trigger()
    qtbot.waitUntil(lambda: s.state == IDLE, timeout=3000)
    assert time.monotonic() - started < 2
    assert status() == "stopped connecting to " + silent_server and not rec.started

    s.worker.stream_timeout_s = 2.0
    started = time.monotonic()
    window.open_url(silent_server)
    qtbot.waitUntil(lambda: s.state == CONNECTING, timeout=5000)
    qtbot.waitUntil(lambda: s.state == IDLE, timeout=15_000)
    assert 1.5 < time.monotonic() - started < 8
    host = silent_server.split("/")[2]
    assert rec.errors()[-1] == (f"stream {silent_server} could not be opened: no answer from {host} "
                                "after 2 s (it accepted the connection but sent nothing)")
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))                                   # a port nothing listens on
    port = refused.getsockname()[1]
    refused.close()
    window.open_url(f"rtsp://127.0.0.1:{port}/cam")
    qtbot.waitUntil(lambda: "connection refused" in status(), timeout=10_000)
    assert s.state == IDLE and not rec.started


@pytest.fixture
def window(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path / "settings.ini")
    yield w
    w.close()


def test_low_confidence_joints_are_faded_and_nothing_is_drawn_outside_the_picture(qtbot):
    """As on carphone.mp4 (176x144), where MediaPipe puts the unseen ankles ~270 px below it."""
    view = VideoView()
    qtbot.addWidget(view)
    view.resize(400, 600)
    view.show()
    skeleton = MEDIAPIPE33
    info = RunInfo("synthetic", "x.mp4", False, 30.0, (200, 200), 1, 10, 3, 3,
                   FlopsReadout(10, 1e9, 1e6), 30, skeleton, False, "mediapipe", "w")
    image = np.zeros((200, 200, 3), np.uint8)
    j = skeleton.index
    pose = np.full((33, 2), 40, np.float32)                   # the joints not used: at the shoulder
    conf = np.full(33, 0.99, np.float32)
    pose[[j("left_elbow"), j("left_wrist")]] = [[100, 40], [160, 40]]
    hand = [j("left_wrist"), j("left_pinky"), j("left_index"), j("left_thumb")]
    pose[hand], conf[hand] = [160, 40], 0.05                  # the wrist: a guess
    pose[[j("left_hip"), j("left_knee")]] = [[40, 150], [40, 260]]      # the knee below the picture
    foot = [j("left_ankle"), j("left_heel"), j("left_foot_index")]
    pose[foot], conf[foot] = [40, 470], 0.0                   # the ankle 270 px below it
    conf[j("left_knee")] = 0.01
    view.start(info)
    view.show_frame(FrameItem(FramePose(0, 0.0, False, True, pose, conf, None), image, None))
    grab = view.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    px = np.frombuffer(grab.constBits(), np.uint8).reshape(grab.height(), grab.bytesPerLine())
    px = px[:, :3 * grab.width()].reshape(grab.height(), grab.width(), 3).astype(int)
    scale, top = 2.0, 100                                     # 200 px shown as 400, centred
    blue = np.array([REFINED.red(), REFINED.green(), REFINED.blue()])
    colour_at = lambda x, y: px[int(y * scale + top), int(x * scale)]
    assert np.abs(colour_at(70, 40) - blue).sum() < 40        # shoulder-elbow: sure, full colour
    assert np.abs(colour_at(130, 40) - blue).sum() > 150      # elbow-wrist: faded into the picture
    below = px[int(200 * scale + top) + 3:]                   # under the picture: the background
    assert (below == [16, 18, 20]).all()
    keyframe = np.array([KEYFRAME.red(), KEYFRAME.green(), KEYFRAME.blue()])
    assert not (np.abs(px - keyframe).sum(-1) < 30).any()    # not a keyframe: no KEY tag
