"""CSV export of refined poses, written atomically, with a JSON sidecar.

Schema (one row per frame; `pandas.read_csv(path)` loads it):
    frame, time_s, keyframe, detected, <joint>_x, <joint>_y, <joint>_conf [, <joint>_X, _Y, _Z]
image joints in pixels, world joints in metres; cells are empty where a frame has no pose.
Rows go to a temporary file in the target folder that is renamed over the target only when
everything is written: an error or Ctrl-C leaves the previous file (or none), never half a CSV.
"""
from __future__ import annotations

import csv
import json
import math
import os
import platform
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np

from ..atomic import atomic_write, make_temp
from ..skeleton import Skeleton
from ..streaming import FramePose


class ExportError(OSError):
    """The output cannot be written; the message is meant for the user."""


def columns(skeleton: Skeleton, world: bool) -> list[str]:
    cols = ["frame", "time_s", "keyframe", "detected"]
    for j in skeleton.joints:
        cols += [f"{j}_x", f"{j}_y", f"{j}_conf"]
    if world:
        for j in skeleton.joints:
            cols += [f"{j}_X", f"{j}_Y", f"{j}_Z"]
    return cols


def _fmt(values: np.ndarray, digits: int) -> list[str]:
    """Numbers as text with `digits` decimals, flattened; NaN (no pose) as an empty cell."""
    return [f"{v:.{digits}f}" if math.isfinite(v) else "" for v in np.ravel(values).tolist()]


def row(pose: FramePose, world: bool) -> list[str]:
    xy, conf = _fmt(pose.image, 2), _fmt(pose.conf, 4)
    cells = [str(pose.index), f"{pose.time_s:.4f}", str(int(pose.keyframe)), str(int(pose.detected))]
    cells += [c for j in range(len(conf)) for c in (xy[2 * j], xy[2 * j + 1], conf[j])]
    if world:
        w = pose.world if pose.world is not None else np.full((len(pose.image), 3), np.nan)
        cells += _fmt(w, 5)
    return cells


def check_writable(folder: str | Path) -> Path:
    """Create the folder if needed and prove a file can be written there, or raise ExportError."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ExportError(f"cannot write to {folder}: {e.strerror or e}") from e
    return folder


class CsvWriter:
    """Streams rows into `<path>`'s temporary sibling; `commit()` renames it into place.

    Use as a context manager: leaving the block by an exception (Ctrl-C included) deletes the
    temporary file and leaves any earlier `path` untouched."""

    def __init__(self, path: str | Path, skeleton: Skeleton, world: bool):
        self.path = Path(path)
        self.skeleton, self.world = skeleton, world
        self.rows = 0
        check_writable(self.path.parent)
        fd, self._tmp = make_temp(self.path)
        self._file = os.fdopen(fd, "w", newline="")
        self._csv = csv.writer(self._file)
        self._csv.writerow(columns(skeleton, world))

    def write(self, pose: FramePose) -> None:
        self._csv.writerow(row(pose, self.world))
        self.rows += 1

    def write_all(self, poses: Iterable[FramePose]) -> None:
        for p in poses:
            self.write(p)

    def commit(self) -> Path:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        try:
            os.replace(self._tmp, self.path)
        except OSError as e:
            self.abort()
            raise ExportError(f"cannot write {self.path}: {e.strerror or e}") from e
        return self.path

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "CsvWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif not self._file.closed:
            self.commit()


def versions() -> dict:
    import cv2
    import torch
    out = {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
           "opencv": cv2.__version__}
    try:
        from importlib.metadata import version
        out["mediapipe"] = version("mediapipe")
    except Exception:
        pass
    return out


def write_sidecar(csv_path: str | Path, meta: dict) -> Path:
    """`<csv>.json` next to the CSV (atomic), with the run's metadata and library versions."""
    path = Path(csv_path).with_suffix(".json")
    text = json.dumps({**meta, "versions": versions()}, indent=2, default=str) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return path
