"""The desktop app, offscreen, on real videos with the real pipeline (nothing mocked): every frame
gets its refined pose (on screen in real time; as fast as possible, the frames shown are those the
screen can show and the others' poses still reach the plots), the readout shows measured numbers, drops queue videos, bad
inputs give messages and leave the app usable, exports are whole CSVs in the headless schema."""
import json
import re
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QEvent, QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtWidgets import QApplication, QToolBar
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QMouseEvent
from PySide6.QtWidgets import QApplication

from app.controls import PipelineControls
from app.readout import flops_text
from app.session import IDLE, PAUSED, RUNNING
from app.views import PoseView3D
from app.window import DEMO_VIDEO, MainWindow
from pipeline.config import PipelineConfig, load_refiners
from pipeline.io.export import columns
from pipeline.io.sources import VideoSource
from pipeline.paths import VIDEO_DIR, WEIGHTS_DIR
from pipeline.process import process_video
from pipeline.skeleton import MEDIAPIPE33

CARPHONE = VIDEO_DIR / "carphone.mp4"      # 120 frames, 176x144: quick


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    """Two short real clips (the first and last 40 frames of carphone.mp4)."""
    folder = tmp_path_factory.mktemp("clips")
    cap = cv2.VideoCapture(str(CARPHONE))
    frames = [cap.read()[1] for _ in range(120)]
    out = []
    for name, part in (("first.mp4", frames[:40]), ("last.mp4", frames[-40:])):
        writer = cv2.VideoWriter(str(folder / name), cv2.VideoWriter_fourcc(*"mp4v"), 30, (176, 144))
        for f in part:
            writer.write(f)
        writer.release()
        out.append(folder / name)
    return out


