"""The keyframe pipeline as one driver-independent loop, and the headless processing of a video.

Source -> schedule (keyframe every K) -> estimator on keyframes -> streaming refiner -> poses.
The GUI worker and the headless command both iterate `KeyframePipeline.run`.
"""
from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlsplit

import numpy as np

from .config import PipelineConfig, load_refiners, weights_summary
from .estimators import Estimator, make_estimator
from .io.export import CsvWriter, check_writable
from .flops import FlopsReadout, refiner_flops_per_frame
from .metrics import bbox_from_joints, pck
from .refiner.runtime import Refiner
from .skeleton import BODY12, MEDIAPIPE33, Skeleton, torso_length
from .io.sources import (STREAM_TIMEOUT_S, Frame, SourceError, ThreadedReader, VideoSource,
                         open_interruptibly)
from .refiner.latency import latency_frames
from .streaming import FramePose, make_streamer


@dataclass
class RunStats:
    """Timings and counts of one run; rates are per video frame."""
    frames: int = 0
    keyframes: int = 0
    detected: int = 0
    decode_s: float = 0.0
    estimator_s: float = 0.0
    refiner_s: float = 0.0
    wall_s: float = 0.0
    dropped: int = 0                 # live sources: stale frames dropped because processing lagged
    idle_s: float = 0.0              # time the consumer held the run (paused, display); not processing
    cpu_s: float = 0.0               # CPU time of the whole process (all threads) during the run
    started: float = field(default_factory=time.perf_counter)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def estimator_ms(self) -> float:
        return 1000 * self.estimator_s / self.keyframes if self.keyframes else 0.0

    @property
    def estimated_dense_s(self) -> float:
        """What running the estimator on every frame would have taken, from per-call timings."""
        if not self.keyframes:
            return 0.0
        return self.decode_s + self.frames * self.estimator_s / self.keyframes

    @property
    def measured_speedup(self) -> float:
        return self.estimated_dense_s / self.wall_s if self.wall_s > 0 else 0.0


def pipeline_flops(refiners: tuple[Refiner, Refiner | None], stride: int | None,
                   estimator_per_call: float) -> FlopsReadout:
    """FLOPs per frame of the estimator on keyframes and the refiners (image, world) windows
    every `stride` keyframes (None: the weights' own stride)."""
    image = refiners[0]
    stride = stride or image.stride
    return FlopsReadout(image.k, estimator_per_call,
                        sum(refiner_flops_per_frame(r.card, stride) for r in refiners if r is not None))


