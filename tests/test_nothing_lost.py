"""Nothing lost, nothing partial: name clashes, a full disk, failed videos, rotated phone videos,
SIGTERM, variable frame rates, clips shorter than a refiner window and the sidecar's commit, on
real videos (re-encoded, trimmed or re-tagged by tests/media.py)."""
import errno
import json
from dataclasses import replace
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pandas as pd
import pytest

from media import (read_frames, set_mp4_frame_durations, set_mp4_rotation, set_webm_frame_durations,
                   write_video)
from pipeline.config import PipelineConfig, load_refiners
from pipeline.io import export
from pipeline.io.export import CsvWriter, ExportError
from pipeline.io.sources import SourceError, VideoSource
from pipeline.paths import REPO_ROOT, VIDEO_DIR, WEIGHTS_DIR
from pipeline.process import KeyframePipeline, process_video
from pipeline.skeleton import BODY12_FROM_MP33, MEDIAPIPE33
from pipeline.estimators import make_estimator

CFG = PipelineConfig(k=10)
CARPHONE = VIDEO_DIR / "carphone.mp4"          # 120 frames, 176x144, a man in a car
DEMO = VIDEO_DIR / "sports2d_demo.mp4"         # 230 frames, 1768x994


@pytest.fixture(scope="module")
def refiners():
    """The trained K=10 models by name (windows of 31 frames), accepted or not."""
    from pipeline.paths import WEIGHTS_DIR
    return load_refiners(replace(CFG, weights=WEIGHTS_DIR / "image_k10_q3.pt",
                                 world_weights=WEIGHTS_DIR / "world_k10_q3.pt"))


@pytest.fixture(scope="module")
def carphone_frames():
    return read_frames(CARPHONE)


def cli(*args, timeout=300, **kw):
    return subprocess.run([sys.executable, str(REPO_ROOT / "run_app.py"), "process", *map(str, args), "--quiet"],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT, **kw)


