"""Pipeline pieces without the estimator: windows, streaming refiner, CSV, sources."""
import numpy as np
import pandas as pd
import pytest

from pipeline.config import PipelineConfig, load_refiners
from pipeline.paths import WEIGHTS_DIR
from pipeline.refiner.runtime import Refiner
from pipeline.estimators import PoseEstimate
from pipeline.io.export import CsvWriter, ExportError, check_writable, columns
from pipeline.interpolate import interpolate_keyframes
from pipeline.paths import VIDEO_DIR
from pipeline.skeleton import BODY12_FROM_MP33, MEDIAPIPE33
from pipeline.io.sources import SourceError, VideoSource, list_videos
from pipeline.streaming import StreamingRefiner
from pipeline.refiner.windows import gather_windows, keyframe_indices, merge_windows, window_starts

MP_BODY = list(BODY12_FROM_MP33)


@pytest.fixture(scope="module")
def refiners():
    """The trained K=10 models, named (whether or not their evaluation accepted them)."""
    return load_refiners(PipelineConfig(k=10, weights=WEIGHTS_DIR / "image_k10_q3.pt",
                                        world_weights=WEIGHTS_DIR / "world_k10_q3.pt"))


def mp33_track(image12, world12):
    """Spread 12 body joints over MediaPipe's 33 (others: near the shoulders) for a (T, 33, D) track."""
    t = len(image12)
    img = np.repeat(image12[:, :1], 33, axis=1).copy()
    wor = np.repeat(world12[:, :1], 33, axis=1).copy()
    img[:, MP_BODY], wor[:, MP_BODY] = image12, world12
    return img, wor, np.full((t, 33), 0.9, np.float32)


def stream(sr, img, wor, conf, detected=None):
    out = []
    for f in range(len(img)):
        est = None
        if f % sr.k == 0 and (detected is None or detected[f]):
            est = PoseEstimate(img[f], conf[f], wor[f])
        out += sr.push(f, f / 30, est)
    return out + sr.finish()


# --- windows ----------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 9, 31, 95, 101, 230])
@pytest.mark.parametrize("stride", [1, 3])
def test_windows_cover_every_frame_and_pad_the_tail(n, stride):
    starts = window_starts(n, 10, 3, stride)
    kf = keyframe_indices(n, 10).astype(float)
    win = gather_windows(kf, starts, 3)
    assert win.shape == (len(starts), 4)
    out = np.stack([np.interp(np.arange(31), np.arange(0, 31, 10), w) for w in win])
    merged = merge_windows(out, starts, 10, n)
    assert np.allclose(merged, np.minimum(np.arange(n), kf[-1]))   # held after the last keyframe


# --- streaming refiner ------------------------------------------------------------------------

@pytest.mark.parametrize("stride", [None, 1])
@pytest.mark.parametrize("pin", [False, True])
def test_streaming_equals_refining_the_whole_sequence(refiners, mocap_track, stride, pin):
    image, world = refiners
    img, wor, conf = mp33_track(*mocap_track)
    n = 95                                              # not a multiple of K: a padded tail
    sr = StreamingRefiner(image, world, MEDIAPIPE33, stride=stride, pin_keyframes=pin, pin_world=pin)
    out = stream(sr, img[:n], wor[:n], conf[:n])
    assert [p.index for p in out] == list(range(n))
    kf = keyframe_indices(n, 10)
    pins = np.ones(len(kf), bool) if pin else None
    got = np.stack([p.image for p in out])
    assert np.allclose(got[:, MP_BODY], image.refine_sequence(img[kf][:, MP_BODY], n, stride, pins), atol=1e-3)
    got_w = np.stack([p.world for p in out])
    assert np.allclose(got_w[:, MP_BODY], world.refine_sequence(wor[kf][:, MP_BODY], n, stride, pins), atol=1e-5)
    # joints the refiner does not cover are interpolated linearly between keyframes
    assert np.allclose(got[:, 0], interpolate_keyframes(kf, img[kf, 0], np.arange(n)), atol=1e-3)


@pytest.mark.parametrize("batch", [4, 100])
def test_batched_windows_give_the_same_poses(refiners, mocap_track, batch):
    """Files refine several windows per call: same poses as one at a time, misses included."""
    image, world = refiners
    img, wor, conf = mp33_track(*mocap_track)
    detected = np.ones(len(img), bool)
    detected[[20, 150, 160]] = False
    one = stream(StreamingRefiner(image, world, MEDIAPIPE33), img, wor, conf, detected)
    many = stream(StreamingRefiner(image, world, MEDIAPIPE33, batch=batch), img, wor, conf, detected)
    assert [p.index for p in many] == list(range(len(img)))
    assert [(p.keyframe, p.detected) for p in many] == [(p.keyframe, p.detected) for p in one]
    for name in ("image", "world", "conf"):
        a, b = (np.stack([getattr(p, name) for p in out]) for out in (one, many))
        assert np.allclose(a, b, atol=1e-3, equal_nan=True), name


