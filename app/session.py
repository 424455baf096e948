"""The app's state between the views and the worker: what plays, what is on screen, what can be
exported and browsed. Views call the intent methods and listen to the signals; nothing here waits
on the worker: a timer takes what is ready from the display queue and paces it.

Real-time pacing off, a file is processed as fast as possible and only the frames the screen can
show are shown; the others' poses come in order as `frames_passed` (for the plots).

Browsing: the frames of a file's run (all of them once it is over; those processed so far while
it is paused) can be revisited with `seek` / `step`: the worker decodes the frame again and sends
it with the poses the run kept, without running the estimator.

Python's cyclic garbage collector runs only in the GUI thread while a session lives (pyqtgraph's
`GarbageCollector`: automatic collection off, a collection on a timer): a collection that a worker
or export thread happened to trigger would destroy Qt objects of the GUI thread from that thread,
which Qt does not allow (a crash or a deadlock; a hang seen once in the suite, while the worker
imported torch, fits this).
"""
from __future__ import annotations

import faulthandler
import gc
import sys
import time
from collections import deque
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from pyqtgraph.util.garbage_collector import GarbageCollector

from pipeline.config import PipelineConfig
from pipeline.io.sources import VideoSource
from pipeline.process import output_stem

from .channel import (Configured, Connecting, DisplayQueue, FrameItem, FramesPassed, Notice, OpenFailed,
                      PlaylistChanged, RunEnded, RunInfo, RunStarted, Snapshot)
from .export import ExportJob
from .worker import PipelineWorker, Spec

IDLE, RUNNING, PAUSED, CONNECTING = "idle", "running", "paused", "connecting"


def csv_name(spec: Spec, taken: set[str]) -> str:
    """`<video's stem>.csv`, or `<stem>-2.csv`, `-3`, ... where the name is taken (ignoring case)."""
    stem, folded = output_stem(VideoSource(spec)), {t.casefold() for t in taken}
    name, n = f"{stem}.csv", 1
    while name.casefold() in folded:
        n += 1
        name = f"{stem}-{n}.csv"
    return name


