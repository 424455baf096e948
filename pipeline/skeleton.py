"""Skeletons (joint names + bones) and the mappings between them, in one place.

A mapping from skeleton A to skeleton B is a (J_B, J_A) weight matrix: each target joint is a
weighted average of source joints (mid-points for pelvis / thorax and the like). Apply it with
`convert(points, A, B)` on any array shaped (..., J_A, D).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Skeleton:
    name: str
    joints: tuple[str, ...]
    bones: tuple[tuple[int, int], ...] = field(default=())

    def __len__(self) -> int:
        return len(self.joints)

    def index(self, name: str) -> int:
        return self.joints.index(name)

    @property
    def mirror(self) -> np.ndarray:
        """Permutation that swaps left and right joints (for flips and left/right swap noise)."""
        def swap(n: str) -> str:
            for a, b in (("left_", "right_"), ("right_", "left_"), ("l_", "r_"), ("r_", "l_")):
                if n.startswith(a):
                    return b + n[len(a):]
            return n
        return np.array([self.joints.index(swap(n)) for n in self.joints])


def _bones(joints: tuple[str, ...], pairs: list[tuple[str, str]]) -> tuple[tuple[int, int], ...]:
    return tuple((joints.index(a), joints.index(b)) for a, b in pairs)


_MP_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index")

# MediaPipe's own POSE_CONNECTIONS (mediapipe/python/solutions/pose_connections.py).
MEDIAPIPE33 = Skeleton("mediapipe33", _MP_NAMES, (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12), (11, 13),
    (13, 15), (15, 17), (15, 19), (15, 21), (17, 19), (12, 14), (14, 16), (16, 18), (16, 20),
    (16, 22), (18, 20), (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
    (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32)))

# The refiner's joints: the twelve body joints that both MediaPipe and the motion-capture data
# have (shoulders, elbows, wrists, hips, knees, ankles), in MediaPipe's order.
BODY12_FROM_MP33 = (11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
_B12 = tuple(_MP_NAMES[i] for i in BODY12_FROM_MP33)
BODY12 = Skeleton("body12", _B12, _bones(_B12, [
    ("left_shoulder", "right_shoulder"), ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"), ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"), ("left_hip", "right_hip"),
    ("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("right_hip", "right_knee"),
    ("right_knee", "right_ankle")]))

_COCO = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
         "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
         "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
COCO17 = Skeleton("coco17", _COCO, _bones(_COCO, [
    ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"), ("right_eye", "right_ear"),
    ("left_shoulder", "right_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"), ("left_hip", "right_hip"), ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"), ("right_hip", "right_knee"), ("right_knee", "right_ankle")]))

# Sub-JHMDB order as used by DeciWatch / MixSynthFormer.
_JHMDB = ("neck", "belly", "face", "right_shoulder", "left_shoulder", "right_hip", "left_hip",
          "right_elbow", "left_elbow", "right_knee", "left_knee", "right_wrist", "left_wrist",
          "right_ankle", "left_ankle")
JHMDB15 = Skeleton("jhmdb15", _JHMDB, _bones(_JHMDB, [
    ("face", "neck"), ("neck", "belly"), ("neck", "right_shoulder"), ("neck", "left_shoulder"),
    ("belly", "right_hip"), ("belly", "left_hip"), ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle"), ("left_hip", "left_knee"),
    ("left_knee", "left_ankle")]))

# Human3.6M 17-joint order (root = pelvis, joint 0).
_H36M = ("pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
         "spine", "thorax", "neck", "head", "left_shoulder", "left_elbow", "left_wrist",
         "right_shoulder", "right_elbow", "right_wrist")
H36M17 = Skeleton("h36m17", _H36M, _bones(_H36M, [
    ("pelvis", "right_hip"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
    ("pelvis", "left_hip"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("pelvis", "spine"), ("spine", "thorax"), ("thorax", "neck"), ("neck", "head"),
    ("thorax", "left_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("thorax", "right_shoulder"), ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist")]))

# The 14-joint LSP order of 3DPW / AIST++ in DeciWatch (root = mean of the two hips).
_LSP = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
        "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
        "neck", "head_top")
LSP14 = Skeleton("lsp14", _LSP, _bones(_LSP, [
    ("right_ankle", "right_knee"), ("right_knee", "right_hip"), ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"), ("right_hip", "left_hip"), ("right_wrist", "right_elbow"),
    ("right_elbow", "right_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "neck"), ("left_shoulder", "neck"), ("neck", "head_top"),
    ("right_hip", "right_shoulder"), ("left_hip", "left_shoulder")]))

# HumanEva-I, 15 joints, in the order of VideoPose3D's HumanEva files (root = pelvis, joint 0).
_HUMANEVA = ("pelvis", "thorax", "left_shoulder", "left_elbow", "left_wrist", "right_shoulder",
             "right_elbow", "right_wrist", "left_hip", "left_knee", "left_ankle", "right_hip",
             "right_knee", "right_ankle", "head")
HUMANEVA15 = Skeleton("humaneva15", _HUMANEVA, _bones(_HUMANEVA, [
    ("pelvis", "thorax"), ("thorax", "left_shoulder"), ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"), ("thorax", "right_shoulder"), ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"), ("pelvis", "left_hip"), ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"), ("pelvis", "right_hip"), ("right_hip", "right_knee"),
    ("right_knee", "right_ankle"), ("thorax", "head")]))

SKELETONS = {s.name: s for s in (MEDIAPIPE33, BODY12, COCO17, JHMDB15, H36M17, LSP14, HUMANEVA15)}

# Composite joints, as averages of named MediaPipe landmarks. Everything not listed maps by name.
_FROM_MP = {
    "pelvis": ("left_hip", "right_hip"),
    "thorax": ("left_shoulder", "right_shoulder"),
    "neck": ("left_shoulder", "right_shoulder"),
    "spine": ("left_hip", "right_hip", "left_shoulder", "right_shoulder"),
    "belly": ("left_hip", "right_hip", "left_shoulder", "right_shoulder"),
    "head": ("left_ear", "right_ear"),
    "face": ("nose",),
    "head_top": ("left_eye", "right_eye"),   # approximate: MediaPipe has no crown point
}

# Joint names used by the motion-capture files in ../shared/data/motion (l_/r_ prefixes).
MOCAP_TO_BODY12 = {n: n.replace("left_", "l_").replace("right_", "r_") for n in _B12}

ROOT_JOINTS = {"body12": ("left_hip", "right_hip"), "h36m17": ("pelvis",), "humaneva15": ("pelvis",),
               "lsp14": ("left_hip", "right_hip"), "jhmdb15": ("left_hip", "right_hip"),
               "coco17": ("left_hip", "right_hip"), "mediapipe33": ("left_hip", "right_hip")}


def mapping(src: Skeleton, dst: Skeleton) -> np.ndarray:
    """(J_dst, J_src) averaging matrix from src joints to dst joints."""
    m = np.zeros((len(dst), len(src)), dtype=np.float32)
    for i, name in enumerate(dst.joints):
        if name in src.joints:
            m[i, src.index(name)] = 1.0
        elif src is MEDIAPIPE33 and name in _FROM_MP:
            parts = _FROM_MP[name]
            for p in parts:
                m[i, src.index(p)] = 1.0 / len(parts)
        else:
            raise KeyError(f"no mapping from {src.name} to joint {name!r} of {dst.name}")
    return m


def convert(points: np.ndarray, src: Skeleton, dst: Skeleton) -> np.ndarray:
    """(..., J_src, D) -> (..., J_dst, D)."""
    return np.einsum("ij,...jd->...id", mapping(src, dst), points)


def root_of(points: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """(..., J, D) -> (..., D) root position (pelvis or the mid-point of the hips)."""
    idx = [skeleton.index(n) for n in ROOT_JOINTS[skeleton.name]]
    return points[..., idx, :].mean(axis=-2)


def torso_length(points: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """(..., J, D) -> (...,) distance from the hip mid-point to the shoulder mid-point."""
    hips = points[..., [skeleton.index("left_hip"), skeleton.index("right_hip")], :].mean(-2)
    sh = points[..., [skeleton.index("left_shoulder"), skeleton.index("right_shoulder")], :].mean(-2)
    return np.linalg.norm(sh - hips, axis=-1)
