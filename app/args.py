"""The app's command line, without Qt (so that `--help` and mistakes are answered at once).

`python run_app.py [VIDEO ...] [--camera N] [--screenshot PNG]` opens the window;
`python run_app.py process ...` is the headless command. A word that is neither a command nor a
video (a file, a folder, a camera index or a stream URL) is an error, listing the commands:
`run_app.py proces x.mp4` must not open the window with "proces" as a file.
"""
from __future__ import annotations

import argparse
import difflib
from pathlib import Path

COMMANDS = {"process": "the headless command: a CSV of the refined poses of every frame "
                       "(python run_app.py process --help)"}
# Qt's own options that take a value (QGuiApplication / QApplication): their value is no video.
QT_OPTIONS_WITH_VALUE = {"-platform", "-platformpluginpath", "-platformtheme", "-plugin", "-display",
                         "-geometry", "-qwindowgeometry", "-qwindowicon", "-qwindowtitle", "-style",
                         "-stylesheet", "-session", "-title", "-name", "-fontengine"}


def build_parser() -> argparse.ArgumentParser:
    commands = "\n".join(f"  {name:9s} {text}" for name, text in COMMANDS.items())
    ap = argparse.ArgumentParser(
        prog="run_app.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="keyframe pose: the desktop app. Qt's own options (-geometry WxH+X+Y, "
                    "-platform ...) work too.",
        epilog=f"commands:\n{commands}")
    ap.add_argument("videos", nargs="*", metavar="VIDEO",
                    help="video files (or stream URLs, camera indices) to play, one after another "
                         "(default: the camera; the bundled demo when there is none)")
    ap.add_argument("--camera", type=int, metavar="N", help="camera index to open when no video is given")
    ap.add_argument("--screenshot", type=Path, metavar="PNG",
                    help="save a screenshot of the window once frame --screenshot-frame is shown "
                         "with a pose drawn, then quit")
    ap.add_argument("--screenshot-frame", type=int, default=120, metavar="N")
    ap.add_argument("--first-pose-exit", action="store_true",
                    help="quit once the first pose is on screen, printing how long after launch "
                         "(the start-up benchmark, bench/startup.py)")
    return ap


def without_qt_options(argv: list[str]) -> list[str]:
    """The arguments with Qt's single-dash options (and their values) left out."""
    out, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word in QT_OPTIONS_WITH_VALUE:
            skip = True
        elif not (word.startswith("-") and not word.startswith("--") and len(word) > 2):
            out.append(word)
    return out


def check_videos(words: list[str]) -> str | None:
    """Why these positional words are not videos to open (None when they all are)."""
    for word in words:
        path = Path(word)
        if path.exists() or "://" in word or word.strip().isdigit():
            continue
        close = difflib.get_close_matches(word, COMMANDS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        commands = ", ".join(COMMANDS)
        return (f"{word}: no such file or folder, and not a command{hint}. Commands: {commands}; "
                f"or give video files to open in the app (run_app.py --help)")
    return None