class KeyframePipeline:
    """One video's run: pull `run()` to get (frame, finished poses) after every frame."""

    def __init__(self, cfg: PipelineConfig, image: Refiner, world: Refiner | None,
                 estimator: Estimator, batch: int = 1, live: bool = False):
        """`batch` windows are refined per call: 1 where poses are shown as they come (the
        GUI), more for headless files (throughput; poses then come out in bursts). `live`: a
        camera or stream, whose missed keyframes the keyframe mode holds; a file's wait for the
        next detection and are filled between the two."""
        if not estimator.has_world:
            world = None         # nothing to refine (a 2D estimator): neither run nor counted
        self.cfg, self.image, self.world, self.estimator = cfg, image, world, estimator
        self.world_output = estimator.has_world and cfg.world      # 3D columns (off: --no-world)
        self.k, self.q = image.k, image.q
        self.stride = cfg.stride or image.stride
        self.latency = image.card.config.latency
        self.streaming = make_streamer(image, world, estimator.skeleton, self.stride, batch=batch,
                                       live=live, pin_keyframes=cfg.pin_keyframes, pin_world=cfg.pin_world,
                                       world_output=self.world_output)
        self.stats = RunStats()
        self.flops = pipeline_flops((image, world), self.stride, estimator.flops_per_call())

    @property
    def window(self) -> int:
        return self.k * self.q + 1

    def latency_frames(self) -> int:
        """Worst-case frames between a frame's arrival and its refined pose (misses aside)."""
        return latency_frames(self.latency, self.k, self.q)

    def run(self, source: VideoSource, want_pixels: bool | Callable[[int], bool] = False,
            stop: Callable[[], bool] | None = None) -> Iterator[tuple[Frame | None, list[FramePose]]]:
        """Yields (frame, poses finished by it) per frame, then (None, the rest) at the end.

        Keyframes are always decoded to pixels; other frames only where `want_pixels` says so:
        True (all), False (none), or a function of the frame index, called once per frame, in
        order, on the reader's thread (ahead of the frames yielded), e.g. to pick display frames.
        A frame without pixels has `image` None.

        A SourceError (truncated file, lost camera) is raised after the poses of every frame
        read so far have been yielded."""
        k, st = self.k, self.stats
        st.started, cpu_start = time.perf_counter(), time.process_time()
        want = want_pixels if callable(want_pixels) else lambda i: want_pixels
        reader = ThreadedReader(source, need_pixels=lambda i: want(i) or i % k == 0)
        frames = reader.frames()
        error: SourceError | None = None
        try:
            while not (stop is not None and stop()):
                t = time.perf_counter()
                try:
                    frame = next(frames)
                except StopIteration:
                    break
                except SourceError as e:
                    error = e
                    break
                finally:
                    st.decode_s += time.perf_counter() - t
                yield frame, self._step(frame, reader)
        finally:
            reader.close()               # also when the consumer abandons this generator
        rest = self.streaming.finish()
        st.refiner_s = self.streaming.stats.seconds
        st.wall_s = time.perf_counter() - st.started - st.idle_s
        st.cpu_s = time.process_time() - cpu_start
        yield None, rest
        if error is not None:
            raise error

    def _step(self, frame: Frame, reader: ThreadedReader) -> list[FramePose]:
        st = self.stats
        est = None
        if frame.index % self.k == 0:
            t = time.perf_counter()
            est = self.estimator.estimate(frame.image)
            st.estimator_s += time.perf_counter() - t
            st.keyframes += 1
            st.detected += est is not None
        st.frames += 1
        st.dropped = reader.dropped
        poses = self.streaming.push(frame.index, frame.time_s, est)
        st.refiner_s = self.streaming.stats.seconds
        st.wall_s = time.perf_counter() - st.started - st.idle_s
        return poses


# --- headless ---------------------------------------------------------------------------------

FILE_BATCH = 16      # windows per refiner call for files: ~0.2 ms a window instead of ~2 (bench/)

@dataclass
class VideoSummary:
    video: Path
    csv: Path | None
    frames: int
    fps: float
    stats: RunStats
    flops: FlopsReadout
    latency_frames: int
    dense: dict | None = None
    latency: str = "window"          # the latency mode (LATENCIES)
    last_time_s: float | None = None  # the last frame's timestamp (the container's)

    def timing(self) -> str:
        """`12.0 s at 30 fps`; from the timestamps where the frame rate varies (the container's
        rate is then an estimate): `7.9 s, variable frame rate (15.2 fps on average)`."""
        nominal = self.frames / self.fps if self.fps > 0 else 0.0
        if self.last_time_s is not None and self.frames >= 2:
            seconds = self.last_time_s * self.frames / (self.frames - 1)    # + one mean frame duration
            if abs(seconds - nominal) > 0.02 * max(seconds, nominal):
                return f"{seconds:.1f} s, variable frame rate ({self.frames / seconds:.1f} fps on average)"
        return f"{nominal:.1f} s at {self.fps:g} fps"

    def lines(self) -> list[str]:
        s, f = self.stats, self.flops
        g = lambda x: f"{x / 1e9:.4f}"
        out = [f"{self.video.name}: {self.frames} frames ({self.timing()}), "
               f"{s.keyframes} keyframes estimated, person found on {s.detected}",
               f"  estimator {g(f.estimator_per_keyframe)} GFLOPs per keyframe, {g(f.estimator_per_frame)} per frame; "
               f"refiner {g(f.refiner_per_frame)} GFLOPs per frame",
               f"  effective {g(f.effective_per_frame)} GFLOPs per frame; theoretical speed-up "
               f"{f.theoretical_speedup:.2f}x over the estimator on every frame",
               f"  measured {s.fps:.0f} fps end to end, estimator {s.estimator_ms:.1f} ms per keyframe; "
               f"speed-up {s.measured_speedup:.2f}x (dense time estimated from per-call timings)"]
        if self.dense:
            d = self.dense
            out.append(f"  dense baseline: {d['fps']:.0f} fps; measured speed-up {d['speedup']:.2f}x end to end, "
                       f"{d['estimator_speedup']:.2f}x in estimator time; refined vs dense: "
                       f"{d['error_torso']:.3f} torso lengths mean error, PCK@0.1 {d['pck01']:.3f} "
                       f"({d['frames_compared']} frames)")
        if s.keyframes and not s.detected:
            out.append("  warning: no person was found on any keyframe: the CSV has no poses")
        elif s.keyframes == 1 and self.frames > 1 and self.latency != "zero":
            out.append("  warning: K is longer than the video: only frame 0 was estimated and every "
                       "frame holds its pose (a smaller --every estimates more)")
        if s.dropped:
            out.append(f"  live source: {s.dropped} stale frames dropped because processing fell behind")
        out.append(f"  {self.latency} latency: {self.latency_frames} frames "
                   f"({1000 * self.latency_frames / self.fps:.0f} ms); "
                   + (f"wrote {self.csv} (+ .json)" if self.csv else "no CSV written"))
        return out


