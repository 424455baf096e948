#!/usr/bin/env python
"""keyframe pose: `python run_app.py` opens the desktop app; `python run_app.py process ...` runs headless."""
import sys


def main(argv: list[str]) -> int:
    if argv and argv[0] == "process":
        from pipeline.cli import main as process_main
        return process_main(argv[1:])
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        print("  python run_app.py [VIDEO ...]           open the app (optionally with videos queued)")
        print("  python run_app.py process --help        the headless command")
        return 0
    try:
        from app.main import main as gui_main
    except ImportError as e:
        print(f"error: the desktop app cannot start: {e}", file=sys.stderr)
        return 1
    return gui_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