def make_window(qtbot, settings_file: Path, realtime: bool = False) -> MainWindow:
    """A window whose settings live in a test folder (the user's are never touched)."""
    window = MainWindow(QSettings(str(settings_file), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.confirm_close = False           # closing at the end never waits for a dialog
    window.announced = []                  # every size the video view told the worker, in order
    window.video.display_size_changed.connect(lambda w, h: window.announced.append((w, h)))
    window.show()
    if window.realtime_action.isChecked() != realtime:
        window.realtime_action.trigger()
    return window


@pytest.fixture
def window(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path / "settings.ini")
    yield w
    w.close()
    assert w.session.worker.isFinished()


class Recorder:
    """Everything the session tells the views: `frames` shown; `items`, every frame processed
    (shown, or passed without a picture), in the order the GUI got them."""

    def __init__(self, window: MainWindow):
        s = window.session
        self.frames, self.items, self.started, self.ended, self.messages = [], [], [], [], []
        s.frame_shown.connect(self.frames.append)
        s.frame_shown.connect(self.items.append)
        s.frames_passed.connect(self.items.extend)
        s.run_started.connect(self.started.append)
        s.run_ended.connect(self.ended.append)
        s.message.connect(lambda text, error: self.messages.append((text, error)))

    def errors(self) -> list[str]:
        return [t for t, e in self.messages if e]


def number(text: str) -> float:
    return float(re.match(r"[\d.]+", text).group())


def wait_ended(qtbot, rec: Recorder, n: int = 1, timeout: int = 90_000):
    qtbot.waitUntil(lambda: len(rec.ended) >= n, timeout=timeout)
    return rec.ended[n - 1]


def test_demo_every_frame_refined_readout_and_export_queued_mid_run(window, qtbot, tmp_path):
    rec = Recorder(window)
    s = window.session
    progress = []
    s.export_progress.connect(lambda done, total: progress.append((done, total)))
    csv = tmp_path / "out" / "demo.csv"
    with qtbot.waitSignal(s.run_started, timeout=30_000):
        window.open_files([DEMO_VIDEO])
    window.export_csv(csv)                                   # mid-run: queued, nothing written yet
    assert s.state == RUNNING
    assert "export queued" in window.statusBar().currentMessage()
    assert not csv.exists() and not list(csv.parent.glob("*"))
    qtbot.waitUntil(lambda: rec.messages and "exported" in rec.messages[-1][0], timeout=120_000)
    result = rec.ended[0]

    # real-time pacing off: every frame processed once, in order, with its own refined pose,
    # which reaches the plots; the frames shown (those the screen can show) in order, from the
    # first to the last, each with its picture; the others have none
    n = 230
    assert [f.pose.index for f in rec.items] == list(range(n))
    assert [f.pose.index for f in rec.items if f.pose.keyframe] == list(range(0, n, 10))
    shown = [f.pose.index for f in rec.frames]
    assert shown == sorted(set(shown)) and shown[0] == 0 and shown[-1] == n - 1
    # each fitted to a size the view announced (the layout may settle while the first frames
    # are on their way: those are drawn resampled), the last to the view's size now: drawn 1:1
    def fitted(image, w, h):
        fit = min(w / 1768, h / 994)
        return abs(image.shape[1] - 1768 * fit) <= 1 and abs(image.shape[0] - 994 * fit) <= 1
    assert all(f.image is not None and any(fitted(f.image, *a) for a in window.announced)
               for f in rec.frames)
    dpr = window.video.devicePixelRatioF()
    assert fitted(rec.frames[-1].image, window.video.width() * dpr, window.video.height() * dpr)
    assert sum(f.image is None for f in rec.items) == n - len(shown)
    with_pose = [f.pose.index for f in rec.items if f.pose.has_pose]
    assert len(with_pose) > 100 and with_pose[-1] == n - 1          # a person from about frame 60
    assert result.error is None and not result.stopped and len(result.track) == n
    for f in rec.items:                                             # the poses the run kept
        np.testing.assert_array_equal(f.pose.image, result.track.pose(f.pose.index).image)
    assert window.video.item.pose.index == n - 1
    assert window.trajectory.refined.n == n and window.flops_plot.frames.n == n

    # the readout: real, non-zero numbers
    r = window.readout
    refiners = load_refiners(PipelineConfig(k=10))         # what `auto` gives a file
    interpolated = all(x is None or x.is_linear for x in refiners)   # no accepted refiner: 0 FLOPs
    for key in ("estimator", "effective") + (() if interpolated else ("refiner",)):
        assert number(r.value(key)) > 0 and "FLOPs" in r.value(key)
    flops = result.info.flops                             # what the pipeline counted
    for key, value in (("estimator", flops.estimator_per_frame), ("refiner", flops.refiner_per_frame),
                       ("effective", flops.effective_per_frame)):
        assert r.value(key) == flops_text(value)
    assert 1e8 < flops.estimator_per_frame
    assert flops.refiner_per_frame == 0 if interpolated else 1e5 < flops.refiner_per_frame < 1e7
    assert number(r.value("theoretical")) > 5
    assert number(r.value("fps")) > 1 and number(r.value("measured")) > 0.5
    assert number(r.value("estimator_ms")) > 1
    windowed = refiners[0].card.config.latency == "window" and not interpolated     # K*Q frames late
    assert re.fullmatch(r"\d+ frames · \d+ ms", r.value("latency")) and number(r.value("latency")) >= (20 if windowed else 0)
    assert r.value("mode").startswith(f"{result.info.latency} ")
    assert r.value("frames") == f"{n} / {n}"

    # the queued export: the whole CSV in the headless schema, with its sidecar and a full progress bar
    df = pd.read_csv(csv)
    assert list(df.columns) == columns(MEDIAPIPE33, world=True)
    assert len(df) == n and (df.frame == np.arange(n)).all()
    assert df.loc[df.frame.isin(with_pose), "left_wrist_x"].notna().all()
    meta = json.loads(csv.with_suffix(".json").read_text())
    assert meta["frames"] == n and meta["k"] == 10 and meta["app"]["ended"] == "complete"
    assert progress[0] == (0, n) and progress[-1] == (n, n) and window.export_bar.isHidden()
    assert not list(csv.parent.glob(".*partial"))


def test_as_fast_as_possible_decodes_only_the_frames_shown_and_exports_the_headless_csv(
        window, qtbot, tmp_path, monkeypatch):
    """Real-time pacing off, at most one frame is shown per `fast_display_s` of processing (here
    one a second, to see it on any machine): only those and the keyframes are decoded to pixels;
    every frame is still processed, its pose sent (for the plots), kept and exported as headless
    writes it, and a frame not shown can be browsed after the run."""
    decoded = []                                 # frames the run decoded to pixels
    original = VideoSource.frames

    def frames(self, need_pixels=lambda i: True):
        for frame in original(self, need_pixels):
            if frame.image is not None:
                decoded.append(frame.index)
            yield frame

    monkeypatch.setattr(VideoSource, "frames", frames)
    rec = Recorder(window)
    times = []
    window.session.run_started.connect(lambda info: times.append(time.monotonic()))
    window.session.run_ended.connect(lambda result: times.append(time.monotonic()))
    window.session.worker.fast_display_s = 1.0
    window.open_files([CARPHONE])
    result = wait_ended(qtbot, rec)
    n = 120
    shown = [f.pose.index for f in rec.frames]
    assert [f.pose.index for f in rec.items] == list(range(n)) and len(result.track) == n
    assert shown[0] == 0 and shown[-1] == n - 1 and shown == sorted(set(shown))
    # the first and the last, and one a second by the picker's clock, which starts as the source
    # opens, before the GUI hears of the run (the run here takes about a second: one more)
    assert len(shown) <= times[1] - times[0] + 3 and len(shown) < n // 2, shown
    assert sorted(set(decoded)) == sorted(set(shown) | set(range(0, n, 10)))
    assert all(f.image is not None for f in rec.frames)
    assert window.trajectory.refined.n == n and window.flops_plot.frames.n == n
    hidden = next(i for i in range(n // 2, n) if i not in shown)        # browse one not shown
    with qtbot.waitSignal(window.session.frame_browsed, timeout=30_000) as browsed:
        window.session.seek(hidden)
    item = browsed.args[0]
    cap = cv2.VideoCapture(str(CARPHONE))
    picture = [cap.read()[1] for _ in range(hidden + 1)][-1]
    assert item.pose.index == hidden and window.video.item is item
    np.testing.assert_array_equal(item.image, picture)
    np.testing.assert_array_equal(item.pose.image, result.track.pose(hidden).image)
    gui_csv = tmp_path / "gui" / "carphone.csv"
    with qtbot.waitSignal(window.session.export_finished, timeout=60_000) as done:
        window.export_csv(gui_csv)
    assert done.args == [str(gui_csv), True]
    cfg = window.session.cfg
    headless = process_video(CARPHONE, tmp_path / "headless", PipelineConfig(k=cfg.k, q=cfg.q),
                             progress=False)
    gui, ref = pd.read_csv(gui_csv), pd.read_csv(headless.csv)
    assert list(gui.columns) == list(ref.columns) and len(gui) == len(ref)
    exact = ["frame", "time_s", "keyframe", "detected"]
    pd.testing.assert_frame_equal(gui[exact], ref[exact])
    # headless refines 16 windows per call, the GUI one: float sums differ in the last bits, so
    # a value may round the other way, by one unit of the last digit written (2, 4, 5 decimals)
    for col in gui.columns[4:]:
        unit = {"x": 1e-2, "y": 1e-2, "f": 1e-4}.get(col[-1], 1e-5)
        assert gui[col].isna().equals(ref[col].isna()), col
        assert ((gui[col] - ref[col]).abs().fillna(0) <= 1.01 * unit).all(), col


def test_dropping_several_files_queues_them(window, qtbot, clips):
    rec = Recorder(window)
    queued_at_start = []
    window.session.run_started.connect(lambda info: queued_at_start.append(window.queue_label.text()))
    notes = clips[0].parent / "notes.txt"
    notes.write_text("not a video\n")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in [clips[0], notes, *clips[1:]]])
    where = window.video.mapTo(window, window.video.rect().center())
    enter = QDragEnterEvent(where, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(where), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)
    assert drop.isAccepted()
    assert "not opened: notes.txt: not a video file" in window.statusBar().currentMessage()   # at once
    wait_ended(qtbot, rec, 2)
    assert [i.name for i in rec.started] == ["first.mp4", "last.mp4"]
    assert queued_at_start == ["queued: 1", ""]
    for result in rec.ended:
        assert result.error is None and len(result.track) == 40
    assert [f.pose.index for f in rec.items] == list(range(40)) * 2


def test_export_all_writes_every_video_of_the_batch_and_follows_those_still_to_play(window, qtbot, tmp_path, clips):
    """A batch (files opened together) is exported to a folder, one CSV each, also the runs that
    end after the request; two videos with the same stem get distinct names; a new batch starts
    afresh."""
    import json
    import shutil
    rec = Recorder(window)
    s = window.session
    twin = tmp_path / "elsewhere" / "first.mp4"          # same stem as clips[0]
    twin.parent.mkdir()
    shutil.copy(clips[1], twin)
    with qtbot.waitSignal(s.run_started, timeout=30_000):
        window.open_files([clips[0], twin, clips[1]])
    out = tmp_path / "out"
    window.export_all(out)                              # nothing finished yet: it follows the batch
    assert "the 3 still playing or queued are written there as each ends" in window.statusBar().currentMessage()
    assert str(out) in window.unsaved()                 # closing now would ask
    wait_ended(qtbot, rec, 3)
    qtbot.waitUntil(lambda: not s.exporting and len(list(out.glob("*.csv"))) == 3, timeout=60_000)
    assert window.unsaved() is None
    videos = {}
    for csv in sorted(out.glob("*.csv")):
        assert len(pd.read_csv(csv)) == 40
        videos[csv.name] = Path(json.loads(csv.with_suffix(".json").read_text())["video"])
    assert videos == {"first.csv": clips[0].resolve(), "first-2.csv": twin.resolve(),
                      "last.csv": clips[1].resolve()}
    # all finished: a second folder gets the three at once, names as planned
    again = tmp_path / "again"
    assert [p.name for p in s.planned_paths(again)] == ["first-2.csv", "first.csv", "last.csv"]
    window.export_all(again)
    assert "exporting 3 finished video(s)" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: not s.exporting and len(list(again.glob("*.csv"))) == 3, timeout=60_000)
    # a file where the folder should be: a message, nothing written
    (tmp_path / "a_file").write_text("")
    window.export_all(tmp_path / "a_file")
    assert "it is a file, not a folder" in window.statusBar().currentMessage()
    # a new batch forgets the old one; closing while one export writes and one waits writes both
    with qtbot.waitSignal(s.run_started, timeout=30_000):
        window.open_files([clips[1], clips[0]])
    wait_ended(qtbot, rec, 5)
    last = tmp_path / "last"
    assert [p.name for p in s.planned_paths(last)] == ["first.csv", "last.csv"]
    window.export_all(last)
    window.close()
    assert sorted(p.name for p in last.iterdir()) == ["first.csv", "first.json", "last.csv", "last.json"]


def test_export_all_keeps_whole_runs_and_knows_what_is_still_to_come(qtbot, tmp_path, clips):
    """Runs replaced before they end (restart, new settings, other videos opened) are no results;
    a stopped re-run never replaces a whole run already exported; the names planned include the
    videos still to play; a drop when nothing plays starts a new batch."""
    window = make_window(qtbot, tmp_path / "settings.ini", realtime=True)      # 40 frames: 1.3 s
    rec = Recorder(window)
    s = window.session
    window.open_files([clips[0], clips[1]])
    out = tmp_path / "out"
    assert [p.name for p in s.planned_paths(out)] == []      # not started: nothing known to come yet
    window.export_all(out)                                   # asked for before the first run starts
    assert "nothing to export" not in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: s.state == "running", timeout=30_000)
    assert [p.name for p in s.planned_paths(out)] == ["first.csv", "last.csv"]   # playing and queued
    qtbot.waitUntil(lambda: s.browsable > 5, timeout=30_000)
    s.restart()                                              # replaced: neither kept nor exported
    wait_ended(qtbot, rec, 3)                                # the cut run, its re-run, the second
    qtbot.waitUntil(lambda: not s.exporting and len(list(out.glob("*.csv"))) == 2, timeout=60_000)
    assert rec.ended[0].replaced and not rec.ended[1].replaced
    assert [len(pd.read_csv(out / n)) for n in ("first.csv", "last.csv")] == [40, 40]
    assert not any("stopped after" in m for m, _ in rec.messages)
    # the last video again, stopped early: its whole CSV stays
    s.restart()
    qtbot.waitUntil(lambda: s.state == "running" and s.browsable > 5, timeout=30_000)
    s.stop()
    wait_ended(qtbot, rec, 4)
    assert rec.ended[3].stopped and not rec.ended[3].replaced
    assert "its complete run before stays in" in window.statusBar().currentMessage()
    qtbot.wait(500)
    assert len(pd.read_csv(out / "last.csv")) == 40 and not s.exporting
    # nothing plays: a dropped (enqueued) video starts a new batch, which follows no folder
    window.enqueue_files([str(clips[0])])
    wait_ended(qtbot, rec, 5)
    assert list(s.batch) == [str(clips[0])] and s.batch_following is None
    # a new batch opened while one plays: the cut-short video is not part of it
    window.open_files([clips[1], clips[0]])
    qtbot.waitUntil(lambda: s.state == "running" and s.browsable > 5, timeout=30_000)
    window.open_files([clips[0]])
    wait_ended(qtbot, rec, 7)
    assert rec.ended[5].replaced and list(s.batch) == [str(clips[0])]