def run_dense(path: Path, estimator: Estimator, progress=None) -> tuple[np.ndarray, float, np.ndarray]:
    """The estimator on every frame: image joints (N, J, 2) (NaN where missed), wall seconds,
    and the seconds of each estimator call (N,)."""
    poses, calls = [], []
    start = time.perf_counter()
    with VideoSource(path) as src:
        for frame in src.frames():
            t = time.perf_counter()
            r = estimator.estimate(frame.image)
            calls.append(time.perf_counter() - t)
            poses.append(r.image if r is not None else np.full((len(estimator.skeleton), 2), np.nan))
            if progress is not None:
                progress(1)
    return np.array(poses, np.float32), time.perf_counter() - start, np.array(calls)


def agreement(refined: np.ndarray, dense: np.ndarray, skeleton: Skeleton = MEDIAPIPE33) -> dict:
    """Refined vs dense image poses (N, J, 2) of `skeleton` on frames where both exist:
    body-joint error per torso length and PCK@0.1/0.05 of the dense pose's box."""
    body = [skeleton.index(n) for n in BODY12.joints]
    r, d = refined[:, body], dense[:, body]
    ok = np.isfinite(r).all(axis=(1, 2)) & np.isfinite(d).all(axis=(1, 2))
    if not ok.any():
        return {"frames_compared": 0, "error_torso": float("nan"), "pck01": float("nan"),
                "pck005": float("nan")}
    r, d = r[ok], d[ok]
    err = np.linalg.norm(r - d, axis=-1).mean(-1) / np.maximum(torso_length(d, BODY12), 1e-6)
    box = bbox_from_joints(d)
    return {"frames_compared": int(ok.sum()), "error_torso": float(err.mean()),
            "pck01": pck(r, d, box, 0.1), "pck005": pck(r, d, box, 0.05)}


def short_clip(frames: int, refiners: tuple[Refiner, Refiner | None]) -> dict | None:
    """How a clip shorter than one refiner window (K*Q+1 frames) got its poses, per space where
    the image and world refiners differ; None otherwise."""
    image = refiners[0]
    if frames >= image.window:
        return None
    how = lambda r: ("linear interpolation of its keyframes (no refiner model for these settings)" if r.is_linear
                     else "one refiner window, padded by repeating the last keyframe")
    ways = {how(r) for r in refiners if r is not None}
    method = ways.pop() if len(ways) == 1 else "; ".join(
        f"{label}: {how(r)}" for label, r in zip(("2D", "3D"), refiners))
    return {"frames": frames, "window": image.window,
            "method": f"{method}; frames after the last keyframe keep its pose"}


