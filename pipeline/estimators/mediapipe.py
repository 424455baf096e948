"""MediaPipe Pose: the estimator whose weights ship inside its wheel."""
from __future__ import annotations

import importlib
import sys
import types
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from ..skeleton import MEDIAPIPE33
from .base import PoseEstimate, filter_library_chatter


def _package_stub(name: str) -> types.ModuleType:
    """Package `name` registered without running its __init__. A missing attribute that is a
    submodule imports it; any other runs the real __init__ into the package (PEP 562), so a
    later `import mediapipe` still gets everything."""
    spec = find_spec(name)
    pkg = types.ModuleType(name)
    pkg.__spec__, pkg.__file__, pkg.__path__ = spec, spec.origin, list(spec.submodule_search_locations)
    pkg.__package__ = name

    def __getattr__(attr: str):
        if attr.startswith("__") and attr != "__version__":    # probes (e.g. PySide's __wrapped__)
            raise AttributeError(attr)
        if find_spec(f"{name}.{attr}") is not None:
            return importlib.import_module(f"{name}.{attr}")
        del pkg.__getattr__
        spec.loader.exec_module(pkg)
        return getattr(pkg, attr)

    pkg.__getattr__ = __getattr__
    sys.modules[name] = pkg
    return pkg


def pose_solution() -> types.ModuleType:
    """`mediapipe.solutions.pose`, imported without what mediapipe's package imports besides it:
    the drawing utilities (matplotlib, over a second of start-up) and the other solutions."""
    name = "mediapipe.python.solutions.pose"
    if name not in sys.modules and "mediapipe" not in sys.modules:
        _package_stub("mediapipe")
        importlib.import_module("mediapipe.python")
        _package_stub("mediapipe.python.solutions")
    return importlib.import_module(name)


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
        pose = pose_solution()   # imported here: the rest of the pipeline does not need it
        self.static = static
        smooth = (not static) if smooth is None else smooth
        filter_library_chatter()
        self._pose = pose.Pose(static_image_mode=static, model_complexity=1,
                                            smooth_landmarks=smooth, enable_segmentation=False,
                                            min_detection_confidence=min_detection_confidence)

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
        return self.flops(self.static)

    @staticmethod
    def flops(static: bool) -> float:
        """FLOPs of one call, without loading the models: the landmark model, plus the person
        detector that static mode runs on every call (tracking mode runs it only when the person
        is lost: a lower bound is given)."""
        from ..flops import tflite_flops
        modules = Path(find_spec("mediapipe").submodule_search_locations[0]) / "modules"
        landmark = tflite_flops(modules / "pose_landmark" / "pose_landmark_full.tflite")
        detector = tflite_flops(modules / "pose_detection" / "pose_detection.tflite")
        return landmark + detector if static else landmark

    def close(self) -> None:
        self._pose.close()
