"""CSV export of refined poses, written atomically, with a JSON sidecar.

Schema (one row per frame; `pandas.read_csv(path)` loads it):
    frame, time_s, keyframe, detected, <joint>_x, <joint>_y, <joint>_conf [, <joint>_X, _Y, _Z]
image joints in pixels, world joints in metres; cells are empty where a frame has no pose.
Rows go to a temporary file in the target folder that is renamed over the target only when
everything is written, together with the sidecar: an error (a full disk too), Ctrl-C or SIGTERM
leaves the previous files (or none), never half a CSV, nor a sidecar without its CSV.
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

from ..atomic import make_temp
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
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"cannot write to {folder}: it is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ExportError(f"cannot write to {folder}: {e.strerror or e}") from e
    return folder


class CsvWriter:
    """Streams rows into `<path>`'s temporary sibling; `commit(sidecar)` renames it into place
    together with its JSON sidecar `<path stem>.json`: both are written, or neither.

    Use as a context manager: leaving the block by an exception (Ctrl-C, SIGTERM, a full disk)
    deletes the temporary files and leaves any earlier outputs untouched. A failed write
    raises ExportError (and has already deleted the temporary file)."""

    def __init__(self, path: str | Path, skeleton: Skeleton, world: bool):
        self.path = Path(path)
        self.skeleton, self.world = skeleton, world
        self.rows = 0
        check_writable(self.path.parent)
        for out in (self.path, self.path.with_suffix(".json")):
            if out.is_dir():
                raise ExportError(f"cannot write {out}: a folder of that name is in the way")
        self._fd, self._tmp = make_temp(self.path)       # held open: the lock that marks it live
        self._done, self._file = False, None
        try:
            self._file = os.fdopen(os.dup(self._fd), "w", newline="")
            self._csv = csv.writer(self._file)
            self._csv.writerow(columns(skeleton, world))
        except OSError as e:
            raise self._failed(self.path, e) from e
        except BaseException:             # Ctrl-C / SIGTERM before the caller holds the writer
            self._tmp.unlink(missing_ok=True)
            self._release()
            raise

    def write(self, pose: FramePose) -> None:
        try:
            self._csv.writerow(row(pose, self.world))
        except OSError as e:
            raise self._failed(self.path, e) from e
        self.rows += 1

    def write_all(self, poses: Iterable[FramePose]) -> None:
        for p in poses:
            self.write(p)

    @property
    def sidecar_path(self) -> Path:
        return self.path.with_suffix(".json")

    def commit(self, sidecar: dict | None = None) -> Path:
        """Finish the CSV and, given `sidecar` (the run's metadata), write `sidecar_path` with it:
        both files are complete on disk before either is renamed into place, so a failure
        (a full disk, Ctrl-C) leaves the earlier outputs, or none."""
        json_fd = json_tmp = None
        target = self.path
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            if sidecar is not None:
                target = self.sidecar_path
                json_fd, json_tmp = make_temp(target)
                with os.fdopen(os.dup(json_fd), "w") as f:
                    f.write(sidecar_text(sidecar))
                    f.flush()
                    os.fsync(f.fileno())
                target = self.path
            os.replace(self._tmp, self.path)
            self._done = True
            if json_tmp is not None:
                target = self.sidecar_path
                os.replace(json_tmp, self.sidecar_path)
                json_tmp = None
        except BaseException as e:
            if json_tmp is not None:
                json_tmp.unlink(missing_ok=True)
                if self._done:
                    # the CSV went in without its sidecar (rare: both are on disk by then): take
                    # it back out, and an earlier run's sidecar with it, rather than mismatch
                    self.path.unlink(missing_ok=True)
                    self.sidecar_path.unlink(missing_ok=True)
            if isinstance(e, OSError):
                raise self._failed(target, e) from e
            self.abort()
            raise
        finally:
            if json_fd is not None:
                os.close(json_fd)
            self._release()
        return self.path

    def _failed(self, path: Path, e: OSError) -> ExportError:
        self.abort()
        return ExportError(f"cannot write {path}: {e.strerror or e}")

    def abort(self) -> None:
        """Delete the temporary file (first: that needs no disk space), then close it; what was
        still buffered is dropped."""
        if not self._done:
            self._tmp.unlink(missing_ok=True)
        try:
            if self._file is not None:
                self._file.close()
        except OSError:
            pass
        self._release()

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "CsvWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif not self._done and self._fd is not None:
            self.commit()


def earlier_run_note(csv: Path) -> str | None:
    """After a video failed: a note where its output name holds an earlier run's CSV (left as it
    was), else None."""
    return f"{csv} is from an earlier run, not this one (kept unchanged)" if csv.is_file() else None


MMPOSE_PACKAGES = ("mmpose", "mmdet", "mmengine", "mmcv-lite", "mmcv")


def versions(extra: tuple[str, ...] = ()) -> dict:
    """Versions of the libraries (and of the `extra` distributions installed), from their installed
    metadata (importing none: torch is not loaded at run time)."""
    from importlib.metadata import PackageNotFoundError, version

    import cv2
    out = {"python": platform.python_version(), "numpy": np.__version__, "opencv": cv2.__version__}
    for name in ("torch", "onnxruntime", "mediapipe") + tuple(extra):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def sidecar_text(meta: dict) -> str:
    """The JSON sidecar of a CSV: the run's metadata and the versions of the libraries."""
    mmpose = isinstance(meta.get("config"), dict) and meta["config"].get("estimator") == "mmpose"
    return json.dumps({**meta, "versions": versions(MMPOSE_PACKAGES if mmpose else ())},
                      indent=2, default=str) + "\n"