def run_metadata(video: str, fps: float, size: tuple[int, int], cfg: PipelineConfig, stride: int,
                 refiners: tuple[Refiner, Refiner | None], stats: RunStats, flops: FlopsReadout,
                 latency_frames: int, skeleton, dense: dict | None = None, rotation: int = 0) -> dict:
    """The JSON sidecar of a CSV: the video, K, Q, weights, estimator, FLOPs, timings, schema.
    `size` is of the frames as processed (upright), `rotation` the clockwise degrees the stored
    frames were turned to be upright (the video's display metadata)."""
    image, world = refiners
    return {
        "video": video, "frames": stats.frames, "fps": fps, "size": list(size), "rotation": rotation,
        "k": image.k, "q": image.q, "stride": stride,
        "short_clip": short_clip(stats.frames, refiners),
        "estimator": {"name": cfg.estimator, "mode": cfg.keyframe_mode,
                      **{k: str(v) for k, v in cfg.estimator_options().items()}},
        "weights": {"image": weights_summary(image), "world": weights_summary(world)},
        "config": cfg.to_dict(), "keyframes": stats.keyframes, "detected": stats.detected,
        "flops_per_frame": {"estimator": flops.estimator_per_frame, "refiner": flops.refiner_per_frame,
                            "effective": flops.effective_per_frame},
        "theoretical_speedup": flops.theoretical_speedup,
        "measured": {"fps": stats.fps, "estimator_ms_per_keyframe": stats.estimator_ms,
                     "speedup_estimated": stats.measured_speedup, "dense": dense},
        "latency": image.card.config.latency, "latency_frames": latency_frames,
        "columns": "frame, time_s, keyframe, detected, <joint>_x, <joint>_y (pixels), <joint>_conf"
                   + (", <joint>_X, <joint>_Y, <joint>_Z (metres, hip-centred)" if world is not None else ""),
        "joints": list(skeleton.joints), "refined_joints": list(BODY12.joints)}


def output_stem(source: VideoSource) -> str:
    if source.kind == "file":
        return Path(source.spec).stem
    if not source.live and (stem := Path(urlsplit(str(source.spec)).path).stem):
        return stem                                 # a file on a web server: named like a file
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"camera{source.spec}" if source.kind == "camera" else re.sub(r"[^A-Za-z0-9]+", "_", str(source.spec))
    return f"{name.strip('_')}_{stamp}"


def output_names(videos: list[Path]) -> list[str]:
    """Output stems (`<stem>.csv`, `<stem>.json`) of a batch of videos, distinct even where the
    file system ignores case: a video's stem; its whole name where stems clash (`clip.mp4`,
    `clip.mov`); and `-2`, `-3`, ... where even those clash (`clip.mp4`, `Clip.MP4`)."""
    stems = [Path(v).stem for v in videos]
    clash = {s.casefold() for s in stems if sum(t.casefold() == s.casefold() for t in stems) > 1}
    wanted = [Path(v).name if s.casefold() in clash else s for v, s in zip(videos, stems)]
    taken = {w.casefold() for w in wanted}
    out, used = [], set()
    for w in wanted:
        name, i = w, 1
        while name.casefold() in used or (name != w and name.casefold() in taken):
            i += 1
            name = f"{w}-{i}"
        used.add(name.casefold())
        out.append(name)
    return out


