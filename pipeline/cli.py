"""Headless command: `python run_app.py process VIDEO_OR_FOLDER --out OUT_DIR [...]`."""
from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from .config import LATENCY_CHOICES, PipelineConfig, load_refiners, refiner_notes
from .io.export import ExportError, check_writable, earlier_run_note
from .refiner.runtime import WeightsError
from .io.sources import (STREAM_TIMEOUT_S, SourceError, VideoSource, is_stream_url, list_videos,
                         parse_source, subfolders)


def positive(kind: type):
    """An argparse type: a number of `kind` above zero, else a clear usage error (exit 2)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a {'whole ' if kind is int else ''}number") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be {'1 or more' if kind is int else 'above 0'}, "
                                             f"got {text}")
        return value
    parse.__name__ = f"positive {kind.__name__}"
    return parse


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="run_app.py process",
        description="Estimate poses on every K-th frame, recover every frame with MixSynthFormer, "
                    "and write one CSV per video.")
    ap.add_argument("input", help="a video file, a folder of videos, a camera index or a stream URL "
                                   "(live sources record until Ctrl-C; an existing file or folder "
                                   "named like a number wins over the camera index; a URL of a "
                                   "video file is read whole, like a file)")
    ap.add_argument("--out", type=Path, required=True, help="output folder for the CSV files")
    ap.add_argument("--recursive", action="store_true",
                    help="a folder: also the videos in its subfolders (outputs mirror the subfolders)")
    ap.add_argument("--every", type=positive(int), default=10, metavar="K",
                    help="keyframe interval K (default 10)")
    ap.add_argument("--q", type=positive(int),
                    help="keyframe intervals per refiner window (default: the live model)")
    ap.add_argument("--stride", type=positive(int),
                    help="a refiner window every STRIDE keyframes, 1 to Q (default: the weights' own, "
                         "1 for every shipped model: a window starts at each keyframe)")
    ap.add_argument("--latency", default="auto", choices=LATENCY_CHOICES,
                    help="how long after its frame a pose is final: window (K*Q frames, the most "
                         "accurate), keyframe (at most K frames), zero (predicted from past keyframes "
                         "as the frame arrives); auto (default): window for files, keyframe for "
                         "cameras and streams (README, docs/refiner.md)")
    ap.add_argument("--timeout", type=positive(float), default=STREAM_TIMEOUT_S, metavar="SECONDS",
                    help=f"cameras and streams: give up when nothing arrives for this long, "
                         f"opening or reading (default {STREAM_TIMEOUT_S:g})")
    ap.add_argument("--estimator", default="mediapipe", choices=["mediapipe", "mmpose"],
                    help="pose estimator on keyframes (default mediapipe; mmpose needs the optional "
                         "requirements-mmpose*.txt, --pose-config and --pose-checkpoint)")
    ap.add_argument("--pose-config", metavar="CFG",
                    help="mmpose: a top-down config file, or an mmpose model name or alias "
                         "(e.g. rtmpose-l; its config ships with mmpose)")
    ap.add_argument("--pose-checkpoint", type=Path, metavar="CKPT",
                    help="mmpose: the config's checkpoint (.pth), downloaded beforehand")
    ap.add_argument("--mode", default="static", choices=["static", "tracking"],
                    help="MediaPipe mode on keyframes (default static; docs/estimator_mode.md)")
    ap.add_argument("--weights", type=Path, help="image-space refiner weights (.pt or .json)")
    ap.add_argument("--world-weights", type=Path, help="world-space (3D) refiner weights")
    ap.add_argument("--no-world", action="store_true", help="leave the 3D world landmarks out")
    ap.add_argument("--no-pin", action="store_true",
                    help="let the refiner change keyframes' image joints too (default: they keep the "
                         "estimator's pose)")
    ap.add_argument("--pin-world", action="store_true",
                    help="keyframes keep the estimator's world joints too (default: refined, which is "
                         "more accurate; docs/refiner.md)")
    ap.add_argument("--dense", action="store_true",
                    help="also run the estimator on every frame and report the measured speed-up")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    ap.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                    help="process the videos on Ray, one task per video (optional install: "
                         "requirements-ray.txt): alone, a local Ray on this machine's cores; "
                         "with ray://HOST:10001 or auto, an existing cluster, whose nodes must see "
                         "the videos and --out at the same paths (docs/scaling.md)")
    ap.add_argument("--workers", type=int, metavar="N",
                    help="with --ray: at most N videos at a time (default: local, every core; a "
                         "cluster, as many as its CPUs allow)")
    return ap


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`, `docker stop`), handled exactly like Ctrl-C."""