def test_pinned_keyframes_carry_the_estimate_and_stay_close(refiners, mocap_track):
    image, world = refiners
    img, wor, conf = mp33_track(*mocap_track)
    out = stream(StreamingRefiner(image, world, MEDIAPIPE33), img, wor, conf)
    for p in out:
        if p.keyframe:
            assert np.array_equal(p.image, img[p.index]) and p.raw is not None and p.detected
    # by default the world joints are not pinned: keyframes get the refiner's own 3D pose
    n, kf = len(img), keyframe_indices(len(img), 10)
    got_w = np.stack([p.world for p in out])[:, MP_BODY]
    assert np.allclose(got_w, world.refine_sequence(wor[kf][:, MP_BODY], n), atol=1e-5)
    assert not np.allclose(got_w[kf], wor[kf][:, MP_BODY], atol=1e-5)
    truth = img[:, MP_BODY]
    kf = keyframe_indices(len(img), 10)
    linear = interpolate_keyframes(kf, truth[kf], np.arange(len(img)))
    refined = np.stack([p.image for p in out])[:, MP_BODY]
    err = lambda x: np.linalg.norm(x - truth, axis=-1).mean()
    assert err(refined) < err(linear)      # real jumping motion: closer than linear interpolation


def test_missed_keyframes_are_filled_within_a_window_and_marked(refiners, mocap_track):
    image, world = refiners
    img, wor, conf = mp33_track(*mocap_track)
    detected = np.ones(len(img), bool)
    detected[20] = False                           # one miss: filled from keyframes 10 and 30
    detected[100:200] = False                      # 10 missed keyframes: longer than a window
    out = stream(StreamingRefiner(image, world, MEDIAPIPE33), img, wor, conf, detected)
    by = {p.index: p for p in out}
    assert by[20].keyframe and not by[20].detected and by[20].has_pose
    assert not by[15].detected and by[15].has_pose      # between a detection and a filled miss
    assert all(not by[f].has_pose for f in range(91, 200))   # no invented poses in the long gap
    assert np.isnan(by[150].world).all() and np.isnan(by[150].conf).all()
    assert by[90].has_pose and by[200].has_pose and by[210].has_pose


def test_no_pose_before_the_first_detection(refiners, mocap_track):
    image, world = refiners
    img, wor, conf = mp33_track(*mocap_track)
    detected = np.arange(len(img)) >= 40
    out = stream(StreamingRefiner(image, world, MEDIAPIPE33), img, wor, conf, detected)
    assert not any(p.has_pose for p in out[:40]) and all(p.has_pose for p in out[40:])


def test_frames_without_anybody_come_out_with_the_usual_latency(refiners, mocap_track):
    """A camera on an empty room: misses with no detection before them are settled at once
    (nothing can fill them), so frames still come out K*Q frames late and memory stays flat."""
    image, world = refiners
    img, wor, conf = mp33_track(*mocap_track)
    sr = StreamingRefiner(image, world, MEDIAPIPE33)
    worst = 0
    for f in range(3000):
        for p in sr.push(f, f / 30, None):
            worst = max(worst, f - p.index)
            assert not p.has_pose and not p.detected
    assert worst <= sr.k * sr.q and len(sr._keys) + len(sr._times) < 3 * image.window


def test_streaming_memory_stays_bounded(refiners, mocap_track):
    image, world = refiners
    img, wor, conf = mp33_track(*mocap_track)
    sr = StreamingRefiner(image, world, MEDIAPIPE33)
    worst = 0
    for f in range(6000):                           # 3.3 minutes at 30 fps, looping the motion
        i = f % len(img)
        est = PoseEstimate(img[i], conf[i], wor[i]) if f % 10 == 0 else None
        sr.push(f, f / 30, est)
        worst = max(worst, len(sr._keys) + len(sr._acc) + len(sr._times))
    assert worst < 3 * image.window
    assert sr.frames_pending <= image.window


def test_world_and_image_weights_must_agree_on_k_and_q(refiners):
    image, _ = refiners
    other = Refiner.linear("world", 10, 10)
    with pytest.raises(ValueError, match=f"image weights have K=10, Q={image.q} but world weights K=10, Q=10"):
        StreamingRefiner(image, other)


# --- CSV --------------------------------------------------------------------------------------