def process_video(spec: Path | str | int, out_dir: Path, cfg: PipelineConfig,
                  refiners: tuple[Refiner, Refiner | None] | None = None,
                  progress: bool = True, estimator: Estimator | None = None,
                  name: str | None = None, timeout_s: float = STREAM_TIMEOUT_S,
                  report: Callable[[int, int | None], None] | None = None) -> VideoSummary:
    """Refined pose of every frame of a video (or camera / stream until Ctrl-C) ->
    `<out_dir>/<name>.csv` + `.json` sidecar (`name`: the video's stem by default). `estimator`:
    an open one to use (and leave open), e.g. one already warmed up; by default one is made for
    cfg and closed here. `report(frames done, header frame count)` is called after every frame
    (progress for a caller without a terminal, e.g. a cluster worker). A clip shorter than one refiner window gets its poses from one padded
    window (recorded in the sidecar's `short_clip`).

    Raises SourceError / ExportError / WeightsError with a message for the user; in every error
    case (and on Ctrl-C) no CSV or sidecar is left behind, and everything taken (estimator,
    decoder, reader thread) is released. For a live source, Ctrl-C ends the recording and keeps
    it. `timeout_s`: a camera or stream that sends nothing for this long has failed (opening
    it can be interrupted at once by Ctrl-C)."""
    from tqdm import tqdm

    image, world = refiners or load_refiners(cfg)
    check_writable(out_dir)
    source = open_interruptibly(VideoSource(spec, timeout_s=timeout_s))
    own = estimator is None
    est = estimator
    bar = run = None
    stopped = {"flag": False}
    try:
        if own:
            est = make_estimator(cfg.estimator, static=cfg.keyframe_mode == "static", **cfg.estimator_options())
        pipe = KeyframePipeline(cfg, image, world, est, batch=1 if source.live else FILE_BATCH,
                                live=source.live)
        csv_path = out_dir / f"{name or output_stem(source)}.csv"
        refined = []
        bar = tqdm(total=source.frame_count, desc=source.name, unit="frame", disable=not progress,
                   dynamic_ncols=True, leave=True)
        with CsvWriter(csv_path, est.skeleton, pipe.world_output) as writer:
            run = pipe.run(source, stop=lambda: stopped["flag"])
            ended, last_time = None, None
            while True:
                try:
                    frame, poses = next(run)
                except StopIteration:
                    break
                except SourceError as e:
                    if not source.live:
                        raise                       # a truncated file: no CSV
                    ended = str(e)                  # a camera or stream ends: keep what was read
                    break
                except KeyboardInterrupt:
                    if not source.live:
                        raise
                    stopped["flag"] = True          # live: Ctrl-C ends the recording
                    continue
                writer.write_all(poses)
                if poses:
                    last_time = poses[-1].time_s
                if cfg.dense:
                    refined += [p.image for p in poses]
                if frame is not None:
                    bar.update(1)
                    if report is not None:
                        report(pipe.stats.frames, source.frame_count)
            bar.close()
            if ended:
                print(f"note: {ended}; the poses of the frames read are kept", file=sys.stderr)
            if own:
                est.close()                         # before the dense run: one graph at a time
                est = None
            dense = None
            if cfg.dense and source.kind == "file":
                dense = _dense_baseline(source, cfg, pipe.stats, np.array(refined), progress)
            summary = VideoSummary(Path(source.name), csv_path, pipe.stats.frames, source.fps, pipe.stats,
                                   pipe.flops, pipe.latency_frames(), dense, pipe.latency,
                                   last_time if source.kind == "file" else None)
            writer.commit(run_metadata(
                str(Path(source.spec).resolve()) if source.kind == "file" else str(source.spec),
                source.fps, source.size, cfg, pipe.stride, (pipe.image, pipe.world), pipe.stats, pipe.flops,
                pipe.latency_frames(), writer.skeleton, dense, source.rotation))
        return summary
    finally:
        if run is not None:
            run.close()                             # stops the reader thread if still running
        if bar is not None:
            bar.close()
        if own and est is not None:
            est.close()
        source.close()


def _dense_baseline(source: VideoSource, cfg: PipelineConfig, stats: RunStats, refined: np.ndarray,
                    progress: bool) -> dict:
    """The estimator on every frame of a file: its speed, and how far `refined` (N, J, 2) is."""
    from tqdm import tqdm

    est = make_estimator(cfg.estimator, static=cfg.keyframe_mode == "static", **cfg.estimator_options())
    bar = tqdm(total=stats.frames, desc=f"{source.name} (dense)", unit="frame", disable=not progress,
               dynamic_ncols=True)
    try:
        poses, seconds, calls = run_dense(Path(source.spec), est, bar.update)
    finally:
        bar.close()
        est.close()
    return {"fps": len(poses) / seconds, "seconds": seconds, "speedup": seconds / stats.wall_s,
            "estimator_speedup": calls.sum() / max(stats.estimator_s, 1e-9),
            **agreement(refined, poses, est.skeleton)}
