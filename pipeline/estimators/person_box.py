"""Person boxes for top-down estimators, from MediaPipe's pose detector (its model ships inside
the mediapipe wheel, so this works offline).

The detector (BlazePose's, `pose_detection.tflite`) finds a person and gives, besides a face box,
two key points that MediaPipe uses to place its own landmark model: the hip mid-point and a point
on the circle enclosing the whole body. The box returned is that circle's square (centre: the
hips, half side: the radius), the region MediaPipe's landmark model itself is given.
"""
from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import numpy as np

from .base import filter_library_chatter

_GRAPH = """
input_stream: "image"
output_stream: "detections"
node {
  calculator: "PoseDetectionCpu"
  input_stream: "IMAGE:image"
  output_stream: "DETECTIONS:detections"
}
"""


class PersonDetector:
    """One person box per frame: (4,) [x0, y0, x1, y1] in pixels, or None where nobody is found.

    Where several people are found, the one the detector is surest of (as MediaPipe Pose does)."""

    def __init__(self, min_score: float = 0.5):
        from google.protobuf import text_format
        from mediapipe.framework import calculator_pb2
        from mediapipe.python.solution_base import SolutionBase

        filter_library_chatter()
        self.min_score = min_score
        graph = text_format.Parse(_GRAPH, calculator_pb2.CalculatorGraphConfig())
        self._graph = SolutionBase(graph_config=graph, outputs=["detections"])

    def box(self, frame_bgr: np.ndarray) -> np.ndarray | None:
        import cv2
        h, w = frame_bgr.shape[:2]
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        rgb.flags.writeable = False
        found = self._graph.process({"image": rgb}).detections or []
        found = [d for d in found if d.score and d.score[0] >= self.min_score]
        if not found:
            return None
        best = max(found, key=lambda d: d.score[0])
        kp = best.location_data.relative_keypoints
        cx, cy = kp[0].x * w, kp[0].y * h                   # hip mid-point
        r = float(np.hypot(kp[1].x * w - cx, kp[1].y * h - cy))   # encloses the whole body
        return np.array([cx - r, cy - r, cx + r, cy + r], np.float32)

    @staticmethod
    def flops() -> int:
        """FLOPs of one detection (the TFLite graph's convolutions)."""
        from ..flops import tflite_flops
        modules = Path(find_spec("mediapipe").submodule_search_locations[0]) / "modules"
        return tflite_flops(modules / "pose_detection" / "pose_detection.tflite")

    def close(self) -> None:
        self._graph.close()
