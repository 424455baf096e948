import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pipeline.paths import MOTION_DIR, VIDEO_DIR  # noqa: E402


def pytest_sessionstart(session):
    missing = [p for p in (MOTION_DIR, VIDEO_DIR) if not p.is_dir()]
    if missing:
        raise pytest.UsageError(f"the shared data is missing: {', '.join(map(str, missing))} "
                                "(set KEYFRAME_POSE_DATA to the folder holding motion/ and video/)")


@pytest.fixture(scope="session")
def motion_clips():
    from pipeline.training.motion import load_motion_dir
    return load_motion_dir(MOTION_DIR)


@pytest.fixture(scope="session")
def demo_video() -> Path:
    return VIDEO_DIR / "sports2d_demo.mp4"


@pytest.fixture(scope="session")
def mocap_track(motion_clips):
    """A real motion seen by a fixed virtual camera: image (T, 12, 2) px and world (T, 12, 3) m."""
    from pipeline.training.synth import random_view, resample, to_space
    from pipeline.skeleton import BODY12, root_of
    clip = next(c for c in motion_clips if c.name == "test/jumping/01")     # 17 s
    joints = resample(clip, np.arange(0, clip.seconds, 1 / 30))
    view = random_view(root_of(joints, BODY12), np.random.default_rng(1))
    return to_space(joints, view, "image").astype(np.float32), to_space(joints, view, "world").astype(np.float32)
