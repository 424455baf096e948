"""Pose estimators behind one small interface: a BGR frame in, a `PoseEstimate` (or None) out."""
from __future__ import annotations

import atexit
import ctypes
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .skeleton import MEDIAPIPE33, Skeleton


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


class MediaPipePose:
    """MediaPipe Pose (BlazePose GHUM, model_complexity=1, weights inside the mediapipe wheel).

    static=True runs person detection + landmarks on every call, the right mode for keyframes
    K frames apart (docs/estimator_mode.md has the measurement); static=False tracks from the
    previous call's landmarks, the right mode for consecutive (dense) frames.
    """
    name = "mediapipe"
    skeleton = MEDIAPIPE33
    has_world = True

    def __init__(self, static: bool = True, smooth: bool | None = None,
                 min_detection_confidence: float = 0.5):
        import mediapipe as mp  # imported here: the rest of the pipeline does not need it
        self.static = static
        smooth = (not static) if smooth is None else smooth
        filter_library_chatter()
        self._pose = mp.solutions.pose.Pose(static_image_mode=static, model_complexity=1,
                                            smooth_landmarks=smooth, enable_segmentation=False,
                                            min_detection_confidence=min_detection_confidence)
        self._modules = Path(mp.__file__).parent / "modules"

    def estimate(self, frame_bgr: np.ndarray) -> PoseEstimate | None:
        import cv2
        h, w = frame_bgr.shape[:2]
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        rgb.flags.writeable = False
        result = self._pose.process(rgb)
        if result.pose_landmarks is None:
            return None
        lm = result.pose_landmarks.landmark
        image = np.array([(p.x * w, p.y * h) for p in lm], np.float32)
        conf = np.array([p.visibility for p in lm], np.float32)
        world = np.array([(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark], np.float32)
        return PoseEstimate(image, conf, world)

    def flops_per_call(self) -> float:
        """Landmark model, plus the person detector that static mode runs on every call
        (tracking mode runs it only when the person is lost: a lower bound is given)."""
        from .flops import tflite_flops
        landmark = tflite_flops(self._modules / "pose_landmark" / "pose_landmark_full.tflite")
        detector = tflite_flops(self._modules / "pose_detection" / "pose_detection.tflite")
        return landmark + detector if self.static else landmark

    def close(self) -> None:
        self._pose.close()


ESTIMATORS = {"mediapipe": MediaPipePose}


def make_estimator(name: str, static: bool = True) -> Estimator:
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; available: {', '.join(ESTIMATORS)}")
    return ESTIMATORS[name](static=static)
