"""CSV export of a finished run's refined poses, off the GUI thread, in the headless schema.

The rows go through `pipeline.io.export.CsvWriter` (a temporary file renamed into place at the end,
with the JSON sidecar), so a failed (full disk) or interrupted export leaves the previous files, or
none: never half a CSV, never a sidecar without its CSV. Exports run one at a time (`Session`
queues them); closing the window finishes the one writing and those waiting.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal

from pipeline.config import PipelineConfig
from pipeline.io.export import CsvWriter, ExportError
from pipeline.process import RunStats, run_metadata
from pipeline.refiner.runtime import Refiner

from .channel import RunEnded, RunInfo


def sidecar_meta(info: RunInfo, cfg: PipelineConfig, stats: RunStats,
                 refiners: tuple[Refiner, Refiner | None], ended: str) -> dict:
    """The headless command's JSON sidecar for a run of the app (`ended`: how it ended)."""
    video = str(info.spec) if info.live or "://" in str(info.spec) else str(Path(info.spec).resolve())
    meta = run_metadata(video, info.fps, info.size, cfg, info.stride, refiners, stats, info.flops,
                        info.max_latency_frames, info.skeleton, rotation=info.rotation)
    return {**meta, "app": {"ended": ended, "dropped_frames": stats.dropped}}


class ExportJob(QThread):
    """Writes `result`'s poses to `path` (+ `.json`); reports progress, then success or failure."""
    progress = Signal(int, int)          # rows written, rows in all
    succeeded = Signal(str)              # the CSV's path
    failed = Signal(str)                 # a message for the user

    def __init__(self, result: RunEnded, path: Path, parent: QObject | None = None):
        super().__init__(parent)
        self.result, self.path = result, Path(path)

    def run(self) -> None:
        track, info = self.result.track, self.result.info
        total = len(track)
        step = max(1, total // 100)
        try:
            with CsvWriter(self.path, info.skeleton, info.world) as writer:
                for pose in track:
                    writer.write(pose)
                    if writer.rows % step == 0:
                        self.progress.emit(writer.rows, total)
                writer.commit(self.result.meta)
        except (ExportError, OSError) as e:
            self.failed.emit(str(e) if isinstance(e, ExportError) else
                             f"cannot write {self.path}: {e.strerror or e}")
        else:
            self.progress.emit(total, total)
            self.succeeded.emit(str(self.path))