def test_export_all_lists_the_videos_of_the_batch_that_could_not_be_read(window, qtbot, tmp_path, clips):
    rec = Recorder(window)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).bytes(50_000))
    with qtbot.waitSignal(window.session.run_started, timeout=30_000):
        window.open_files([corrupt, clips[0]])              # the first fails before Export all
    out = tmp_path / "out"
    window.export_all(out)
    wait_ended(qtbot, rec)
    qtbot.waitUntil(lambda: "could not be read" in window.statusBar().currentMessage(), timeout=30_000)
    assert f"1 video(s) of the batch could not be read and have no CSV in {out}: corrupt.mp4" in \
        window.statusBar().currentMessage()
    assert sorted(p.name for p in out.iterdir()) == ["first.csv", "first.json"]


def test_bad_inputs_give_messages_and_leave_the_app_usable(window, qtbot, tmp_path, clips):
    rec = Recorder(window)
    status = window.statusBar().currentMessage
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).bytes(200_000))
    window.open_files([corrupt])
    qtbot.waitUntil(lambda: "corrupt.mp4: not a video file" in status(), timeout=10_000)
    window.open_files([tmp_path / "missing.mp4"])
    qtbot.waitUntil(lambda: "missing.mp4: no such file" in status(), timeout=10_000)
    window.open_camera(7)
    qtbot.waitUntil(lambda: "camera 7 could not be opened" in status(), timeout=10_000)
    assert window.session.state == IDLE and not rec.started

    # start-up without a camera: the bundled demo (here a short clip) plays instead
    window.open_camera(7, fallback=clips[0])
    wait_ended(qtbot, rec)
    assert any("camera 7 could not be opened" in m and "playing the bundled demo first.mp4" in m
               for m in rec.errors())
    assert rec.started[0].name == "first.mp4" and len(rec.ended[0].track) == 40
    assert [f.pose.index for f in rec.items] == list(range(40))