_received_sigterm = threading.Event()     # signals are the process's: so is this


def _terminate(signum, frame):
    _received_sigterm.set()                # a library may re-raise it as a plain KeyboardInterrupt (Ray)
    raise Terminated


@contextmanager
def sigterm_as_interrupt():
    """While inside, SIGTERM raises `Terminated` (a KeyboardInterrupt) in the main thread, so a
    terminated run cleans up as an interrupted one does: no partial file is left."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received_sigterm.clear()
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupted(e: KeyboardInterrupt, what: str) -> int:
    """One line for Ctrl-C or SIGTERM; the exit status (130 or 143, as the shell reports them)."""
    term = isinstance(e, Terminated) or _received_sigterm.is_set()
    word, status = ("terminated", 143) if term else ("interrupted", 130)
    print(f"\n{word}: {what}", file=sys.stderr)
    return status


def _heavy_estimator(cfg: PipelineConfig):
    """mmpose's model, loaded once for all the videos (its config and checkpoint checked before
    any video starts: a missing or unfit file is one message and exit status 2). None for
    MediaPipe, which each video opens itself."""
    if cfg.estimator != "mmpose":
        return None
    from .estimators import make_estimator
    return make_estimator(cfg.estimator, static=cfg.keyframe_mode == "static", **cfg.estimator_options())


def _close(estimator) -> None:
    if estimator is not None:
        estimator.close()


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.workers is not None and args.ray is None:
        parser.error("--workers goes with --ray")
    if args.estimator != "mmpose" and (args.pose_config or args.pose_checkpoint):
        parser.error("--pose-config and --pose-checkpoint are for --estimator mmpose")
    with sigterm_as_interrupt():
        try:
            return _process(args)
        except KeyboardInterrupt as e:          # while starting, before any video
            return interrupted(e, "nothing written")


def _process(args: argparse.Namespace) -> int:
    cfg = PipelineConfig(k=args.every, q=args.q, stride=args.stride, estimator=args.estimator,
                         keyframe_mode=args.mode, pose_config=args.pose_config,
                         pose_checkpoint=args.pose_checkpoint, weights=args.weights,
                         world_weights=args.world_weights, world=not args.no_world,
                         pin_keyframes=not args.no_pin, pin_world=args.pin_world, dense=args.dense,
                         latency=args.latency)

    try:
        spec = parse_source(args.input)
        if isinstance(spec, str) and not is_stream_url(spec):
            path = Path(spec)
            if not path.exists():
                raise SourceError(f"{path}: no such file or folder")
            videos, outs, names = _folder(path, args.out, args.recursive) if path.is_dir() else \
                ([path], [args.out], [None])
        else:
            videos, outs, names = [spec], [args.out], [None]
        cfg = cfg.for_source(live=VideoSource(spec).live)
        from .estimators import check_estimator
        check_estimator(cfg.estimator, **cfg.estimator_options())   # a missing file: its line alone
        check_writable(args.out)
        refiners = load_refiners(cfg)
        if cfg.stride is not None and cfg.stride > refiners[0].q and all(r is None or r.is_linear for r in refiners):
            raise ValueError(f"--stride {cfg.stride}: no refiner runs with these settings (every "
                             "space is interpolated linearly), so there are no windows to overlap")
        if cfg.stride is not None and cfg.stride > refiners[0].q:
            raise ValueError(f"--stride must be from 1 to Q={refiners[0].q} (keyframe intervals per "
                             f"refiner window), got {cfg.stride}")
        estimator = _heavy_estimator(cfg)
        for note in refiner_notes(refiners):
            print(f"note: {note}", flush=True)
    except (SourceError, ExportError, WeightsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    if args.ray is not None:
        _close(estimator)
        return _process_on_ray(args, cfg, videos, outs, names, refiners)
    try:
        return _process_all(args, cfg, videos, outs, names, refiners, estimator)
    finally:
        _close(estimator)


def _process_all(args, cfg, videos, outs, names, refiners, estimator) -> int:
    from .process import process_video
    failed, written = [], []
    for video, out, name in zip(videos, outs, names):
        label = Path(str(video)).name
        try:
            summary = process_video(video, out, cfg, refiners, progress=not args.quiet, name=name,
                                    timeout_s=args.timeout, estimator=estimator)
        except VIDEO_ERRORS as e:
            print(f"error: {failure_message(label, e)}", file=sys.stderr)
            stem = name or (video.stem if isinstance(video, Path) else None)
            if stem and (note := earlier_run_note(Path(out) / f"{stem}.csv")) is not None:
                print(f"note: {note}", file=sys.stderr)
            failed.append(video)
            continue
        except KeyboardInterrupt as e:
            return interrupted(e, f"no CSV written for {label}")
        print("\n".join(summary.lines()), flush=True)
        written.append(summary.csv)
    return _report(args, videos, written, failed)


VIDEO_ERRORS = (SourceError, WeightsError, ValueError, OSError)   # one video fails, the others go on


def failure_message(label: str, e: BaseException) -> str:
    """The `error:` line of a video that failed with one of VIDEO_ERRORS."""
    if isinstance(e, (SourceError, WeightsError, ValueError)):
        return str(e)                            # these name the video already
    if isinstance(e, ExportError):               # its output: a full disk, a failed rename
        return f"{label}: {e}"
    return f"{label}: {getattr(e, 'strerror', None) or e}"   # reading the video itself failed


def _process_on_ray(args, cfg, videos, outs, names, refiners) -> int:
    if any(not isinstance(v, Path) for v in videos):
        print("error: --ray processes video files and folders; a camera or a stream is recorded "
              "by the command without --ray", file=sys.stderr)
        return 2
    if args.workers is not None and args.workers < 1:
        print("error: --workers must be 1 or more", file=sys.stderr)
        return 2
    if args.ray not in ("local", "auto") and not re.fullmatch(r"(ray://)?[\w.-]+:\d+", args.ray):
        print(f"error: --ray {args.ray}: an address is auto, ray://HOST:PORT or HOST:PORT "
              "(no address: a local Ray)", file=sys.stderr)
        return 2
    try:
        from . import cluster
        written, failed = cluster.process_videos(
            videos, names, args.out, cfg, refiners, address=None if args.ray == "local" else args.ray,
            workers=args.workers, progress=not args.quiet, outs=outs)
    except cluster.ClusterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        return interrupted(e, "no partial CSV is left (videos finished before are kept)")
    return _report(args, videos, [s.csv for s in written], [v for v, _ in failed])


def _report(args, videos, written, failed) -> int:
    if len(videos) > 1 and written:
        print(f"written to {args.out}: {', '.join(str(p.relative_to(args.out)) for p in written)} "
              f"(each with its .json)")
    if failed:
        name = lambda v: f"camera {v}" if str(v).isdigit() else Path(str(v)).name
        print(f"{len(failed)} of {len(videos)} videos failed: {', '.join(name(v) for v in failed)}",
              file=sys.stderr)
        return 1
    return 0


def _folder(folder: Path, out: Path, recursive: bool) -> tuple[list[Path], list[Path], list[str]]:
    """The videos of a folder, the output folder of each (mirroring its subfolder) and its
    output name (distinct within that folder even where case is ignored). Without `recursive`,
    says how many subfolders are left out and how to include them."""
    from .process import output_names

    videos = list_videos(folder, recursive=recursive, skip=out)
    skipped = [] if recursive else subfolders(folder, skip=out)
    if skipped:
        shown = ", ".join(p.name for p in skipped[:3]) + (", ..." if len(skipped) > 3 else "")
        note = (f"{len(skipped)} subfolder{'s' * (len(skipped) > 1)} not searched ({shown}); "
                f"add --recursive to process the videos in them too")
        if not videos:
            raise SourceError(f"{folder}: no video files directly in this folder; {note}")
        print(f"note: {note}", file=sys.stderr)
    if not videos:
        raise SourceError(f"{folder}: no video files in this folder"
                          + (" or its subfolders" if recursive else ""))
    groups: dict[Path, list[Path]] = {}
    for v in videos:
        groups.setdefault(v.parent, []).append(v)
    named = {v: n for group in groups.values() for v, n in zip(group, output_names(group))}
    return videos, [out / v.parent.relative_to(folder) for v in videos], [named[v] for v in videos]
