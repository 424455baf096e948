"""Nothing lost, nothing partial: name clashes, a full disk, failed videos, rotated phone videos,
SIGTERM, variable frame rates, clips shorter than a refiner window and the sidecar's commit, on
real videos (re-encoded, trimmed or re-tagged by tests/media.py)."""
import errno
import json
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
from pipeline.paths import REPO_ROOT, VIDEO_DIR
from pipeline.process import KeyframePipeline, process_video
from pipeline.skeleton import BODY12_FROM_MP33, MEDIAPIPE33
from pipeline.estimators import make_estimator

CFG = PipelineConfig(k=10)
CARPHONE = VIDEO_DIR / "carphone.mp4"          # 120 frames, 176x144, a man in a car
DEMO = VIDEO_DIR / "sports2d_demo.mp4"         # 230 frames, 1768x994


@pytest.fixture(scope="module")
def refiners():
    return load_refiners(CFG)


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


# --- 2. disk full -------------------------------------------------------------------------------

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


# --- 5. SIGTERM, and partial files left by a killed run --------------------------------------------

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


def test_a_truncated_variable_frame_rate_file_is_still_refused(tmp_path, carphone_frames):
    path = set_webm_frame_durations(write_video(tmp_path / "vfr.webm", carphone_frames, fourcc="VP80"),
                                    VFR_DURATIONS)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with VideoSource(path) as src, pytest.raises(SourceError, match="truncated or corrupt"):
        for _ in src.frames(lambda i: False):
            pass