def test_stream_lost_mid_run_keeps_the_poses_and_offers_export(window, qtbot, tmp_path):
    rec = Recorder(window)
    window.open_url(CARPHONE.resolve().as_uri())            # a live source that ends: like a lost camera
    result = wait_ended(qtbot, rec)
    assert rec.started[0].live and "stream lost after 120 frames" in result.error
    kept = len(result.track)
    assert kept > 0 and result.snapshot.dropped > 0          # stale frames were dropped, not queued
    assert "stream lost" in window.statusBar().currentMessage()
    assert f"the poses of the {kept} frames read are kept" in window.statusBar().currentMessage()
    assert not window.offer_button.isHidden()
    assert "not exported yet" in window.unsaved()                   # closing now would ask
    (tmp_path / "a_file").write_text("")
    with qtbot.waitSignal(window.session.export_finished, timeout=30_000) as failed:
        window.export_csv(tmp_path / "a_file" / "lost.csv")        # unwritable: a message, no file
    assert failed.args[1] is False and "cannot write" in window.statusBar().currentMessage()
    assert not window.offer_button.isHidden()
    csv = tmp_path / "lost.csv"
    with qtbot.waitSignal(window.session.export_finished, timeout=30_000):
        window.export_csv(csv)
    df = pd.read_csv(csv)
    assert len(df) == kept and (df.frame == np.arange(kept)).all()
    assert json.loads(csv.with_suffix(".json").read_text())["app"]["ended"].endswith("lost after 120 frames")
    assert window.offer_button.isHidden() and window.unsaved() is None