def test_csv_schema_loads_with_pandas(tmp_path, refiners, mocap_track):
    image, world = refiners
    img, wor, conf = mp33_track(*mocap_track)
    detected = np.arange(len(img)) >= 20
    out = stream(StreamingRefiner(image, world, MEDIAPIPE33), img[:120], wor[:120], conf[:120], detected)
    with CsvWriter(tmp_path / "a.csv", MEDIAPIPE33, world=True) as w:
        w.write_all(out)
    df = pd.read_csv(tmp_path / "a.csv")
    assert list(df.columns) == columns(MEDIAPIPE33, True)
    assert list(df.columns[:4]) == ["frame", "time_s", "keyframe", "detected"]
    assert "left_wrist_x" in df and "left_wrist_conf" in df and "left_wrist_Z" in df
    assert len(df) == 120 and (df.frame == np.arange(120)).all()
    assert df.keyframe.sum() == 12
    assert df.loc[:19, "nose_x"].isna().all() and df.loc[20:, "nose_x"].notna().all()
    assert np.allclose(df.loc[30, ["left_wrist_x", "left_wrist_y"]], img[30, 15], atol=0.01)


def test_csv_is_all_or_nothing(tmp_path, refiners, mocap_track):
    image, world = refiners
    img, wor, conf = mp33_track(*mocap_track)
    out = stream(StreamingRefiner(image, world, MEDIAPIPE33), img[:60], wor[:60], conf[:60])
    target = tmp_path / "b.csv"
    target.write_text("old results\n")
    with pytest.raises(KeyboardInterrupt):
        with CsvWriter(target, MEDIAPIPE33, world=True) as w:
            w.write_all(out[:30])
            raise KeyboardInterrupt
    assert target.read_text() == "old results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.csv"]    # no partial file left


