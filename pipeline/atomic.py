"""Writing files all-or-nothing: into a temporary sibling, renamed over the target when complete."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_temp(target: Path) -> tuple[int, Path]:
    """A temporary sibling of `target` (same folder, so the final rename is atomic) with the
    permissions a normally created file would get; returns (open descriptor, path)."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    os.chmod(tmp, 0o666 & ~_umask())
    return fd, Path(tmp)


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """`write(temporary_path)` then rename it to `path`; on any failure (Ctrl-C too) nothing is
    left behind and an existing `path` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = make_temp(path)
    os.close(fd)
    try:
        write(str(tmp))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
