#!/usr/bin/env python
"""keyframe pose: `python run_app.py` opens the desktop app; `python run_app.py process ...` runs headless."""
import sys


def main(argv: list[str]) -> int:
    if argv and argv[0] == "process":
        from pipeline.cli import main as process_main
        return process_main(argv[1:])
    from app.args import build_parser, check_videos, without_qt_options   # no Qt: answers at once
    parser = build_parser()
    args = parser.parse_args(without_qt_options(argv))        # --help, bad options: exit here
    if (problem := check_videos(args.videos)) is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from app.system import missing_libraries, missing_message, needs_check
    if needs_check() and (missing := missing_libraries()):
        print(missing_message(missing), file=sys.stderr)       # instead of Qt's abort
        return 1
    try:
        from app.main import main as gui_main
    except ImportError as e:
        print(f"error: the desktop app cannot start: {e}", file=sys.stderr)
        return 1
    return gui_main(argv)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:            # Ctrl-C while starting (imports), before any run began
        print("interrupted: nothing was written", file=sys.stderr)
        sys.exit(130)