def test_a_live_source_at_zero_latency_shows_each_frame_with_its_own_pose(window, qtbot):
    """A network camera (paced MJPEG on loopback) at zero latency: the pose drawn with frame n
    was final before any later frame was read, so it rests on keyframes <= n only. `auto` gives
    a live source the keyframe mode (at most K frames late)."""
    from servers import MjpegCamera
    rec = Recorder(window)
    qtbot.waitUntil(lambda: window.session.cfg is not None, timeout=10_000)
    box = window.controls.latency_box
    for run, latency in enumerate(("zero", "auto")):
        box.setCurrentIndex(box.findData(latency))
        box.activated.emit(box.currentIndex())
        qtbot.waitUntil(lambda: window.session.cfg.latency == latency, timeout=10_000)
        before = len(rec.frames)
        with MjpegCamera(CARPHONE) as camera:                # 120 frames at 30 fps, then it hangs up
            window.open_url(camera.url)
            wait_ended(qtbot, rec, run + 1)
        shown = rec.frames[before:]
        info = rec.started[run]
        assert info.live and len(rec.ended[run].track) > 20   # kept: whether it keeps up is bench/live_latency.py's
        if latency == "zero":
            assert info.latency == "zero" and info.max_latency_frames == 0
            assert all(f.snapshot.latency_frames == 0 for f in shown)
            assert sum(f.pose.has_pose for f in shown) > 10
            assert window.readout._labels["mode"].text().startswith("zero (0 frames")
        else:
            assert info.latency == "keyframe" and info.max_latency_frames == info.k
            assert max(f.snapshot.latency_frames for f in shown) <= info.k


