"""MediaPipe Pose: the estimator whose weights ship inside its wheel."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..skeleton import MEDIAPIPE33
from .base import PoseEstimate, filter_library_chatter


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
        from importlib.util import find_spec

        from ..flops import tflite_flops
        modules = Path(find_spec("mediapipe").submodule_search_locations[0]) / "modules"
        landmark = tflite_flops(modules / "pose_landmark" / "pose_landmark_full.tflite")
        detector = tflite_flops(modules / "pose_detection" / "pose_detection.tflite")
        return landmark + detector if static else landmark

    def close(self) -> None:
        self._pose.close()
