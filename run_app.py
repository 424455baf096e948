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


def leave(status: int) -> None:
    """Exit with `status`. After `--ray`, Ray's threads can crash the interpreter's own exit
    (SIGSEGV, seen in about half of the Ctrl-Cs during Ray's start-up, after every file was
    settled): then run the exit hooks (Ray's stop its helper processes) and leave at once."""
    if "ray" in sys.modules:
        import atexit
        import os
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    try:
        code = main(sys.argv[1:])
    except KeyboardInterrupt:            # Ctrl-C while starting (imports), before any run began
        print("interrupted: nothing was written", file=sys.stderr)
        code = 130
    leave(code)
