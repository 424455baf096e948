"""Headless command: `python run_app.py process VIDEO_OR_FOLDER --out OUT_DIR [...]`."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from .config import PipelineConfig, load_refiners
from .io.export import ExportError, check_writable
from .refiner.runtime import WeightsError
from .io.sources import SourceError, is_stream_url, list_videos, parse_source


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="run_app.py process",
        description="Estimate poses on every K-th frame, recover every frame with MixSynthFormer, "
                    "and write one CSV per video.")
    ap.add_argument("input", help="a video file, a folder of videos, a camera index or a stream URL "
                                   "(live sources record until Ctrl-C)")
    ap.add_argument("--out", type=Path, required=True, help="output folder for the CSV files")
    ap.add_argument("--every", type=int, default=10, metavar="K", help="keyframe interval K (default 10)")
    ap.add_argument("--q", type=int, help="keyframe intervals per refiner window (default: the live model)")
    ap.add_argument("--stride", type=int, help="a refiner window every STRIDE keyframes (default Q)")
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
    return ap


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`, `docker stop`), handled exactly like Ctrl-C."""


def _terminate(signum, frame):
    raise Terminated


@contextmanager
def sigterm_as_interrupt():
    """While inside, SIGTERM raises `Terminated` (a KeyboardInterrupt) in the main thread, so a
    terminated run cleans up as an interrupted one does: no partial file is left."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupted(e: KeyboardInterrupt, what: str) -> int:
    """One line for Ctrl-C or SIGTERM; the exit status (130 or 143, as the shell reports them)."""
    word, status = ("terminated", 143) if isinstance(e, Terminated) else ("interrupted", 130)
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
                         pin_keyframes=not args.no_pin, pin_world=args.pin_world, dense=args.dense)
    from .process import output_names   # after argument errors: keeps --help fast

    try:
        spec = parse_source(args.input)
        if isinstance(spec, str) and not is_stream_url(spec):
            path = Path(spec)
            if not path.exists():
                raise SourceError(f"{path}: no such file or folder")
            videos = list_videos(path) if path.is_dir() else [path]
            if not videos:
                raise SourceError(f"{path}: no video files in this folder")
            names = output_names(videos)          # distinct even where case is ignored
        else:
            videos, names = [spec], [None]
        check_writable(args.out)
        refiners = load_refiners(cfg)
        estimator = _heavy_estimator(cfg)
    except (SourceError, ExportError, WeightsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    try:
        return _process_all(args, cfg, videos, names, refiners, estimator)
    finally:
        _close(estimator)


def _process_all(args, cfg, videos, names, refiners, estimator) -> int:
    from .process import process_video
    failed, written = [], []
    for video, name in zip(videos, names):
        label = Path(str(video)).name
        try:
            summary = process_video(video, args.out, cfg, refiners, progress=not args.quiet, name=name,
                                    estimator=estimator)
        except (SourceError, WeightsError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)             # these name the video already
            failed.append(video)
            continue
        except ExportError as e:                 # its output: a full disk, a failed rename
            print(f"error: {label}: {e}", file=sys.stderr)
            failed.append(video)
            continue
        except OSError as e:                     # reading the video itself failed
            print(f"error: {label}: {e.strerror or e}", file=sys.stderr)
            failed.append(video)
            continue
        except KeyboardInterrupt as e:
            return interrupted(e, f"no CSV written for {label}")
        print("\n".join(summary.lines()), flush=True)
        written.append(summary.csv)
    if len(videos) > 1 and written:
        print(f"written to {args.out}: {', '.join(p.name for p in written)} (each with its .json)")
    if failed:
        print(f"{len(failed)} of {len(videos)} videos failed: {', '.join(Path(str(v)).name for v in failed)}",
              file=sys.stderr)
        return 1
    return 0