def test_mismatched_weights_are_refused_with_a_message(window, qtbot, tmp_path):
    rec = Recorder(window)
    qtbot.waitUntil(lambda: window.session.cfg is not None, timeout=10_000)
    before = window.session.cfg
    card = WEIGHTS_DIR / "image_k10_q3.json"
    shutil.copy(card, tmp_path / "broken.json")
    (tmp_path / "broken.pt").write_bytes(b"not a torch file")
    window.controls.use_weights(tmp_path / "broken.pt")      # no .onnx: torch (imported now) reads it
    qtbot.waitUntil(lambda: any("corrupt or truncated" in m for m in rec.errors()), timeout=60_000)
    data = json.loads(card.read_text())
    data["joints"] = data["joints"][::-1]
    (tmp_path / "other_joints.json").write_text(json.dumps(data))
    shutil.copy(card.with_suffix(".pt"), tmp_path / "other_joints.pt")
    window.controls.use_weights(tmp_path / "other_joints.json")
    qtbot.waitUntil(lambda: any("are for joints" in m for m in rec.errors()), timeout=10_000)
    assert "settings not changed" in window.statusBar().currentMessage()
    assert window.session.cfg == before and window.controls.weights_button.text() == "Weights: shipped"


def test_pause_resume_restart_and_close_mid_run(qtbot, tmp_path, clips):
    window = make_window(qtbot, tmp_path / "settings.ini", realtime=True)
    rec = Recorder(window)
    s = window.session
    window.open_files([clips[0]])
    qtbot.waitUntil(lambda: len(rec.frames) >= 3, timeout=30_000)
    s.toggle_pause()
    assert s.state == PAUSED and window.play_action.text() == "Play"
    shown = len(rec.frames)
    qtbot.wait(700)
    assert len(rec.frames) == shown                        # nothing moves while paused
    s.toggle_pause()
    result = wait_ended(qtbot, rec)
    assert [f.pose.index for f in rec.frames] == list(range(40)) and not result.stopped
    window.restart_action.trigger()
    wait_ended(qtbot, rec, 2)
    assert [i.name for i in rec.started] == ["first.mp4"] * 2
    assert [f.pose.index for f in rec.frames] == list(range(40)) * 2

    window.open_files([DEMO_VIDEO])                           # close while the demo is running
    qtbot.waitUntil(lambda: len(rec.frames) >= 90, timeout=60_000)
    start = time.perf_counter()
    window.close()
    assert window.session.worker.isFinished() and time.perf_counter() - start < 10


