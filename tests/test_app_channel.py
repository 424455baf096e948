"""The worker -> GUI queue (a file never drops a frame, a live source drops the oldest, events are
never lost) and the pose store behind the GUI's export. No window needed."""
import threading
import time

import numpy as np
import pytest

from app.channel import DisplayQueue, FrameItem, Notice, Snapshot
from app.track import PoseTrack
from pipeline.estimators import PoseEstimate
from pipeline.streaming import FramePose

SNAP = Snapshot(0, 0, 0, 0, 0.0, 0.0, 0.0, 0)


def pose(i: int, world: bool = True) -> FramePose:
    rng = np.random.default_rng(i)
    img = rng.uniform(0, 100, (33, 2)).astype(np.float32)
    return FramePose(i, i / 30, i % 10 == 0, True, img, np.full(33, 0.9, np.float32),
                     rng.normal(size=(33, 3)).astype(np.float32) if world else None,
                     PoseEstimate(img, np.ones(33)) if i % 10 == 0 else None)


def frame(i: int) -> FrameItem:
    return FrameItem(pose(i), None, SNAP)


def drain(q: DisplayQueue) -> list:
    out = []
    while (item := q.pop()) is not None:
        out.append(item)
    return out


def test_file_frames_wait_for_room_and_are_never_dropped():
    q = DisplayQueue(maxsize=3)
    assert all(q.put_frame(frame(i), timeout=0.01) for i in range(3))
    assert not q.put_frame(frame(3), timeout=0.05)          # full: refused, not dropped
    got = []

    def consumer():
        while len(got) < 10:
            item = q.pop()
            if item is None:
                time.sleep(0.002)
            else:
                got.append(item.pose.index)

    t = threading.Thread(target=consumer)
    t.start()
    for i in range(3, 10):
        while not q.put_frame(frame(i), timeout=0.05):
            pass
    t.join(5)
    assert got == list(range(10)) and q.dropped == 0


def test_live_frames_drop_the_oldest_but_never_an_event():
    q = DisplayQueue(maxsize=3)
    q.put_latest(frame(0))
    q.put_event(Notice("hello"))
    for i in range(1, 6):
        q.put_latest(frame(i))
    items = drain(q)
    assert [type(i).__name__ for i in items].count("Notice") == 1
    assert [i.pose.index for i in items if isinstance(i, FrameItem)] == [3, 4, 5]
    assert q.dropped == 3


def test_discarding_a_stopped_runs_frames_keeps_events_and_frees_room():
    q = DisplayQueue(maxsize=2)
    q.put_frame(frame(0), 0.01)
    q.put_event(Notice("ended"))
    q.put_frame(frame(1), 0.01)
    q.discard_frames()
    assert q.frames_waiting() == 0 and q.put_frame(frame(2), 0.01)
    assert [type(i).__name__ for i in drain(q)] == ["Notice", "FrameItem"]


def test_track_keeps_every_pose_and_gives_it_back():
    track = PoseTrack(33, world=True)
    poses = [pose(i) for i in range(600)]
    poses[5].image[:] = np.nan
    for p in poses:
        track.append(p)
    assert len(track) == 600 and track.with_pose() == 599
    for a, b in zip(poses, track):
        assert (a.index, a.keyframe, a.detected) == (b.index, b.keyframe, b.detected)
        assert np.allclose(a.time_s, b.time_s)
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.world, b.world)
    with pytest.raises(ValueError, match="expected the pose of frame 600"):
        track.append(pose(700))


def test_display_picker_shows_one_frame_per_interval_the_first_and_the_last():
    """Processing as fast as possible, the reader asks for each frame's pixels: a frame is picked
    when `interval_s` has passed since the last one picked (frame 0 is, on opening), and the
    header's last frame always is; in real time (None) every frame is. The worker then asks
    `shown` once per frame."""
    from app.worker import DisplayPicker
    now = [0.0]
    picker = DisplayPicker(0.016, frame_count=100, clock=lambda: now[0])
    picked = []
    for i in range(1, 100):                  # processing at 5 ms a frame
        now[0] = 0.005 * i
        if picker(i):
            picked.append(i)
        assert picker(i) == (i in picked)    # asked again (a looping file): the same answer
    assert picked[:3] == [4, 8, 12] and picked[-1] == 99
    assert all(b - a == 4 for a, b in zip(picked, picked[1:-1]))
    shown = [i for i in range(100) if picker.shown(i)]
    assert shown == [0] + picked and not any(picker.shown(i) for i in range(100))
    picker.interval_s = None                 # "Real time" turned on mid-run: every frame
    assert all(picker(i) for i in range(100, 110))
    assert [i for i in range(100, 110) if picker.shown(i)] == list(range(100, 110))


def test_display_picker_waits_for_the_gui_to_draw_what_it_was_handed():
    """While the GUI has frames it has not drawn (`busy`), none is picked, however long ago the last
    one was: a slow screen shows fewer frames instead of slowing the run; the last frame still is."""
    from app.worker import DisplayPicker
    now, waiting = [0.0], [0]
    picker = DisplayPicker(0.016, frame_count=60, busy=lambda: waiting[0] > 0, clock=lambda: now[0])
    picked = []
    for i in range(1, 60):                   # processing at 5 ms a frame; each picked frame takes
        now[0] = 0.005 * i                   # the GUI 50 ms (10 frames) to draw
        waiting[0] = sum(1 for p in picked if i < p + 10)
        if picker(i):
            picked.append(i)
    assert picked[:3] == [4, 14, 24] and picked[-1] == 59
    assert all(b - a == 10 for a, b in zip(picked, picked[1:-1]))