def test_unwritable_folder_is_reported(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        import os
        if os.access(ro, os.W_OK):                # root ignores permissions: use a file instead
            blocker = tmp_path / "file"
            blocker.write_text("x")
            with pytest.raises(ExportError, match="cannot write to"):
                check_writable(blocker / "sub")
        else:
            with pytest.raises(ExportError, match="cannot write to"):
                check_writable(ro)
    finally:
        ro.chmod(0o700)


# --- sources ----------------------------------------------------------------------------------

def test_file_source_reads_every_frame_and_skips_pixels(demo_video):
    with VideoSource(demo_video) as src:
        frames = list(src.frames(lambda i: i % 10 == 0))
    assert len(frames) == 230 and src.fps == 30
    assert all((f.image is not None) == (f.index % 10 == 0) for f in frames)
    assert frames[10].image.shape == (994, 1768, 3)
    assert frames[-1].time_s == pytest.approx(229 / 30)


def test_looping_file_source_acts_as_a_live_feed():
    src = VideoSource(VIDEO_DIR / "carphone.mp4", loop=True)
    it = src.open().frames()
    frames = [next(it) for _ in range(300)]
    src.close()
    assert [f.index for f in frames] == list(range(300)) and frames[250].image is not None


def test_missing_camera_fails_cleanly():
    with pytest.raises(SourceError, match="camera 7 could not be opened"):
        VideoSource(7).open()


def test_folder_listing_finds_videos():
    names = [p.name for p in list_videos(VIDEO_DIR / "pose2sim_single")]
    assert names == ["cam01.mp4", "cam02.mp4", "cam03.mp4", "cam04.mp4"]


def test_live_reader_drops_stale_frames_when_the_consumer_lags():
    import time
    from pipeline.io.sources import ThreadedReader
    src = VideoSource(VIDEO_DIR / "carphone.mp4", loop=True)
    src.live = True                                  # a looping file paced like a camera
    reader = ThreadedReader(src.open(), maxsize=2)
    got = []
    for frame in reader.frames():
        got.append(frame)
        time.sleep(0.02)                             # a slow consumer
        if len(got) == 20:
            break
    reader.close()
    src.close()
    assert [f.index for f in got] == list(range(20))
    assert reader.dropped > 0
    assert all(b.time_s > a.time_s for a, b in zip(got, got[1:]))


def test_threaded_file_reader_never_drops_a_frame():
    import time
    from pipeline.io.sources import ThreadedReader
    src = VideoSource(VIDEO_DIR / "carphone.mp4").open()
    reader = ThreadedReader(src, maxsize=2, need_pixels=lambda i: i % 10 == 0)
    got = []
    for frame in reader.frames():
        got.append(frame)
        time.sleep(0.002 if frame.index % 10 else 0.03)    # a consumer slower than decoding
    src.close()
    assert [f.index for f in got] == list(range(120)) and reader.dropped == 0
    assert all((f.image is not None) == (f.index % 10 == 0) for f in got)


def test_two_people_are_never_interpolated_or_refined_together(refiners, mocap_track):
    """One person walks out, another is found far away after a missed keyframe: no pose between
    them, and the first person's poses are what they would be had nobody been found after."""
    image, world = refiners
    img, wor, conf = mp33_track(*mocap_track)
    n, cut = 200, 100
    torso = np.median(np.linalg.norm(img[:, MP_BODY[:2]].mean(1) - img[:, MP_BODY[6:8]].mean(1), axis=-1))
    other = img.copy()
    other[cut:] += np.array([12 * torso, 0], np.float32)          # somebody else, 12 torsos away
    detected = np.ones(n, bool)
    detected[90] = False                                          # the keyframe between them is missed
    out = stream(StreamingRefiner(image, world, MEDIAPIPE33), other[:n], wor[:n], conf[:n], detected)
    by = {p.index: p for p in out}
    assert all(not by[f].has_pose and not by[f].detected for f in range(81, 100))
    assert by[80].has_pose and by[100].has_pose and by[80].detected
    alone = stream(StreamingRefiner(image, world, MEDIAPIPE33), img[:101], wor[:101], conf[:101],
                   np.arange(101) < 90)
    for f in range(81):
        np.testing.assert_allclose(by[f].image, alone[f].image, atol=1e-3)
        np.testing.assert_allclose(by[f].world, alone[f].world, atol=1e-4)
    # the same motion without the jump is filled through the miss as before, and the second
    # person's poses are those, moved with them (up to the first window, which starts afresh)
    same = stream(StreamingRefiner(image, world, MEDIAPIPE33), img[:n], wor[:n], conf[:n], detected)
    assert all(p.has_pose for p in same) and same[90].filled and not same[80].filled
    for f in range(100, n):
        moved = same[f].image[MP_BODY] + (other[f] - img[f])[MP_BODY]
        assert np.linalg.norm(by[f].image[MP_BODY] - moved, axis=-1).mean() < 0.05 * torso, f


def test_adjacent_detections_of_two_people_share_no_window(refiners, mocap_track):
    image, world = refiners
    img, wor, conf = mp33_track(*mocap_track)
    n = 200
    torso = np.median(np.linalg.norm(img[:, MP_BODY[:2]].mean(1) - img[:, MP_BODY[6:8]].mean(1), axis=-1))
    other = img.copy()
    other[95:] += np.array([0, 15 * torso], np.float32)           # a different person from frame 95
    out = stream(StreamingRefiner(image, world, MEDIAPIPE33), other[:n], wor[:n], conf[:n])
    assert [p.index for p in out if not p.has_pose] == list(range(91, 100))
    # each person's poses are the one-person poses (moved with the second), but for the window
    # that held both, which now holds one each
    one = stream(StreamingRefiner(image, world, MEDIAPIPE33), img[:n], wor[:n], conf[:n])
    err = np.array([np.linalg.norm(p.image[MP_BODY] - q.image[MP_BODY] - (other[p.index] - img[p.index])[MP_BODY],
                                   axis=-1).mean() / torso for p, q in zip(out, one) if p.has_pose])
    assert err[:81].max() < 0.01 and err[91:].max() < 0.25, err


def test_frame_seeker_gives_the_frame_asked_for(demo_video):
    from pipeline.io.sources import FrameSeeker
    with VideoSource(demo_video) as src:
        frames = [f.image for f in src.frames()]
    seeker = FrameSeeker(demo_video)
    for i in (150, 151, 149, 160, 0, 229, 37, 38, 50):      # back, on, a short skip, far
        assert np.array_equal(seeker.frame(i), frames[i]), i
    with pytest.raises(SourceError, match="frame 230 cannot be decoded"):
        seeker.frame(230)
    assert np.array_equal(seeker.frame(3), frames[3])
    seeker.close()


def test_a_stream_that_never_answers_times_out_with_the_reason_and_can_be_cancelled():
    import socket
    import threading
    import time
    from pipeline.io.sources import BackgroundOpen
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)                                 # accepts (the kernel does), never answers
    url = f"http://127.0.0.1:{server.getsockname()[1]}/live.mp4"
    try:
        start = time.monotonic()
        with pytest.raises(SourceError, match=r"no answer from 127\.0\.0\.1:\d+ after 1 s \(it accepted the "
                                              r"connection but sent nothing\)"):
            VideoSource(url, timeout_s=1.0).open()
        assert time.monotonic() - start < 3
        opening = BackgroundOpen(VideoSource(url, timeout_s=30))
        assert not opening.wait(0.3)
        start = time.monotonic()
        threading.Timer(0.2, opening.abandon).start()
        assert opening.wait(2) and time.monotonic() - start < 1
        with pytest.raises(SourceError, match="cancelled"):
            opening.result()
    finally:
        server.close()
    with pytest.raises(SourceError, match="connection refused"):
        VideoSource(url, timeout_s=1.0).open()      # the server is gone: nothing listens