def test_k_and_q_offer_accepted_refiners_and_interpolation(qtbot, tmp_path):
    card = json.loads((WEIGHTS_DIR / "image_k10_q3.json").read_text())
    for name, space, k, q, pt, ok in (("image_k10_q3", "image", 10, 3, True, True),
                                      ("image_k5_q2", "image", 5, 2, True, True),
                                      ("image_k20_q3", "image", 20, 3, False, True),
                                      ("world_k8_q3", "world", 8, 3, True, True),
                                      ("image_k15_q3", "image", 15, 3, True, False)):
        (tmp_path / f"{name}.json").write_text(json.dumps({
            **card, "name": name, "space": space, "model": {**card["model"], "k": k, "q": q},
            "evaluation": {"accepted": ok}}))
        if pt:
            (tmp_path / f"{name}.pt").write_bytes(b"")
    controls = PipelineControls(weights_dir=tmp_path)
    qtbot.addWidget(controls)
    ks = [controls.k_box.itemData(i) for i in range(controls.k_box.count())]
    assert ks == [5, 8, 10, 20]            # K=15 is not accepted; K=20 has no weights file: interpolated
    controls.k_box.setCurrentIndex(ks.index(20))
    controls.k_box.activated.emit(ks.index(20))
    assert [controls.q_box.itemText(i) for i in range(controls.q_box.count())] == ["auto"]
    controls.k_box.setCurrentIndex(0)
    with qtbot.waitSignal(controls.changed) as asked:
        controls.k_box.activated.emit(0)
    assert [controls.q_box.itemData(i) for i in range(controls.q_box.count())] == [2]
    assert (asked.args[0].k, asked.args[0].q, asked.args[0].weights) == (5, 2, None)


