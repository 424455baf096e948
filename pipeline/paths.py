"""Where the repository's folders and the shared data live (override the data with KEYFRAME_POSE_DATA)."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
WEIGHTS_DIR = REPO_ROOT / "weights"
ASSETS_DIR = REPO_ROOT / "assets"
SHARED_DATA = Path(os.environ.get("KEYFRAME_POSE_DATA", REPO_ROOT.parent / "shared" / "data"))
MOTION_DIR = SHARED_DATA / "motion"
VIDEO_DIR = SHARED_DATA / "video"
