"""Pose estimators behind one small interface: a BGR frame in, a `PoseEstimate` (or None) out."""
from __future__ import annotations

import atexit
import ctypes
import os
import sys
import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..skeleton import Skeleton


@dataclass
class PoseEstimate:
    """One person in one frame: image joints (J, 2) in pixels, confidence (J,) in [0, 1],
    world joints (J, 3) in metres (hip-centred; None if the estimator gives none)."""
    image: np.ndarray
    conf: np.ndarray
    world: np.ndarray | None = None


class Estimator(Protocol):
    name: str
    skeleton: Skeleton
    has_world: bool

    def estimate(self, frame_bgr: np.ndarray) -> PoseEstimate | None: ...

    def flops_per_call(self) -> float: ...

    @staticmethod
    def flops(static: bool) -> float:
        """FLOPs of one call, known without loading the model (the readout shows them before a run)."""
        ...

    def close(self) -> None: ...


_CHATTER = (b"Created TensorFlow Lite XNNPACK delegate", b"All log messages before absl::InitializeLog",
            b"inference_feedback_manager.cc", b"landmark_projection_calculator.cc")
_filter_installed = False


def filter_library_chatter() -> None:
    """Route file descriptor 2 through a thread that drops MediaPipe's start-up log lines (its
    C++ side logs them from worker threads, before any logging can be configured) and passes
    everything else on at once. Installed once per process."""
    global _filter_installed
    if _filter_installed:
        return
    _filter_installed = True
    sys.stderr.flush()
    real = os.dup(2)
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)

    def pump() -> None:
        held = b""
        while chunk := os.read(read, 65536):
            held += chunk
            *lines, held = held.split(b"\n")
            out = b"".join(line + b"\n" for line in lines if not any(c in line for c in _CHATTER))
            if held and not held[:1] in (b"I", b"W", b"E"):      # not a log line: pass on now
                out, held = out + held, b""
            if out:
                os.write(real, out)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()

    def drain() -> None:
        """At exit: give fd 2 back (closing the pipe) and let the filter pass on what is left."""
        sys.stderr.flush()
        ctypes.CDLL(None).fflush(None)         # C buffers still holding library log lines
        os.dup2(real, 2)
        thread.join(timeout=2)

    atexit.register(drain)