def test_3d_view_flips_y_and_orbits_when_dragged(qtbot):
    view = PoseView3D()
    qtbot.addWidget(view)
    view.pitch = 0.0
    view.set_yaw(0)
    point = np.array([0.3, -0.5, 0.2])                     # MediaPipe world: y points down
    np.testing.assert_allclose(view.project(point), [0.3, 0.5])
    view.set_yaw(90)
    np.testing.assert_allclose(view.project(point), [0.2, 0.5], atol=1e-9)
    port = view.plot.viewport()
    for kind, x, y in ((QEvent.Type.MouseButtonPress, 50, 50), (QEvent.Type.MouseMove, 110, 70),
                       (QEvent.Type.MouseButtonRelease, 110, 70)):
        QApplication.sendEvent(port, QMouseEvent(kind, QPointF(x, y), QPointF(x, y), Qt.MouseButton.LeftButton,
                                                 Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    assert view.yaw == 120 and view.slider.value() == 120 and view.pitch == pytest.approx(8.0)


def test_settings_are_remembered(qtbot, tmp_path):
    first = make_window(qtbot, tmp_path / "settings.ini", realtime=False)
    qtbot.waitUntil(lambda: first.session.cfg is not None, timeout=10_000)
    first.overlay_box.setCurrentIndex(first.overlay_box.findData("both"))
    first.trajectory.set_joint("left_knee")
    first.view3d.set_yaw(-90)
    first.camera_box.setValue(3)
    first.close()
    second = make_window(qtbot, tmp_path / "settings.ini", realtime=False)
    assert second.overlay_box.currentData() == "both" and second.video.overlay == "both"
    assert second.trajectory.joint == "left_knee" and second.view3d.yaw == -90
    assert second.camera_box.value() == 3 and not second.realtime_action.isChecked()
    qtbot.waitUntil(lambda: second.session.cfg is not None, timeout=10_000)
    assert (second.session.cfg.k, second.session.cfg.q) == (first.session.cfg.k, first.session.cfg.q)
    second.close()


# --- the launcher: answered before Qt loads -------------------------------------------------------

def launch(*args, env=None, timeout=60):
    import os
    import subprocess
    import sys
    from pipeline.paths import REPO_ROOT
    return subprocess.run([sys.executable, "run_app.py", *map(str, args)], cwd=REPO_ROOT, timeout=timeout,
                          capture_output=True, text=True, env={**os.environ, **(env or {})})


def test_launcher_refuses_unknown_words_and_lists_its_options():
    r = launch("proces", DEMO_VIDEO)                         # a typo of the command
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == ("error: proces: no such file or folder, and not a command (did you mean "
                                "'process'?). Commands: process; or give video files to open in the app "
                                "(run_app.py --help)")
    r = launch("no_such_video.mp4")
    assert r.returncode == 2 and "no_such_video.mp4: no such file or folder, and not a command" in r.stderr
    r = launch("--help")
    assert r.returncode == 0
    for option in ("--camera N", "--screenshot PNG", "--screenshot-frame N", "process"):
        assert option in r.stdout, option


def test_launcher_names_missing_system_libraries_instead_of_qts_abort(tmp_path):
    """As on a fresh Debian machine: Qt's xcb plugin would abort; the launcher says what to install."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "ldd").write_text("#!/bin/sh\necho '\tlibxcb-icccm.so.4 => not found'\n"
                              "echo '\tlibxkbcommon-x11.so.0 => not found'\n")
    (fake / "ldd").chmod(0o755)
    import os
    r = launch(DEMO_VIDEO, env={"PATH": f"{fake}:{os.environ['PATH']}", "DISPLAY": ":0",
                                "QT_QPA_PLATFORM": "", "WAYLAND_DISPLAY": ""})
    assert r.returncode == 1
    assert r.stderr.splitlines()[:2] == [
        "error: the window cannot open: Qt's X11 (xcb) platform needs system libraries that are "
        "missing: libxcb-icccm.so.4, libxkbcommon-x11.so.0.",
        "  Debian/Ubuntu: sudo apt-get install libxcb-icccm4 libxkbcommon-x11-0"]
    assert "qt.qpa" not in r.stderr and "Could not load" not in r.stderr


def test_closing_asks_before_losing_a_queued_export_and_finishes_one_being_written(qtbot, tmp_path, monkeypatch):
    """A queued export waits for its run: closing then asks (Cancel keeps the window and the
    run; Close stops it, nothing written). An export already writing is finished, not cut off."""
    from PySide6.QtWidgets import QMessageBox
    window = make_window(qtbot, tmp_path / "settings.ini")
    window.confirm_close = True
    asked, answer = [], {"button": QMessageBox.StandardButton.Cancel}
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or answer["button"])
    s = window.session
    with qtbot.waitSignal(s.run_started, timeout=30_000):
        window.open_files([DEMO_VIDEO])
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    window.export_csv(first)
    window.export_csv(second)                      # replaces the queued one, and says so
    assert "instead of first.csv" in window.statusBar().currentMessage()
    assert window.close() is False and s.state != IDLE and window.isVisible()
    assert "its export to second.csv is written when the run ends" in asked[0]
    qtbot.waitUntil(lambda: window.session.exporting or second.exists(), timeout=120_000)
    assert window.unsaved() is None                # the run ended: the export is writing or done
    window.close()                                 # no question: an export writing is finished
    assert len(asked) == 1 and second.exists() and not first.exists()
    assert len(pd.read_csv(second)) == 230


def test_at_a_laptops_size_export_stays_on_the_toolbar_and_the_readout_wraps(window, qtbot):
    window.resize(1366, 768)
    qtbot.waitUntil(lambda: window.width() <= 1366, timeout=5_000)
    QApplication.processEvents()
    bar = next(b for b in window.findChildren(QToolBar) if window.export_action in b.actions())
    button = bar.widgetForAction(window.export_action)
    assert button is not None and button.isVisible() and bar.isVisible()
    assert button.geometry().right() <= bar.width()                  # not behind the overflow button
    weights = window.readout._labels["weights"]
    assert weights.wordWrap() and weights.text().count("\n") == 1    # a line per space
    assert window.minimumSizeHint().width() <= 1366


def test_settings_changed_after_a_run_clear_its_measurements_from_the_readout(window, qtbot):
    """The readout never shows one run's measurements beside other settings' costs."""
    from dataclasses import replace
    rec = Recorder(window)
    window.open_files([CARPHONE])
    wait_ended(qtbot, rec)
    r = window.readout
    assert r.value("fps") != "–" and r.value("mode").startswith("keyframe")
    with qtbot.waitSignal(window.session.configured, timeout=30_000):
        window.controls.changed.emit(replace(window.session.cfg, latency="zero"))
    assert r.value("fps") == "–" and r.value("mode") == "–" and r.value("frames") == "–"
    assert r.value("theoretical").endswith("×")                  # the new settings' cost is shown