def start_cli(*args):
    return subprocess.Popen([sys.executable, str(REPO_ROOT / "run_app.py"), "process", *map(str, args), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT)


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def image_xy(df: pd.DataFrame) -> np.ndarray:
    return np.stack([df[[f"{j}_x", f"{j}_y"]].to_numpy() for j in MEDIAPIPE33.joints], axis=1)   # (T, 33, 2)


# --- 1. output names never collide -------------------------------------------------------------

def test_clashing_names_in_a_folder_give_one_csv_each(tmp_path, carphone_frames):
    folder, out = tmp_path / "videos", tmp_path / "out"
    folder.mkdir()
    for name, start in (("clip.mp4", 0), ("clip.mov", 40), ("Clip.MP4", 80)):
        write_video(folder / name, carphone_frames[start:start + 40])
    r = cli(folder, "--out", out)
    assert r.returncode == 0, r.stderr
    csvs = [p for p in out.iterdir() if p.suffix == ".csv"]
    assert len(csvs) == 3 and len({p.name.casefold() for p in csvs}) == 3     # distinct on any file system
    videos = set()
    for csv in csvs:
        assert len(pd.read_csv(csv)) == 40
        videos.add(Path(json.loads(csv.with_suffix(".json").read_text())["video"]).name)
        assert str(csv) in r.stdout                                 # the summary names each file
    assert videos == {"clip.mp4", "clip.mov", "Clip.MP4"}
    assert len(files(out)) == 6                                     # 3 CSV + 3 JSON, nothing else


# --- 2. disk full -------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 100 kB file system (tmpfs): room for a short clip's CSV, not for the demo's."""
    disk = tmp_path / "disk"
    disk.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=100k", "tmpfs", str(disk)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {r.stderr.strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_disk_full_fails_that_video_only_and_leaves_nothing_partial(tmp_path, small_disk, carphone_frames):
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(DEMO, folder / "a_long.mp4")                       # its CSV needs ~300 kB
    write_video(folder / "b_short.mp4", carphone_frames[:35])
    r = cli(folder, "--out", small_disk)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "a_long" in errors[0] and "No space left on device" in errors[0], r.stderr
    assert files(small_disk) == ["b_short.csv", "b_short.json"]     # no partial, no orphan sidecar
    assert len(pd.read_csv(small_disk / "b_short.csv")) == 35


class FullDisk:
    """A file whose device fills after `room` bytes: writes then fail with ENOSPC, as does
    flushing what is still buffered (in close, flush or fsync)."""

    def __init__(self, file, room: int):
        self.file, self.room, self.written, self.pending = file, room, 0, 0

    def _full(self):
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def write(self, text):
        if self.written + len(text) > self.room:
            self.pending += len(text)
            raise self._full()
        self.written += len(text)
        return self.file.write(text)

    def flush(self):
        if self.pending:
            raise self._full()
        self.file.flush()

    def close(self):
        try:
            if self.pending and not self.file.closed:
                raise self._full()
        finally:
            self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getattr__(self, name):
        return getattr(self.file, name)


def fill_disk_after(monkeypatch, room: int, names=(".csv",)):
    """Temporary files of targets ending in `names` get a disk that is full after `room` bytes."""
    real = export.os.fdopen

    def fdopen(fd, *args, **kw):
        name = Path(os.readlink(f"/proc/self/fd/{fd}")).name       # .<target>.XXXXXXXX.partial
        f = real(fd, *args, **kw)
        return FullDisk(f, room) if any(f"{n}." in name for n in names) else f
    monkeypatch.setattr(export.os, "fdopen", fdopen)


@pytest.fixture(scope="module")
def carphone_poses(refiners):
    """The refined poses of carphone's frames, as the pipeline hands them to a writer."""
    est = make_estimator("mediapipe")
    pipe = KeyframePipeline(CFG, *refiners, est)
    with VideoSource(CARPHONE) as src:
        poses = [p for _, ps in pipe.run(src) for p in ps]
    est.close()
    return poses


@pytest.mark.parametrize("room", [0, 20_000, 160_000])   # full at once, mid-way, only for the last rows
def test_csv_writer_on_a_full_disk_leaves_the_previous_outputs(tmp_path, monkeypatch, carphone_poses, room):
    target = tmp_path / "clip.csv"
    target.write_text("previous\n")
    target.with_suffix(".json").write_text("{}\n")
    fill_disk_after(monkeypatch, room)
    with pytest.raises(ExportError, match="No space left on device"):
        with CsvWriter(target, MEDIAPIPE33, True) as writer:
            writer.write_all(carphone_poses)
            writer.commit({"video": "clip.mp4"})
    assert files(tmp_path) == ["clip.csv", "clip.json"]             # no partial
    assert target.read_text() == "previous\n" and target.with_suffix(".json").read_text() == "{}\n"


def test_full_disk_while_writing_the_sidecar_leaves_neither(tmp_path, monkeypatch, carphone_poses):
    fill_disk_after(monkeypatch, 100, names=(".json",))
    with pytest.raises(ExportError, match="No space left on device"):
        with CsvWriter(tmp_path / "clip.csv", MEDIAPIPE33, True) as writer:
            writer.write_all(carphone_poses)
            writer.commit({"video": "clip.mp4", "pad": "x" * 10_000})
    assert files(tmp_path) == []


def test_app_export_on_a_full_disk_reports_and_leaves_nothing(qtbot, tmp_path, monkeypatch, carphone_poses):
    from app.export import ExportJob
    result = SimpleNamespace(track=carphone_poses, meta={"video": "carphone.mp4"},
                             info=SimpleNamespace(skeleton=MEDIAPIPE33, world=True))
    fill_disk_after(monkeypatch, 50_000)
    job = ExportJob(result, tmp_path / "carphone.csv")
    failed, succeeded = [], []
    job.failed.connect(failed.append)
    job.succeeded.connect(succeeded.append)
    job.run()                                                        # synchronously, on this thread
    assert succeeded == [] and len(failed) == 1 and "No space left on device" in failed[0], failed
    assert files(tmp_path) == []


# --- 3. failed videos release what they took -----------------------------------------------------

def threads() -> int:
    return len(os.listdir("/proc/self/task"))


def rss_mb() -> float:
    """Resident memory after freed memory is given back (gc, then glibc's malloc_trim): what is
    still held, not what the allocator keeps cached after the suite's earlier tests."""
    import ctypes
    import gc
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:                 # not glibc
        pass
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def test_failed_videos_release_estimator_and_threads(tmp_path, refiners, monkeypatch):
    bad = tmp_path / "truncated.mp4"
    data = DEMO.read_bytes()
    bad.write_bytes(data[:len(data) // 5])                         # decodes ~40 frames, then stops
    made, closed = [], []
    import pipeline.process as process

    def tracked(*args, **kw):
        est = make_estimator(*args, **kw)
        made.append(est)
        real_close = est.close
        est.close = lambda: (closed.append(est), real_close())
        return est
    monkeypatch.setattr(process, "make_estimator", tracked)
    with pytest.raises(SourceError, match="truncated"):
        process_video(bad, tmp_path / "out", CFG, refiners, progress=False)
    before, memory = threads(), rss_mb()
    for _ in range(6):
        with pytest.raises(SourceError, match="truncated"):
            process_video(bad, tmp_path / "out", CFG, refiners, progress=False)
    assert len(made) == 7 and closed == made                          # every estimator closed
    # an estimator left open keeps ~2 threads and ~125 MB (MediaPipe's graph): 12 and 750 MB here
    assert threads() <= before + 2, (before, threads())
    assert rss_mb() - memory < 300, (memory, rss_mb())
    assert files(tmp_path / "out") == []


# --- 4. rotation metadata ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def phone_videos(tmp_path_factory, carphone_frames):
    """carphone stored sideways and tagged rotate=90 (as phones record), and the same frames
    stored upright: both should be read, and posed, upright."""
    folder = tmp_path_factory.mktemp("phone")
    sideways = [cv2.rotate(f, cv2.ROTATE_90_COUNTERCLOCKWISE) for f in carphone_frames]
    rotated = set_mp4_rotation(write_video(folder / "rotated.mp4", sideways), 90)
    upright = write_video(folder / "upright.mp4", carphone_frames)
    return rotated, upright


def test_rotated_video_is_read_upright(phone_videos):
    rotated, upright = phone_videos
    with VideoSource(rotated) as src:
        assert src.size == (176, 144) and src.rotation == 90
        frames = [f.image for f in src.frames()]
    reference = read_frames(upright)
    assert len(frames) == len(reference) == 120
    assert frames[0].shape == (144, 176, 3)
    diff = np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(frames, reference)])
    assert diff < 6, diff                                        # the same picture, re-encoded twice


def test_browsing_a_rotated_video_shows_it_upright(phone_videos):
    """The app browses a processed video with FrameSeeker: its frames must be the upright ones the
    poses were computed on, whether read on, skipped to or sought back to."""
    from pipeline.io.sources import FrameSeeker
    rotated, upright = phone_videos
    reference = read_frames(upright)
    seeker = FrameSeeker(rotated)
    try:
        assert seeker.rotation == 90
        for index in (0, 1, 5, 60, 3):                      # read on, skip, seek ahead, seek back
            image = seeker.frame(index)
            assert image.shape == (144, 176, 3)
            assert np.abs(image.astype(int) - reference[index]).mean() < 6, index
    finally:
        seeker.close()


def test_rotated_video_poses_are_upright_and_recorded(tmp_path, refiners, phone_videos):
    rotated, upright = phone_videos
    got = process_video(rotated, tmp_path / "r", CFG, refiners, progress=False)
    ref = process_video(upright, tmp_path / "u", CFG, refiners, progress=False)
    side = json.loads(got.csv.with_suffix(".json").read_text())
    assert side["size"] == [176, 144] and side["rotation"] == 90
    assert json.loads(ref.csv.with_suffix(".json").read_text())["rotation"] == 0
    a, b = pd.read_csv(got.csv), pd.read_csv(ref.csv)
    assert a.detected.sum() >= 0.9 * b.detected.sum() > 0
    xa, xb = image_xy(a)[:, BODY12_FROM_MP33], image_xy(b)[:, BODY12_FROM_MP33]
    ok = np.isfinite(xa).all(axis=(1, 2)) & np.isfinite(xb).all(axis=(1, 2))
    assert ok.sum() > 100
    err = np.linalg.norm(xa[ok] - xb[ok], axis=-1).mean()
    assert err < 5, err                                          # pixels, in a 176x144 frame



def test_app_shows_a_rotated_video_upright_and_records_it(qtbot, tmp_path, phone_videos):
    from test_app import Recorder, make_window, wait_ended
    window = make_window(qtbot, tmp_path / "settings.ini", realtime=True)     # every frame shown
    rec = Recorder(window)
    window.open_files([phone_videos[0]])
    result = wait_ended(qtbot, rec)
    window.close()
    assert result.error is None and len(result.track) == 120
    assert result.info.size == (176, 144) and result.meta["rotation"] == 90
    shown = [f.image for f in rec.frames if f.image is not None]
    assert len(shown) == 120 and all(image.shape == (144, 176, 3) for image in shown)
    assert sum(f.pose.detected for f in rec.frames if f.pose.keyframe) >= 10

# --- 5. SIGTERM, and partial files left by a killed run --------------------------------------------

def wait_for_partial(proc, out: Path, timeout=120.0) -> list[Path]:
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        found = list(out.glob(".*.partial")) if out.exists() else []
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"no partial file appeared; exit {proc.poll()}")


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    out = tmp_path / "out"
    proc = start_cli(DEMO, "--out", out)
    wait_for_partial(proc, out)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert "terminated: no CSV written for sports2d_demo.mp4" in stderr and "Traceback" not in stderr
    assert files(out) == []


