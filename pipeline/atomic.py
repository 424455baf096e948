"""Writing files all-or-nothing: into a temporary sibling, renamed over the target when complete.

A temporary file is `.<target name>.XXXXXXXX.partial` in the target's folder, locked (`flock`)
by its writer for as long as it exists. A writer that is killed outright (SIGKILL, power loss)
cannot delete its own; the kernel drops its lock, and the next writer of the same target removes
every such file that no live process holds (`remove_stale_partials`).
"""
from __future__ import annotations

import errno
import os
import re
import tempfile
from pathlib import Path
from typing import Callable

try:
    import fcntl
except ImportError:                   # not on Windows: nothing is locked, nothing taken for stale
    fcntl = None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _partial_name(target: Path) -> re.Pattern:
    """The names `make_temp` gives the temporaries of `target` (tempfile's 8 random characters)."""
    return re.compile(re.escape(f".{target.name}.") + r"[a-z0-9_]{8}\.partial")


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock of a temporary file; False when another process holds it."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:                   # a file system without locks: write unlocked
        return True
    return True


def remove_stale_partials(target: str | Path) -> list[Path]:
    """Delete the temporaries of `target` left by writers that died; returns them. One a live
    writer holds (a concurrent run writing the same output) is locked, and kept."""
    target = Path(target)
    name = _partial_name(target)
    try:
        candidates = [p for p in target.parent.iterdir() if name.fullmatch(p.name)]
    except OSError:
        return []
    removed = []
    for path in candidates:
        if fcntl is None:
            break
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path.unlink()
            removed.append(path)
        except OSError:               # held by a live writer, gone, or not ours to delete
            pass
        finally:
            os.close(fd)
    return removed


def make_temp(target: Path) -> tuple[int, Path]:
    """A temporary sibling of `target` (same folder, so the final rename is atomic) with the
    permissions a normally created file would get, locked while the returned descriptor is open
    (duplicates of it included); returns (descriptor, path). Stale temporaries of `target`
    are removed first."""
    remove_stale_partials(target)
    for _ in range(10):
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
        try:
            # A cleaner that opened it in the instant before the lock deletes it: take another.
            if _try_lock(fd) and os.stat(tmp).st_ino == os.fstat(fd).st_ino:
                os.chmod(tmp, 0o666 & ~_umask())
                return fd, Path(tmp)
        except FileNotFoundError:
            pass
        except BaseException:             # Ctrl-C / SIGTERM in between: leave nothing behind
            Path(tmp).unlink(missing_ok=True)
            os.close(fd)
            raise
        os.close(fd)
    raise OSError(errno.EAGAIN, f"no temporary file for {target.name} could be locked")


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """`write(temporary_path)` then rename it to `path`; on any failure (Ctrl-C too) nothing is
    left behind and an existing `path` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = make_temp(path)
    try:
        write(str(tmp))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)                  # the lock is held until the file has its final name
