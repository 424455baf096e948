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

from ..skeleton import BODY12, JHMDB15, H36M17, LSP14, MOCAP_TO_BODY12, Skeleton, root_of


@dataclass
class MotionClip:
    """One motion-capture sequence on BODY12 joints: `joints` (T, 12, 3) in metres, +Y up."""
    name: str
    joints: np.ndarray
    fps: float
    split: str          # "train" or "test"
    source: str

    @property
    def seconds(self) -> float:
        return (len(self.joints) - 1) / self.fps


def load_motion_file(path: str | Path) -> list[MotionClip]:
    """Clips of one motion npz that has all BODY12 joints (files without arms give none).

    CMU keys carry their split (`train/...`, `test/...`); other files are training data.
    """
    path = Path(path)
    d = np.load(path)
    names = [str(n) for n in d["joint_names"]]
    wanted = [MOCAP_TO_BODY12[j] for j in BODY12.joints]
    if not all(w in names for w in wanted):
        return []
    idx = [names.index(w) for w in wanted]
    fps = np.broadcast_to(d["fps"], (len(d["sequence_names"]),))
    clips = []
    for key, f in zip(d["sequence_names"], fps):
        key = str(key)
        joints = d[key][:, idx].astype(np.float32)
        if not np.isfinite(joints).all():
            continue
        split = "test" if key.startswith("test/") else "train"
        clips.append(MotionClip(key, joints, float(f), split, path.stem))
    return clips


def load_motion_dir(root: str | Path) -> list[MotionClip]:
    """All clips with BODY12 joints under a motion folder (cmu_mocap.npz, deepmimic_clips.npz, ...)."""
    root = Path(root)
    files = sorted(root.glob("*.npz"))
    if not files:
        raise FileNotFoundError(f"no motion .npz files in {root}")
    return [c for f in files for c in load_motion_file(f)]


# --- DeciWatch / MixSynthFormer preprocessed data -------------------------------------------

@dataclass
class PairedSequence:
    """A ground-truth sequence with an estimator's output for the same frames.

    2D: `gt`, `pred` (T, J, 2) in [0, 1] image units (pixels / (W, H)), `bbox` (T, 4) x1 y1 x2 y2
    in the same units, `image_size` (W, H). 3D: (T, J, 3) metres, root-relative per frame.
    """
    name: str
    gt: np.ndarray
    pred: np.ndarray
    skeleton: Skeleton
    bbox: np.ndarray | None = None
    image_size: tuple[int, int] | None = None


DECIWATCH = {  # dataset -> (skeleton, dims)
    "jhmdb": (JHMDB15, 2),
    "h36m": (H36M17, 3),
    "pw3d": (LSP14, 3),
    "aist": (LSP14, 3),
}


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
    for i, (g, p) in enumerate(zip(gts, preds)):
        g = np.asarray(g, np.float32).reshape(len(g), len(skeleton), dims)
        p = np.asarray(p, np.float32).reshape(len(p), len(skeleton), dims)
        if len(g) != len(p):
            raise ValueError(f"sequence {i}: {len(g)} ground-truth frames but {len(p)} detected")
        name = str(np.asarray(names[i]).ravel()[0]) if names[i] is not None else f"{dataset}_{i}"
        if dims == 2:
            h, w = np.asarray(gt["imgshape"][i]).ravel()[:2]
            wh = np.array([w, h], np.float32)
            bbox = np.asarray(gt["bbox"][i], np.float32).reshape(len(g), 4) / np.tile(wh, 2)
            out.append(PairedSequence(name, g / wh, p / wh, skeleton, bbox, (int(w), int(h))))
        else:
            g = g - root_of(g, skeleton)[:, None]
            p = p - root_of(p, skeleton)[:, None]
            out.append(PairedSequence(name, g, p, skeleton))
    return out
