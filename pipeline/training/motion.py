"""Readers for the motion data the refiner trains and is evaluated on.

(a) Motion capture in the common npz layout of ../shared/data/motion (metres, +Y up): read into
    `MotionClip`s on the refiner's BODY12 joints.
(b) DeciWatch / MixSynthFormer preprocessed files (`<ds>_gt_<split>.npz` + `<ds>_<estimator>_<split>.npz`,
    every key an object array with one entry per sequence), read into `PairedSequence`s.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..skeleton import (BODY12, H36M17, HUMANEVA15, JHMDB15, LSP14, MOCAP_TO_BODY12, Skeleton,
                        root_of, torso_length)


@dataclass
class MotionClip:
    """One motion-capture sequence on BODY12 joints: `joints` (T, 12, 3) in metres, +Y up.

    `measured` (12,) marks the joints the capture has; the others were completed by
    `complete_upper_body` (gait recordings without arms) and are never scored or trained on.
    """
    name: str
    joints: np.ndarray
    fps: float
    split: str          # "train" or "test"
    source: str         # the motion file's stem: cmu_mocap, deepmimic_clips, gaitkit_gait, ...
    measured: np.ndarray | None = None

    def __post_init__(self):
        if self.measured is None:
            self.measured = np.ones(self.joints.shape[1], bool)

    @property
    def seconds(self) -> float:
        return (len(self.joints) - 1) / self.fps


_LEGS = [BODY12.index(n) for n in ("left_hip", "right_hip", "left_knee", "right_knee",
                                   "left_ankle", "right_ankle")]
_SHOULDERS = [BODY12.index("left_shoulder"), BODY12.index("right_shoulder")]


def complete_upper_body(joints: np.ndarray, fps: float) -> np.ndarray:
    """(T, 12, 3) walking with NaN arms (and possibly NaN shoulders) -> the same with plausible
    ones, so that a 12-joint refiner can take gait recordings that only have legs.

    Shoulders (when missing): 0.5 m above the hip mid-point, 0.36 m apart, parallel to the hips.
    Arms: hanging from the shoulders and swinging in the walking plane against the leg of the
    same side (upper arm at -0.6 x the thigh's sagittal angle), elbows flexed 20 deg plus the
    forward swing; upper arm 0.28 m, forearm 0.25 m. These joints are marked unmeasured by the
    loader: they give the refiner its usual input but are never a training target or scored.
    """
    out = joints.astype(np.float64).copy()
    up = np.array([0.0, 1.0, 0.0])
    lh, rh = out[:, BODY12.index("left_hip")], out[:, BODY12.index("right_hip")]
    pelvis = (lh + rh) / 2
    across = lh - rh                                        # towards the subject's left
    across[:, 1] = 0
    across /= np.maximum(np.linalg.norm(across, axis=-1, keepdims=True), 1e-9)
    fwd = np.cross(across, up)                              # left x up = forward (right-handed)
    if np.isnan(out[:, _SHOULDERS]).any():
        mid = pelvis + 0.5 * up
        out[:, BODY12.index("left_shoulder")] = mid + 0.18 * across
        out[:, BODY12.index("right_shoulder")] = mid - 0.18 * across
    for side in ("left", "right"):
        hip, knee = out[:, BODY12.index(f"{side}_hip")], out[:, BODY12.index(f"{side}_knee")]
        thigh = knee - hip
        phi = np.arctan2((thigh * fwd).sum(-1), -thigh[:, 1])            # + = knee forward
        theta = -0.6 * phi
        bend = theta + np.deg2rad(20) + 0.8 * np.maximum(theta, 0)
        sh = out[:, BODY12.index(f"{side}_shoulder")]
        elbow = sh + 0.28 * (-np.cos(theta)[:, None] * up + np.sin(theta)[:, None] * fwd)
        wrist = elbow + 0.25 * (-np.cos(bend)[:, None] * up + np.sin(bend)[:, None] * fwd)
        out[:, BODY12.index(f"{side}_elbow")] = elbow
        out[:, BODY12.index(f"{side}_wrist")] = wrist
    return out.astype(joints.dtype)


def load_motion_file(path: str | Path) -> list[MotionClip]:
    """Clips of one motion npz on BODY12 joints.

    Files with all twelve joints are read as they are. Files with legs but no arms (gait
    laboratories: gaitkit) are completed by `complete_upper_body`, their missing joints marked
    unmeasured. CMU keys carry their split (`train/...`, `test/...`); other files are training data.
    """
    path = Path(path)
    d = np.load(path)
    names = [str(n) for n in d["joint_names"]]
    wanted = [MOCAP_TO_BODY12[j] for j in BODY12.joints]
    if not all(wanted[i] in names for i in _LEGS):
        return []
    fps = np.broadcast_to(d["fps"], (len(d["sequence_names"]),))
    clips = []
    for key, f in zip(d["sequence_names"], fps):
        key = str(key)
        raw = d[key]
        joints = np.full((len(raw), len(BODY12), 3), np.nan, np.float32)
        for i, w in enumerate(wanted):
            if w in names:
                joints[:, i] = raw[:, names.index(w)]
        measured = np.isfinite(joints).all(axis=(0, 2))
        if not measured[_LEGS].all():
            continue
        if not measured.all():
            joints = complete_upper_body(joints, float(f))
        split = "test" if key.startswith("test/") else "train"
        clips.append(MotionClip(key, joints, float(f), split, path.stem, measured))
    return clips


def load_motion_dir(root: str | Path) -> list[MotionClip]:
    """All clips with BODY12 legs under a motion folder (cmu_mocap.npz, deepmimic_clips.npz, ...)."""
    root = Path(root)
    files = sorted(root.glob("*.npz"))
    if not files:
        raise FileNotFoundError(f"no motion .npz files in {root}")
    return [c for f in files for c in load_motion_file(f)]


# --- DeciWatch / MixSynthFormer preprocessed data -------------------------------------------

@dataclass
class PairedSequence:
    """A ground-truth sequence with an estimator's output for the same frames.

    2D: `gt`, `pred` (T, J, 2) in pixels, `bbox` (T, 4) x1 y1 x2 y2 in pixels, `image_size` (W, H).
    3D: (T, J, 3) metres, root-relative per frame, camera axes (x right, y down, z forward) as the
    world refiners expect; `axes` says what was found in the file and done to it.
    """
    name: str
    gt: np.ndarray
    pred: np.ndarray
    skeleton: Skeleton
    bbox: np.ndarray | None = None
    image_size: tuple[int, int] | None = None
    axes: str = ""


DECIWATCH = {  # dataset -> (skeleton, dims)
    "jhmdb": (JHMDB15, 2),
    "h36m": (H36M17, 3),
    "pw3d": (LSP14, 3),
    "aist": (LSP14, 3),
    "humaneva": (HUMANEVA15, 3),
}


def to_camera_axes(gt: list[np.ndarray], pred: list[np.ndarray], skeleton: Skeleton) -> tuple[
        list[np.ndarray], list[np.ndarray], str]:
    """3D sequences (T, J, 3) in a file's own units and axes -> metres and camera axes (y down),
    detected from the ground truth: millimetres when the median torso is longer than 10 units;
    the vertical axis is the one the torso (hips to shoulders) runs along, and its sign says
    whether it points up (then the pose is turned 180 degrees about x, or rotated from z-up).
    Returns both lists converted the same way and a sentence saying what was done."""
    allg = np.concatenate(gt)
    torso = float(np.median(torso_length(allg, skeleton)))
    scale, note = (0.001, "millimetres -> metres") if torso > 10 else (1.0, "metres")
    hips = allg[:, [skeleton.index("left_hip"), skeleton.index("right_hip")]].mean(1)
    sh = allg[:, [skeleton.index("left_shoulder"), skeleton.index("right_shoulder")]].mean(1)
    up = np.median(sh - hips, axis=0)
    axis = int(np.argmax(np.abs(up)))
    sign = np.sign(up[axis])
    rot = np.eye(3)
    if axis == 1 and sign < 0:
        note += ", y points down (camera axes): unchanged"
    elif axis == 1:
        rot, note = np.diag([1.0, -1.0, -1.0]), note + ", y points up: turned 180 degrees about x"
    elif axis == 2:          # z up (motion-capture labs): x stays, y <- -z, z <- y * sign
        rot = np.array([[1.0, 0, 0], [0, 0, -sign], [0, sign, 0]])
        note += f", z points {'up' if sign > 0 else 'down'}: rotated to y down"
    else:
        raise ValueError(f"the torso runs along the x axis of this file (hips to shoulders {up.round(3)}); "
                         "cannot tell its vertical axis")
    conv = lambda xs: [(x * scale) @ rot.T for x in xs]
    return conv(gt), conv(pred), note


def load_deciwatch(root: str | Path, dataset: str, estimator: str, split: str) -> list[PairedSequence]:
    """Read `<dataset>_gt_<split>.npz` and `<dataset>_<estimator>_<split>.npz` from `root`
    (the estimator file may also sit in `root/<estimator>/`)."""
    if dataset not in DECIWATCH:
        raise ValueError(f"unknown DeciWatch dataset {dataset!r}; known: {sorted(DECIWATCH)}")
    skeleton, dims = DECIWATCH[dataset]
    root = Path(root)
    gt_path = root / f"{dataset}_gt_{split}.npz"
    det_name = f"{dataset}_{estimator}_{split}.npz"
    det_path = next((p for p in (root / det_name, root / estimator / det_name) if p.exists()),
                    root / det_name)
    for p in (gt_path, det_path):
        if not p.exists():
            raise FileNotFoundError(f"{p} not found")
    gt, det = np.load(gt_path, allow_pickle=True), np.load(det_path, allow_pickle=True)
    key = "joints_2d" if dims == 2 else "joints_3d"
    gts, preds = gt[key], det[key]
    if len(gts) != len(preds):
        raise ValueError(f"{gt_path.name} has {len(gts)} sequences but {det_path.name} has {len(preds)}")
    names = gt["imgname"] if "imgname" in gt.files else [None] * len(gts)
    out = []
    per_frame = len(skeleton) * dims
    for i, (g, p) in enumerate(zip(gts, preds)):
        g, p = np.asarray(g, np.float32), np.asarray(p, np.float32)
        for label, x, path in (("ground truth", g, gt_path), ("detections", p, det_path)):
            if x.size % max(len(x), 1) or x.size // max(len(x), 1) != per_frame:
                raise ValueError(
                    f"{path.name}: sequence {i} has {x.size // max(len(x), 1)} values per frame of {label}, "
                    f"but the {dataset} layout is {len(skeleton)} joints ({skeleton.name}) x {dims}; "
                    f"pick the --dataset whose skeleton the file has ({', '.join(sorted(DECIWATCH))})")
        g, p = g.reshape(len(g), len(skeleton), dims), p.reshape(len(p), len(skeleton), dims)
        if len(g) != len(p):
            raise ValueError(f"sequence {i}: {len(g)} ground-truth frames but {len(p)} detected")
        name = str(np.asarray(names[i]).ravel()[0]) if names[i] is not None else f"{dataset}_{i}"
        if dims == 2:
            h, w = np.asarray(gt["imgshape"][i]).ravel()[:2]
            bbox = np.asarray(gt["bbox"][i], np.float32).reshape(len(g), 4)
            out.append(PairedSequence(name, g, p, skeleton, bbox, (int(w), int(h))))
        else:
            out.append(PairedSequence(name, g, p, skeleton))
    if dims == 3:
        gs, ps, note = to_camera_axes([s.gt for s in out], [s.pred for s in out], skeleton)
        for s, g, p in zip(out, gs, ps):
            s.gt = (g - root_of(g, skeleton)[:, None]).astype(np.float32)
            s.pred = (p - root_of(p, skeleton)[:, None]).astype(np.float32)
            s.axes = note
    return out
