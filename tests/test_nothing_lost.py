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