class Session(QObject):
    """Owns the worker thread, the display queue, the batch's finished runs and the exports; see the
    module doc."""
    run_started = Signal(object)          # RunInfo
    frame_shown = Signal(object)          # FrameItem, in display order
    frames_passed = Signal(tuple)         # FrameItems processed, not shown (no image), in order
    frame_browsed = Signal(object)        # FrameItem of a seek (the run's kept poses)
    position_changed = Signal(int, int)   # frame on screen, frames that can be browsed
    connecting = Signal(str, float)       # source name, timeout in seconds
    stats_changed = Signal(object, object)  # RunInfo, Snapshot; a few times a second
    run_ended = Signal(object)            # RunEnded
    state_changed = Signal(str)           # IDLE, RUNNING, PAUSED, CONNECTING
    playlist_changed = Signal(tuple)      # names of the queued sources
    configured = Signal(object, str, object)  # PipelineConfig in use, its description, FlopsReadout
    message = Signal(str, bool)           # text, is an error
    export_progress = Signal(int, int)    # rows written, rows in all
    export_finished = Signal(str, bool)   # CSV path or error message, success
    export_offered = Signal(bool)         # a run ended early: its poses wait to be exported

    def __init__(self, parent: QObject | None = None, poll_ms: int = 8):
        super().__init__(parent)
        self.queue = DisplayQueue()
        self.worker = PipelineWorker(self.queue)
        self.state = IDLE
        self.info: RunInfo | None = None
        self.snapshot: Snapshot | None = None
        self.cfg: PipelineConfig | None = None
        self.last_result: RunEnded | None = None
        self.position = -1                    # frame on screen (-1: none)
        self.browsable = 0                    # frames of the file run that can be browsed
        self.realtime = True                  # files: display at the video's pace (else at once)
        self._clock: tuple[float, float] | None = None      # (wall time, video time) anchor
        self._stats_emitted = 0.0
        self._load_since = (time.perf_counter(), time.thread_time())   # GUI thread: wall, CPU
        self._fallback: tuple[Spec, Path] | None = None
        self._fallback_note: str | None = None     # why the fallback video plays instead
        self._pending_export: Path | None = None
        self._export: ExportJob | None = None
        self._exports: deque[tuple[RunEnded, Path]] = deque()   # waiting for the one writing
        self._outcomes: list[str | None] = []     # exports done since the queue was last empty: error or None
        self.batch: dict[Spec, RunEnded] = {}     # finished runs of the sources opened together
        self._queued: tuple = ()                  # the sources still to play, as opened
        self._awaiting = False                    # a source asked for has neither started nor failed
        self._unread: list[str] = []              # the batch's sources that could not be opened
        self._batch_folder: Path | None = None    # export_all: where the batch's runs are written
        self._batch_paths: dict[Spec, Path] = {}
        self._closed = False
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._timer.start(poll_ms)
        self._gc = GarbageCollector(interval=0.5)    # before the threads start
        self.worker.start()

    # -- intents ---------------------------------------------------------------------------------
    def configure(self, cfg: PipelineConfig) -> None:
        """Use these settings; a run in progress restarts with them."""
        self._set_paused(False)
        self.worker.configure(cfg)

    def open(self, specs: list[Spec]) -> None:
        """Play these now (the first at once, the others queued), ending what plays: a new
        batch (`export_all` no longer follows the previous one)."""
        if specs:
            self._set_paused(False)
            self._new_batch()
            if self._pending_export is not None:
                self.message.emit(f"export to {self._pending_export.name} cancelled: its video was "
                                  "replaced before it ended", True)
                self._pending_export = None
            self._awaiting = True
            self.worker.open(specs, replace=True)

    def _new_batch(self) -> None:
        self.batch, self._batch_folder, self._batch_paths, self._unread = {}, None, {}, []

    def enqueue(self, specs: list[Spec]) -> None:
        """Play these after what is playing and queued (at once when nothing plays)."""
        if specs:
            if not self._busy:                     # nothing plays or waits: a new batch
                self._new_batch()
            self._awaiting = True
            self.worker.open(specs, replace=False)

    def open_camera(self, index: int, fallback: Path | None = None) -> None:
        """Open camera `index`; if it cannot be opened and a fallback video is given, play that."""
        self._fallback = (index, fallback) if fallback is not None else None
        self.open([index])

    def toggle_pause(self) -> None:
        if self.state == RUNNING:
            self._set_paused(True)
            self.worker.pause()
        elif self.state == PAUSED:
            self._set_paused(False)
            self.worker.resume()

    def restart(self) -> None:
        self._set_paused(False)
        self._awaiting = self.info is not None
        self.worker.restart()

    def stop(self) -> None:
        self._set_paused(False)
        self._awaiting = False
        self.worker.stop()

    def seek(self, index: int) -> None:
        """Show frame `index` of the file's run with its kept poses (a run in progress pauses)."""
        if self.info is None or self.info.live or self.browsable == 0:
            return
        if self.state == RUNNING:
            self.toggle_pause()
        index = min(max(index, 0), self.browsable - 1)
        self._set_position(index)
        self.worker.seek(index)

    def step(self, frames: int) -> None:
        """Move `frames` frames from the one on screen (negative: back)."""
        self.seek(self.position + frames)

    def set_display_size(self, width: int, height: int) -> None:
        """The video is shown at this size (device pixels): frames come fitted to it."""
        self.worker.set_display_size(width, height)

    def set_realtime(self, on: bool) -> None:
        """Files at their own pace, every frame shown; off: as fast as they are processed,
        showing as many frames as the screen can (the others' poses still reach the plots)."""
        self.realtime = on
        self._clock = None
        self.worker.set_realtime(on)

    def export(self, path: str | Path) -> None:
        """Write the current video's poses to `path`; during a run, once the run is over."""
        path = Path(path)
        if self._running:
            replaced, self._pending_export = self._pending_export, path
            when = "when you stop it" if self.info.live else "when it ends"
            instead = f", instead of {replaced.name}" if replaced is not None and replaced != path else ""
            self.message.emit(f"export queued: {path.name} will be written {when}{instead} "
                              f"({self.info.name} is still running)", False)
        elif self.last_result is None:
            self.message.emit("nothing to export yet: play a video first", True)
        else:
            self._queue_export(self.last_result, path)

    def export_all(self, folder: str | Path) -> None:
        """Write every finished run of the batch (the sources opened together: a dropped folder,
        several files) to `folder` as `<video>.csv` (+ .json), and each run of the batch that ends
        from now on as it ends (a re-run replaces its file)."""
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            self.message.emit(f"cannot export to {folder}: it is a file, not a folder", True)
            return
        if not self.has_batch:
            self.message.emit("nothing to export yet: play a video first", True)
            return
        before = self._batch_folder if self._busy else None
        if folder != self._batch_folder:
            self._batch_folder, self._batch_paths = folder, {}
        for result in self.batch.values():
            self._queue_export(result, self._batch_path(result.info.spec))
        later = len(self._to_come())
        self.message.emit(f"exporting {len(self.batch)} finished video(s) to {folder}"
                          + (f"; the {later} still playing or queued are written there as each ends"
                             if later else "")
                          + (f" (no longer to {before})" if before is not None and before != folder else ""), False)

    def planned_paths(self, folder: str | Path) -> list[Path]:
        """The CSVs `export_all(folder)` would write: the batch's finished videos, the one playing
        and those queued (for the caller to check what exists)."""
        taken: set[str] = set()
        for spec in dict.fromkeys([*self.batch, *self._to_come()]):
            taken.add(csv_name(spec, taken))
        return [Path(folder) / name for name in sorted(taken)]

    def _to_come(self) -> list[Spec]:
        """Sources of the batch that will still end: the one playing and those queued."""
        playing = [self.info.spec] if self._running else []
        return playing + list(self._queued)

    def _batch_path(self, spec: Spec) -> Path:
        """Where `export_all` writes `spec`'s run: the same file for a re-run."""
        if spec not in self._batch_paths:
            self._batch_paths[spec] = self._batch_folder / csv_name(
                spec, {p.name for p in self._batch_paths.values()})
        return self._batch_paths[spec]

    @property
    def has_batch(self) -> bool:
        """Whether `export_all` has anything to write: a finished run, or one to come."""
        return bool(self.batch) or self._busy

    @property
    def batch_following(self) -> str | None:
        """The folder `export_all` writes runs still to end into, while one plays (else None)."""
        return str(self._batch_folder) if self._batch_folder is not None and self._busy else None

    @property
    def _running(self) -> bool:
        return self.state != IDLE and self.info is not None

    @property
    def _busy(self) -> bool:
        """A run plays, or a source asked for is still to start."""
        return self._running or self._awaiting or bool(self._queued)

    def shutdown(self, wait_s: float = 20.0) -> None:
        """Stop the worker, let an export that is writing finish, and wait for their threads, at
        most `wait_s` each: a thread stuck in a library never hangs the closing window (its stack
        is printed); then write the exports still waiting; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._timer.stop()
        self.worker.shutdown()
        threads = [("the pipeline worker", self.worker)]
        if self._export is not None:       # an export already writing is finished, not lost
            threads.append(("the export", self._export))
        for name, thread in threads:
            if not thread.wait(int(wait_s * 1000)):
                print(f"warning: {name} did not stop within {wait_s:g} s; the threads' stacks:",
                      file=sys.stderr)
                faulthandler.dump_traceback(sys.stderr)
        while self._exports:               # and those waiting for it, here (no event loop now)
            job = ExportJob(*self._exports.popleft())
            job.failed.connect(lambda text: print(f"warning: export failed: {text}", file=sys.stderr),
                               Qt.ConnectionType.DirectConnection)
            job.run()
        self._gc.timer.stop()
        gc.enable()
        gc.collect()

    @property
    def exporting(self) -> bool:
        return self._export is not None or bool(self._exports)

    @property
    def pending_export(self) -> Path | None:
        """Where the export queued for the end of the running video goes (None: none queued)."""
        return self._pending_export

    # -- the display timer -----------------------------------------------------------------------
    def _tick(self) -> None:
        """Handle the events that are ready and show at most one frame, when it is due."""
        self._measure_load()
        if (browsed := self.queue.take_browsed()) is not None:
            if browsed.pose.index == self.position:     # not a seek overtaken by another
                self.frame_browsed.emit(browsed)
        while (item := self.queue.peek()) is not None:
            if isinstance(item, FrameItem):
                if self.state == PAUSED or not self._due(item):
                    return
                self.queue.pop()
                self._show(item)
                return
            self.queue.pop()
            self._handle(item)

    def _measure_load(self) -> None:
        """The GUI thread's CPU share over the last tenth of a second, for the worker's picker."""
        now, cpu = time.perf_counter(), time.thread_time()
        if now - self._load_since[0] >= 0.1:
            self.queue.gui_load = (cpu - self._load_since[1]) / (now - self._load_since[0])
            self._load_since = (now, cpu)

    def _due(self, item: FrameItem) -> bool:
        """Paced at the source's own timing (live sources always; files when real-time)."""
        if self.info is None or not (self.realtime or self.info.live):
            return True
        now, t = time.monotonic(), item.pose.time_s
        if self._clock is not None:
            due = self._clock[0] + t - self._clock[1]
            if now < due:
                return False
            if now - due < 0.2:
                return True
        self._clock = (now, t)              # first frame, or too far behind: start again from here
        return True

    def _show(self, item: FrameItem) -> None:
        self.snapshot = item.snapshot
        if self.info is not None and not self.info.live:
            self.browsable = item.pose.index + 1
        self._set_position(item.pose.index)
        self.frame_shown.emit(item)
        now = time.monotonic()
        if now - self._stats_emitted > 0.25:
            self._stats_emitted = now
            self.stats_changed.emit(self.info, item.snapshot)

    def _handle(self, event: object) -> None:
        if isinstance(event, FramesPassed):
            if self.info is not None and not self.info.live:      # browsable, though not shown
                self.browsable = max(self.browsable, event.items[-1].pose.index + 1)
            self.frames_passed.emit(event.items)
        elif isinstance(event, RunStarted):
            self._awaiting = False
            self.info, self.snapshot, self._clock = event.info, None, None
            self.browsable = 0
            self._set_position(-1)
            if self._fallback is not None and self._fallback[0] == event.info.spec:
                self._fallback = None
            self._set_state(PAUSED if self.state == PAUSED else RUNNING)
            self.export_offered.emit(False)
            self.run_started.emit(event.info)
            note, self._fallback_note = self._fallback_note, None
            self.message.emit(note or f"playing {event.info.name} (K={event.info.k}, Q={event.info.q})",
                              note is not None)
        elif isinstance(event, RunEnded):
            self._run_ended(event)
        elif isinstance(event, Connecting):
            self._set_state(CONNECTING)
            self.connecting.emit(event.name, event.timeout_s)
            self.message.emit(f"connecting to {event.name} … (Stop cancels; gives up after "
                              f"{event.timeout_s:.0f} s)", False)
        elif isinstance(event, OpenFailed):
            self._awaiting = bool(self._queued)    # the next one is being opened
            if self.state == CONNECTING:
                self._set_state(IDLE)
            if not event.cancelled:
                self._unread.append(str(event.spec))
            self._open_failed(event)
            self._next_export()
        elif isinstance(event, Configured):
            self.cfg = event.cfg
            self.configured.emit(event.cfg, event.description, event.flops)
        elif isinstance(event, PlaylistChanged):
            self._queued = event.specs
            self.playlist_changed.emit(event.names)
        elif isinstance(event, Notice):
            self.message.emit(event.text, event.error)

    def _run_ended(self, result: RunEnded) -> None:
        self._awaiting = bool(self._queued) or result.replaced     # the next one is being opened
        if not result.info.live:
            self.browsable = len(result.track)
            self._set_position(self.position)
        self.snapshot = result.snapshot
        self._set_state(IDLE)
        self.stats_changed.emit(result.info, result.snapshot)
        self.run_ended.emit(result)
        if result.replaced:        # cut short to play something else at once: not a result to keep
            return
        self.last_result = result
        s, name, n = result.snapshot, result.info.name, len(result.track)
        if result.error:
            self.message.emit(f"{result.error}. Stopped cleanly: the poses of the {n} frames read "
                              "are kept; export them to CSV to save them", True)
            self.export_offered.emit(n > 0)
        elif result.stopped:
            self.message.emit(f"{name}: stopped after {n} frames", False)
        else:
            self.message.emit(f"{name}: {n} frames, {s.keyframes} keyframes ({s.detected} with a "
                              f"person), {s.fps:.0f} fps, measured speed-up {s.measured_speedup:.2f}x", False)
        if self._pending_export is not None:
            path, self._pending_export = self._pending_export, None
            self._queue_export(result, path)
        if n == 0:
            return
        spec, earlier = result.info.spec, self.batch.get(result.info.spec)
        if (result.stopped or result.error) and earlier is not None and not (earlier.stopped or earlier.error):
            if self._batch_folder is not None:      # a cut-short re-run never replaces a whole one
                self.message.emit(f"{name}: stopped after {n} frames; its complete run before stays in "
                                  f"{self._batch_folder} (Export CSV writes this one)", False)
            return
        self.batch[spec] = result
        if self._batch_folder is not None:
            self._queue_export(result, self._batch_path(spec))

    def _open_failed(self, event: OpenFailed) -> None:
        if event.cancelled:
            self._fallback = None
            self.message.emit(event.message, False)
        elif self._fallback is not None and self._fallback[0] == event.spec:
            _, video = self._fallback
            self._fallback = None
            self._fallback_note = f"{event.message}; playing the bundled demo {video.name} instead"
            self.message.emit(self._fallback_note, True)
            self.open([str(video)])
        else:
            self.message.emit(event.message, True)

    def _set_paused(self, paused: bool) -> None:
        if paused and self.state == RUNNING:
            self._set_state(PAUSED)
        elif not paused and self.state == PAUSED:
            self._clock = None
            self._set_state(RUNNING)

    def _set_position(self, index: int) -> None:
        self.position = index
        self.position_changed.emit(index, self.browsable)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    # -- export ----------------------------------------------------------------------------------
    def _queue_export(self, result: RunEnded, path: Path) -> None:
        """Write `result` to `path` after the exports before it (one at a time)."""
        if len(result.track) == 0:
            self.message.emit(f"{result.info.name}: no frames were read, nothing to export", True)
            return
        self._exports.append((result, path))
        if self._export is None:
            self._start_export()
        else:
            self.message.emit(f"export of {path.name} waits for {self._export.path.name} to be written", False)

    def _start_export(self) -> None:
        result, path = self._exports.popleft()
        job = self._export = ExportJob(result, path, self)
        job.progress.connect(self.export_progress)
        job.succeeded.connect(self._export_succeeded)
        job.failed.connect(self._export_failed)
        job.finished.connect(job.deleteLater)
        self.export_progress.emit(0, len(result.track))
        self.message.emit(f"exporting {len(result.track)} frames to {path} ...", False)
        job.start()

    def _export_succeeded(self, path: str) -> None:
        job = self._export_done()
        self.export_offered.emit(False)
        info, n = job.result.info, len(job.result.track)
        cut = (f" (the run stopped after {n} of {info.frame_count} frames)"
               if (job.result.stopped or job.result.error) and info.frame_count and n < info.frame_count else "")
        self.message.emit(f"exported {n} frames to {path} (+ .json){cut}", False)
        self._outcomes.append(None)
        self.export_finished.emit(path, True)
        self._next_export()

    def _export_failed(self, text: str) -> None:
        self._export_done()
        self.message.emit(f"export failed: {text}", True)
        self._outcomes.append(text)
        self.export_finished.emit(text, False)
        self._next_export()

    def _export_done(self) -> ExportJob:
        job, self._export = self._export, None
        job.wait()
        return job

    def _next_export(self) -> None:
        """Start the next waiting export; when none is left after several, say which failed (the
        status bar has moved on from their messages)."""
        if self._export is not None or self._closed:
            return
        if self._exports:
            self._start_export()
            return
        failed = [t for t in self._outcomes if t is not None]
        if failed and len(self._outcomes) > 1:
            self.message.emit(f"{len(failed)} of {len(self._outcomes)} exports failed: "
                              + "; ".join(dict.fromkeys(failed)), True)
        self._outcomes = []
        if self._unread and self._batch_folder is not None and not self._busy:
            names = ", ".join(VideoSource(s).name for s in self._unread)
            self.message.emit(f"{len(self._unread)} video(s) of the batch could not be read and have no "
                              f"CSV in {self._batch_folder}: {names}", True)
            self._unread = []