def test_the_app_closes_cleanly_on_sigterm_and_ctrl_c(tmp_path):
    """The desktop app, killed with SIGTERM (or Ctrl-C in its terminal) while it plays a video,
    closes as its close button does: worker stopped, settings saved, exit status 143 (130)."""
    for sig, status in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        config = tmp_path / f"config-{sig}"
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(config)}
        proc = subprocess.Popen([sys.executable, str(REPO_ROOT / "run_app.py"), str(DEMO)], cwd=REPO_ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        end = time.monotonic() + 120
        while not any(Path(f"/proc/{proc.pid}/fd", fd).resolve() == DEMO.resolve()   # the worker reads it
                      for fd in os.listdir(f"/proc/{proc.pid}/fd")):
            assert proc.poll() is None and time.monotonic() < end, proc.communicate()[1][-2000:]
            time.sleep(0.1)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == status, stderr[-2000:]
        assert "Traceback" not in stderr
        assert (config / "keyframe-pose" / "keyframe-pose.conf").exists()        # closed, not killed


def test_partial_files_of_a_killed_run_are_removed_by_the_next(tmp_path):
    out = tmp_path / "out"
    proc = start_cli(DEMO, "--out", out)
    wait_for_partial(proc, out)
    proc.kill()                                                     # SIGKILL: nothing can clean up
    proc.communicate(timeout=60)
    assert any(name.endswith(".partial") for name in files(out))
    r = cli(DEMO, "--out", out)
    assert r.returncode == 0, r.stderr
    assert files(out) == ["sports2d_demo.csv", "sports2d_demo.json"]


def test_a_running_writers_partial_file_is_not_taken_for_stale(tmp_path, carphone_poses):
    target = tmp_path / "clip.csv"
    stale = tmp_path / ".clip.csv.k3j_9xq2.partial"                 # as a killed run leaves it
    stale.write_text("frame,time_s\n0,0.0\n")
    other = tmp_path / ".clip.csv.x.csv.abcdefgh.partial"           # another output's
    other.write_text("")
    with CsvWriter(target, MEDIAPIPE33, True) as first:
        assert not stale.exists() and other.exists()
        first.write_all(carphone_poses[:10])
        with CsvWriter(target, MEDIAPIPE33, True) as second:       # a concurrent run, same output
            second.write_all(carphone_poses)
        assert len(pd.read_csv(target)) == 120
    assert len(pd.read_csv(target)) == 10                           # the first one finished last
    assert files(tmp_path) == [other.name, "clip.csv"]


# --- 6. variable frame rate ------------------------------------------------------------------------

VFR_DURATIONS = [1 / 30] * 60 + [1 / 10] * 60                       # 2 s at 30 fps, then 6 s at 10 fps
VFR_TIMES = np.concatenate([[0], np.cumsum(VFR_DURATIONS)[:-1]])


@pytest.mark.parametrize("ext,fourcc,tol", [("webm", "VP80", 0.0011), ("mp4", "mp4v", 1e-4)])
def test_variable_frame_rate_uses_the_container_timestamps(tmp_path, refiners, carphone_frames, ext,
                                                           fourcc, tol):
    path = write_video(tmp_path / f"vfr.{ext}", carphone_frames, fourcc=fourcc)
    (set_webm_frame_durations if ext == "webm" else set_mp4_frame_durations)(path, VFR_DURATIONS)
    summary = process_video(path, tmp_path / "out", CFG, refiners, progress=False)
    df = pd.read_csv(summary.csv)
    assert len(df) == 120 and (df.frame == np.arange(120)).all()
    assert np.abs(df.time_s.to_numpy() - VFR_TIMES).max() <= tol     # CSV keeps 4 decimals
    assert df.detected.mean() > 0.9
    # the summary's duration from the timestamps, not frames over the header's rate
    assert "120 frames (8.0 s" in summary.lines()[0]       # webm: the header says 30 fps, 4.0 s


def test_a_truncated_variable_frame_rate_file_is_still_refused(tmp_path, carphone_frames):
    path = set_webm_frame_durations(write_video(tmp_path / "vfr.webm", carphone_frames, fourcc="VP80"),
                                    VFR_DURATIONS)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with VideoSource(path) as src, pytest.raises(SourceError, match="truncated or corrupt"):
        for _ in src.frames(lambda i: False):
            pass


# --- 7. clips shorter than one refiner window ------------------------------------------------------

@pytest.mark.parametrize("n", [1, 3, 20])
def test_a_clip_shorter_than_a_window_gets_a_pose_per_frame(tmp_path, refiners, carphone_frames, n):
    path = write_video(tmp_path / f"short{n}.mp4", carphone_frames[:n])
    summary = process_video(path, tmp_path / "out", CFG, refiners, progress=False)
    df = pd.read_csv(summary.csv)
    assert len(df) == n and (df.frame == np.arange(n)).all()
    assert (df.keyframe == (df.frame % 10 == 0)).all()
    assert np.isfinite(image_xy(df)).all()                           # a pose on every frame
    side = json.loads(summary.csv.with_suffix(".json").read_text())
    assert side["frames"] == n
    assert side["short_clip"]["frames"] == n and side["short_clip"]["window"] == refiners[0].window
    assert "padded" in side["short_clip"]["method"]


def test_a_short_clip_without_a_refiner_model_says_it_was_interpolated(tmp_path, carphone_frames):
    from pipeline.refiner.runtime import Refiner                      # what a space without an
    linear = (Refiner.linear("image", 10), Refiner.linear("world", 10))   # accepted model runs
    path = write_video(tmp_path / "short5.mp4", carphone_frames[:5])
    summary = process_video(path, tmp_path / "out", CFG, linear, progress=False)
    side = json.loads(summary.csv.with_suffix(".json").read_text())
    assert side["short_clip"]["method"].startswith("linear interpolation of its keyframes")
    assert len(pd.read_csv(summary.csv)) == 5


def test_a_short_clip_says_how_each_space_was_recovered_where_they_differ():
    from pipeline.process import short_clip
    from pipeline.refiner.runtime import Refiner
    world = Refiner.load(WEIGHTS_DIR / "world_k10_q3_keyframe.json")
    method = short_clip(5, (Refiner.linear("image", 10, 3, latency="keyframe"), world))["method"]
    assert method.startswith("2D: linear interpolation of its keyframes") and "3D: one refiner window" in method


def test_a_full_length_clip_is_not_marked_short(tmp_path, refiners):
    summary = process_video(CARPHONE, tmp_path, CFG, refiners, progress=False)
    assert json.loads(summary.csv.with_suffix(".json").read_text())["short_clip"] is None


# --- 8. the sidecar commits with the CSV -------------------------------------------------------------

@pytest.mark.parametrize("failing", [".csv", ".json"])
def test_csv_and_sidecar_are_committed_together(tmp_path, refiners, monkeypatch, failing):
    real = os.replace

    def replace(src, dst):
        if str(dst).endswith(failing):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(src, dst)
    monkeypatch.setattr(os, "replace", replace)
    short = write_video(tmp_path / "clip.mp4", read_frames(CARPHONE, 40))
    with pytest.raises(ExportError, match="Input/output error"):
        process_video(short, tmp_path / "out", CFG, refiners, progress=False)
    assert files(tmp_path / "out") == []                               # neither the CSV nor its sidecar
