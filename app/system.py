"""The system libraries Qt's window needs on Linux, checked before Qt is loaded.

PySide6's wheels bring Qt but not the X11/xcb libraries its `xcb` platform plugin links to; without
them Qt aborts with "Could not load the Qt platform plugin "xcb"" and nothing more useful. This
finds the missing ones (the plugin's own links, by `ldd`, plus libxcb-cursor, which Qt loads by
name) and names the Debian/Ubuntu packages that provide them. No Qt import here.

`python -m app.system` prints the missing packages (one line, empty when none): `make run` uses it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

# soname -> Debian/Ubuntu package (what .ci/run installs for the GUI)
PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0", "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0", "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1", "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1", "libxcb.so.1": "libxcb1", "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6", "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0", "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6", "libglib-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
}
NEEDED_BY_NAME = ["libxcb-cursor.so.0"]          # dlopen()ed by Qt 6.5+, so not in ldd's list


def xcb_plugin() -> Path | None:
    spec = find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    plugin = Path(spec.submodule_search_locations[0]) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.exists() else None


def known_libraries() -> set[str] | None:
    """Sonames the dynamic linker knows (`ldconfig -p`), or None when it cannot be asked."""
    ldconfig = shutil.which("ldconfig") or ("/sbin/ldconfig" if Path("/sbin/ldconfig").exists() else None)
    if ldconfig is None:
        return None
    try:
        out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {line.split()[0] for line in out.splitlines()[1:] if line.strip()}


def missing_libraries(plugin: Path | None = None) -> list[str]:
    """Sonames Qt's xcb plugin needs that this system lacks (empty when it has them all)."""
    plugin = plugin or xcb_plugin()
    missing: set[str] = set()
    if plugin is not None and shutil.which("ldd"):
        try:
            out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=10).stdout
            missing |= {line.split()[0] for line in out.splitlines() if "not found" in line}
        except (OSError, subprocess.SubprocessError):
            pass
    known = known_libraries()
    if known is not None:
        missing |= {name for name in NEEDED_BY_NAME if name not in known}
    return sorted(missing)


def needs_check(env: dict | None = None) -> bool:
    """Linux with an X display and no other Qt platform asked for: the xcb plugin will be used."""
    env = os.environ if env is None else env
    platform = env.get("QT_QPA_PLATFORM", "")
    return (sys.platform.startswith("linux") and bool(env.get("DISPLAY"))
            and platform in ("", "xcb") and not (env.get("WAYLAND_DISPLAY") and not platform))


def install_line(missing: list[str]) -> str:
    packages = sorted({PACKAGES.get(name, name) for name in missing})
    return "sudo apt-get install " + " ".join(packages)


def missing_message(missing: list[str]) -> str:
    return (f"error: the window cannot open: Qt's X11 (xcb) platform needs system libraries that "
            f"are missing: {', '.join(missing)}.\n"
            f"  Debian/Ubuntu: {install_line(missing)}\n"
            f"  (the headless command needs none of them: python run_app.py process --help)")


if __name__ == "__main__":
    missing = missing_libraries() if sys.platform.startswith("linux") else []
    print(" ".join(sorted({PACKAGES.get(name, name) for name in missing})))
