"""Evaluate refiners against interpolation baselines and the dense noisy input, on data that
cannot flatter them.

    python -m pipeline.evaluate --weights weights/world_k10_q3.json
    python -m pipeline.evaluate --all --doc docs/refiner.md      # every shipped model, rewrites the page

Held-out suites (`SUITES`), each scored frame by frame with windows as the app runs them:
  cmu       the CMU test split (never trained on) with its own template body;
  bodies    the same motions performed by four fixed bodies at the edges of the training
            proportions (bones rescaled along the chain; pipeline/training/synth.py);
  gaitkit   the three gait-laboratory subjects (healthy, Parkinson's, stroke), scored with a model
            of the same recipe trained without gaitkit (`weights/heldout/`), on their measured
            joints only;
  deepmimic the fifteen DeepMimic clips, with a model trained without DeepMimic;
  clean     the `bodies` motions with perfect keyframes: a refiner must not rewrite clean input;
  light     the `bodies` motions at 0.3x the measured noise, a better detector's (for reference);
  video     real video: MediaPipe's own keyframes on the four calibrated views of pose2sim_single,
            against a leave-one-view-out triangulated reference (pipeline/training/multiview.py),
            per view and pooled, the keyframes at every phase (first keyframe at frame 0 ... K-1).
Motion capture is resampled to 30 fps, seen by fixed virtual cameras and corrupted with the model
card's detector-noise model at its measured level (fixed seeds). Or the DeciWatch files a user owns
(--deciwatch ROOT --dataset h36m --estimator fcn).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .. import metrics
from ..interpolate import (EXTRAPOLATIONS, KINDS, extrapolate_keyframes, fill_causal, fill_gaps,
                           interpolate_keyframes)
from .motion import DECIWATCH, MotionClip, load_deciwatch, load_motion_dir
from ..paths import MOTION_DIR as DEFAULT_MOTION, WEIGHTS_DIR
from ..refiner.runtime import Refiner, WeightsError, load_card, save_card
from ..skeleton import BODY12, Skeleton, mapping, root_of
from .synth import NoiseModel, random_view, reshape_body, resample, to_space
from ..refiner.windows import keyframe_indices

REFINER = "MixSynthFormer"
PINNED = "MixSynthFormer, keyframes pinned"
HELDOUT_DIR = WEIGHTS_DIR / "heldout"


@dataclass
class EvalSequence:
    """gt, dense (T, J, D); keyframes (N_kf, J, D) as the pipeline would see them (misses filled),
    found (N_kf,) which keyframes were detected; bbox (T, 4) in 2D; measured (J,) the joints that
    are scored (all but those a gait recording lacks)."""
    name: str
    gt: np.ndarray
    dense: np.ndarray
    keyframes: np.ndarray
    found: np.ndarray
    bbox: np.ndarray | None = None
    measured: np.ndarray | None = None


def _body(torso=0.5, shoulder=0.75, hip=0.6, upper=0.64, fore=0.5, thigh=0.85, shank=0.85,
          left_arm=1.0, right_leg=1.0) -> dict[str, np.ndarray]:
    """Bone lengths in metres (see synth.BodyShape) from ratios to the torso."""
    t = torso
    return {"torso": np.array(t), "shoulder_width": np.array(shoulder * t), "hip_width": np.array(hip * t),
            "upper_arm": np.array([upper * left_arm, upper]) * t, "forearm": np.array([fore * left_arm, fore]) * t,
            "thigh": np.array([thigh, thigh * right_leg]) * t, "shank": np.array([shank, shank * right_leg]) * t}


# Four bodies at the edges of the training proportions (synth.BodyShape), never drawn as such.
TEST_BODIES = {
    "long limbs, narrow shoulders and hips": _body(0.55, shoulder=0.56, hip=0.32, upper=0.78, fore=0.62,
                                                   thigh=1.05, shank=1.05),
    "short limbs, broad shoulders and hips": _body(0.42, shoulder=1.0, hip=0.98, upper=0.52, fore=0.41,
                                                   thigh=0.7, shank=0.7),
    "adult proportions (Winter), wide landmark hips": _body(0.5, shoulder=0.72, hip=0.8),
    "asymmetric: left arm 6 % longer, right leg 5 % shorter": _body(0.48, left_arm=1.06, right_leg=0.95),
}


def motion_test_set(clips: list[MotionClip], space: str, k: int, noise: NoiseModel, views: int = 4,
                    seed: int = 0, fps: float = 30.0, bodies: list[dict] | None = None,
                    level: float = 1.0) -> list[EvalSequence]:
    """Clips seen by `views` fixed cameras each (each view with the next of `bodies`, when given),
    with detector noise at `level` (0: perfect keyframes, no misses)."""
    out = []
    for ci, clip in enumerate(clips):
        base = resample(clip, np.arange(0, clip.seconds, 1 / fps))
        for v in range(views):
            rng = np.random.default_rng([seed, ci, v])
            joints = base if bodies is None else reshape_body(base, bodies[(ci + v) % len(bodies)])
            gt = to_space(joints, random_view(root_of(joints, BODY12), rng), space).astype(np.float32)
            noisy = noise.corrupt(gt[None], rng, space, 1 / fps, level)[0]
            found = ~noise.misses((len(gt),), rng) if level > 0 else np.ones(len(gt), bool)
            kf = keyframe_indices(len(gt), k)
            out.append(EvalSequence(
                f"{clip.name}#{v}", gt, fill_gaps(noisy, found), fill_gaps(noisy[kf], found[kf]),
                found[kf], metrics.bbox_from_joints(gt) if space == "image" else None, clip.measured))
    return out


def synthetic_test_set(motion_dir: Path, space: str, k: int, noise: NoiseModel, views: int = 4,
                       seed: int = 0, fps: float = 30.0) -> list[EvalSequence]:
    """The CMU test split (held out from training), with its own body."""
    clips = [c for c in load_motion_dir(motion_dir) if c.split == "test"]
    if not clips:
        raise ValueError(f"no held-out (test split) clips in {motion_dir}")
    return motion_test_set(clips, space, k, noise, views, seed, fps)


def deciwatch_test_set(root: Path, dataset: str, estimator: str, k: int,
                       skeleton: Skeleton | None = None, space: str | None = None) -> tuple[list[EvalSequence], str]:
    """A user's DeciWatch test files, on `skeleton`'s joints (mapped by name: a 12-joint model
    scores a Human3.6M-17, 3DPW/AIST++-14, Sub-JHMDB-15 or HumanEva-15 file on its twelve body
    joints), checked against the model's `space`. Returns the sequences and a note on the
    joints and axes used."""
    seqs = load_deciwatch(root, dataset, estimator, "test")
    src = seqs[0].skeleton
    dims = seqs[0].gt.shape[-1]
    file_space = "image" if dims == 2 else "world"
    if space is not None and space != file_space:
        raise ValueError(f"the {dataset} files hold {'2D image' if dims == 2 else '3D'} poses but the "
                         f"model is for {space} space: use an {file_space}-space model")
    dst = skeleton or src
    try:
        m = mapping(src, dst)
    except KeyError:
        missing = [j for j in dst.joints if j not in src.joints]
        raise ValueError(f"the model's joints {', '.join(missing)} are not in the {dataset} files "
                         f"({src.name}: {', '.join(src.joints)})") from None
    conv = lambda x: np.einsum("ij,tjd->tid", m, x).astype(np.float32)
    note = f"{dataset} ({src.name}) scored on the {len(dst)} joints of {dst.name}" + \
        (f"; 3D axes: {seqs[0].axes}" if seqs[0].axes else "")
    out = []
    for s in seqs:
        gt, pred = conv(s.gt), conv(s.pred)
        kf = keyframe_indices(len(gt), k)
        bbox = s.bbox if s.bbox is not None else (metrics.bbox_from_joints(gt) if dims == 2 else None)
        out.append(EvalSequence(s.name, gt, pred, pred[kf], np.ones(len(kf), bool), bbox))
    return out, note


def predictions(seq: EvalSequence, refiner: Refiner | None, k: int, stride: int | None) -> dict:
    """Every method's (T, J, D) estimate for one sequence."""
    n = len(seq.gt)
    kf = keyframe_indices(n, k)
    out = {"dense input": seq.dense}
    latency = refiner.card.config.latency if refiner is not None else "window"
    keyframes = seq.keyframes
    if latency != "window":           # a missed keyframe held, as a stream has it (not filled from
        keyframes = fill_causal(seq.keyframes, seq.found)   # the next detection): every method's input
    for kind in KINDS:
        out[kind] = interpolate_keyframes(kf, keyframes, np.arange(n), kind)
    if latency == "zero":
        for kind in EXTRAPOLATIONS:
            out[kind] = extrapolate_keyframes(kf, keyframes, np.arange(n), kind)
    if refiner is not None:
        out[REFINER] = refiner.refine_sequence(keyframes, n, stride)
        out[PINNED] = refiner.refine_sequence(keyframes, n, stride, pin=seq.found)
    return out


def score(seqs: list[EvalSequence], refiner: Refiner | None, k: int, space: str,
          stride: int | None = None, skeleton=BODY12) -> dict[str, dict[str, float]]:
    """Frame-weighted metrics per method over each sequence's measured joints: mean pixel error,
    PCK and Accel (2D) or root-relative MPJPE and Accel in mm (3D)."""
    totals: dict[str, dict[str, float]] = {}
    frames = 0
    for seq in seqs:
        n = len(seq.gt)
        frames += n
        m_idx = slice(None) if seq.measured is None else np.flatnonzero(seq.measured)
        for method, pred in predictions(seq, refiner, k, stride).items():
            if space == "image":
                p, g = pred[:, m_idx], seq.gt[:, m_idx]
                m = {"error (px)": metrics.mpjpe(p, g)}
                m.update({f"PCK@{a}": metrics.pck(p, g, seq.bbox, a) for a in (0.1, 0.05)})
                m["Accel (px/frame²)"] = metrics.accel_error(p, g)
            else:
                p = (pred - root_of(pred, skeleton)[:, None])[:, m_idx]
                g = (seq.gt - root_of(seq.gt, skeleton)[:, None])[:, m_idx]
                m = {"MPJPE (mm)": 1000 * metrics.mpjpe(p, g),
                     "Accel (mm/frame²)": 1000 * metrics.accel_error(p, g)}
            acc = totals.setdefault(method, {})
            for key, v in m.items():
                acc[key] = acc.get(key, 0.0) + v * n
    return {meth: {key: v / frames for key, v in m.items()} for meth, m in totals.items()}


def markdown_table(result: dict[str, dict[str, float]]) -> str:
    cols = list(next(iter(result.values())))
    lines = ["| method | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for meth, m in result.items():
        cells = [f"{v:.3f}" if "PCK" in c else f"{v:.1f}" if ("mm" in c or "px)" in c) else f"{v:.2f}"
                 for c, v in m.items()]
        lines.append(f"| {meth} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def error_key(space: str) -> str:
    return "error (px)" if space == "image" else "MPJPE (mm)"


def rivals(latency: str) -> tuple[str, ...]:
    """The baselines a latency mode's refiner must beat: the causal ones for zero latency
    (the same past keyframes), linear interpolation of the same keyframes otherwise."""
    return EXTRAPOLATIONS if latency == "zero" else ("linear",)


def acceptance(result: dict[str, dict[str, float]], space: str, latency: str = "window") -> dict[str, bool]:
    """The bar on a held-out set: error (3D MPJPE, 2D mean pixel error) at least 7 % below the best
    interpolation of the same keyframes and below the dense noisy input, Accel no worse than cubic.
    Keyframe latency: error and Accel below linear interpolation between the same two keyframes.
    Zero latency: error and Accel below holding the last keyframe and below constant velocity."""
    r, e = result[REFINER], error_key(space)
    acc = next(c for c in r if c.startswith("Accel"))
    if latency != "window":
        return {f"{m} below {b}": r[c] < result[b][c]
                for b in rivals(latency) for m, c in (("error", e), ("Accel", acc))}
    best = min(result[k][e] for k in KINDS)
    return {"error >= 7% below best interpolation": r[e] <= 0.93 * best,
            "error below dense input": r[e] < result["dense input"][e],
            "Accel no worse than cubic": r[acc] <= result["cubic"][acc]}


def clean_acceptance(result: dict[str, dict[str, float]], space: str, latency: str = "window") -> dict[str, bool]:
    """On perfect keyframes a refiner may not rewrite the input: error at most twice linear's
    (zero latency: twice constant velocity's, the best estimate from past keyframes alone)."""
    e, base = error_key(space), "constant velocity" if latency == "zero" else "linear"
    return {f"error at most 2x {base} on clean keyframes": result[REFINER][e] <= 2 * result[base][e]}


@dataclass(frozen=True)
class Suite:
    """A held-out test: how to build its sequences, which model scores it and how it is judged."""
    name: str
    title: str
    build: Callable[[Path, str, int, NoiseModel, int, int], list[EvalSequence]]
    heldout_source: str | None = None       # scored by the model trained without this motion file
    judge: Callable[[dict, str, str], dict[str, bool]] = acceptance
    counts: bool = True                     # part of a model's acceptance


def _clips(motion_dir: Path, source: str | None = None, split: str | None = None) -> list[MotionClip]:
    clips = [c for c in load_motion_dir(motion_dir)
             if (source is None or c.source == source) and (split is None or c.split == split)]
    if not clips:
        raise ValueError(f"no {source or ''} {split or ''} clips in {motion_dir}")
    return clips


def _bodies_at(level: float) -> Callable[[Path, str, int, NoiseModel, int, int], list[EvalSequence]]:
    """The CMU test split performed by the four `TEST_BODIES`, with detector noise at `level`."""
    return lambda d, sp, k, nz, v, sd: motion_test_set(_clips(d, "cmu_mocap", "test"), sp, k, nz, v, sd,
                                                       bodies=list(TEST_BODIES.values()), level=level)


SUITES = {s.name: s for s in (
    Suite("cmu", "CMU test split, its own template body",
          lambda d, sp, k, nz, v, sd: motion_test_set(_clips(d, "cmu_mocap", "test"), sp, k, nz, v, sd),
          counts=False),
    Suite("bodies", "CMU test split performed by four other bodies", _bodies_at(1.0)),
    Suite("gaitkit", "gaitkit: three gait-laboratory subjects (healthy, Parkinson's, stroke)",
          lambda d, sp, k, nz, v, sd: motion_test_set(_clips(d, "gaitkit_gait"), sp, k, nz, v, sd),
          heldout_source="gaitkit_gait"),
    Suite("deepmimic", "DeepMimic: fifteen clips of a simulated humanoid (walk, run, flips, dances, ...)",
          lambda d, sp, k, nz, v, sd: motion_test_set(_clips(d, "deepmimic_clips"), sp, k, nz, v, sd),
          heldout_source="deepmimic_clips"),
    Suite("clean", "perfect keyframes: the bodies suite without detector noise", _bodies_at(0.0),
          judge=clean_acceptance),
    Suite("light", "a lighter detector: the bodies suite at 0.3x the measured noise", _bodies_at(0.3),
          counts=False),
)}


def video_suite(refiner: Refiner, space: str, stride: int | None = None) -> dict:
    """Real video: the four calibrated views of pose2sim_single, each against the leave-one-view-
    out reference (pipeline/training/multiview.py), MediaPipe's own static-mode keyframes in,
    at every keyframe phase (K runs per view, the first keyframe at frame 0 ... K-1, pooled: a
    100-frame view holds only 100 / K keyframes per run). 2D: mean pixel error as % of the
    person's box; 3D: root-relative MPJPE and PA-MPJPE in mm.
    Judged: the refiner closer to the reference than linear interpolation of the same keyframes,
    pooled and in at least three of the four views; in 3D by PA-MPJPE (the pose after the best
    rotation and scale), since MediaPipe's world frame is tilted ~11 degrees from the camera's
    and that tilt, shared by every method fed its keyframes, dominates the plain MPJPE."""
    from . import multiview
    key = "error (% box)" if space == "image" else "MPJPE (mm)"
    judge = "error (% box)" if space == "image" else "PA-MPJPE (mm)"
    latency = refiner.card.config.latency
    causal = fill_causal if latency != "window" else (lambda kf, found: kf)   # as in `predictions`
    run = lambda pin: (lambda f, kf, found, n: refiner.refine_sequence(
        causal(kf, found).astype(np.float32), n, stride, pin=found if pin else None))
    extra = {kind: (lambda f, kf, found, n, kind=kind: extrapolate_keyframes(f, causal(kf, found), np.arange(n), kind))
             for kind in EXTRAPOLATIONS} if latency == "zero" else {}
    if latency == "keyframe":         # the rival: linear interpolation of the same keyframes
        extra["linear"] = lambda f, kf, found, n: interpolate_keyframes(f, causal(kf, found), np.arange(n), "linear")
    scene = multiview.load_scene()
    in_space = lambda predict: (predict, None) if space == "image" else (None, predict)
    res = multiview.video_benchmark(scene, refiner.k, {REFINER: in_space(run(False)), PINNED: in_space(run(True))},
                                    extra=extra, phases=refiner.k)
    views = {view: {method: {c: v for c, v in row.items() if c != "frames"} for method, row in table.items()}
             for view, table in list(res["views"].items()) + [("pooled", res["pooled"])]}
    order = [REFINER, PINNED, "linear", "cubic", *extra, "dense static", "dense tracking"]
    views = {v: {m: t[m] for m in order} for v, t in views.items()}
    judged = {}
    for rival in rivals(latency):
        better = [v for v, t in views.items() if v != "pooled" and t[REFINER][judge] < t[rival][judge]]
        judged[f"{judge} below {rival}, pooled"] = views["pooled"][REFINER][judge] < views["pooled"][rival][judge]
        judged[f"{judge} below {rival} in >= 3 of 4 views ({len(better)})"] = len(better) >= 3
    frames = scene.n_frames
    return {"title": "real video: pose2sim_single, 4 calibrated views, leave-one-view-out reference",
            "scored_by": "this model", "counts": True,
            "data": f"{len(scene.names)} views x {frames} frames at {scene.fps:g} fps, MediaPipe static-mode "
                    f"keyframes, every keyframe phase ({refiner.k} runs per view, pooled)",
            "table": views["pooled"], "views": views, "metric": key,
            "acceptance": judged}


LATENCY_SUITES = ("bodies", "gaitkit", "deepmimic")


def pipeline_refiner(space: str, k: int, latency: str) -> Refiner:
    """What the app and the headless command run for a space, K and latency mode: the accepted
    refiner, else its interpolating fallback (`load_refiners`)."""
    from ..config import PipelineConfig, load_refiners
    image, world = load_refiners(PipelineConfig(k=k, latency=latency, refiner_runtime="torch"))
    return image if space == "image" else world


def latency_table(motion_dir: Path = DEFAULT_MOTION, views: int = 4, seed: int = 0,
                  ks: tuple[int, ...] = (5, 10, 20), spaces: tuple[str, ...] = ("image", "world"),
                  video: bool = True) -> dict[str, list[dict]]:
    """Accuracy against latency: per space, a row per latency mode and K with the error and Accel
    of what the pipeline delivers on the held-out motion suites (each with the card's noise level:
    `MEDIAPIPE`) and, with `video`, the real-video error (pooled over the four views)."""
    from ..refiner.config import LATENCIES as MODES
    from ..refiner.latency import latency_frames
    from .synth import MEDIAPIPE
    out: dict[str, list[dict]] = {}
    for space in spaces:
        rows = out.setdefault(space, [])
        acc_key = "Accel (px/frame²)" if space == "image" else "Accel (mm/frame²)"
        for k in ks:
            seqs = {n: SUITES[n].build(motion_dir, space, k, MEDIAPIPE[space], views, seed) for n in LATENCY_SUITES}
            for latency in MODES:
                refiner = pipeline_refiner(space, k, latency)
                row = {"mode": latency, "k": k, "latency_frames": latency_frames(latency, k, refiner.q),
                       "refiner": refiner.card.name}      # a fallback's card names what it does
                extra = dict(row, refiner="constant velocity (for comparison)") if latency == "zero" else None
                for name in LATENCY_SUITES:
                    model = refiner
                    if not refiner.is_linear and SUITES[name].heldout_source:
                        try:
                            model = Refiner.load(heldout_path(refiner.card.name, SUITES[name].heldout_source),
                                                 runtime="torch")
                        except WeightsError:
                            row[name] = None                  # no held-out model: not scored
                            continue
                    t = score(seqs[name], model, k, space)
                    row[name] = (t[REFINER][error_key(space)], t[REFINER][acc_key])
                    if extra is not None:
                        cv = t["constant velocity"]
                        extra[name] = (cv[error_key(space)], cv[acc_key])
                if video:
                    v = video_suite(refiner, space)["views"]["pooled"]
                    metric = "error (% box)" if space == "image" else "PA-MPJPE (mm)"
                    row["video"] = v[REFINER][metric]
                    if extra is not None:
                        extra["video"] = v["constant velocity"][metric]
                rows += [row] + ([extra] if extra is not None else [])
    return out


def latency_markdown(table: dict[str, list[dict]]) -> str:
    """The accuracy-against-latency section of docs/refiner.md."""
    parts = ["## Accuracy against latency\n",
             "What the pipeline delivers in each latency mode (`--latency`, the app's selector): the "
             "accepted refiner of that mode where one exists, else its fallback (window and keyframe: "
             "linear interpolation of the keyframes; zero: the last keyframe held). Error and Accel on "
             "the held-out motion suites (MediaPipe-fitted noise; a model's LODO suites scored by its "
             "held-out twin), real video pooled over the four views; in the keyframe and zero modes a "
             "missed keyframe is held, as a live source has it. Latency in frames (ms at 30 fps) "
             "with every keyframe detected.\n"]
    for space, rows in table.items():
        unit = ("px", "px/frame²", "% box") if space == "image" else ("mm", "mm/frame²", "mm PA-MPJPE")
        head = ["mode", "K", "latency", "refiner"] + [f"{n} error ({unit[0]})" for n in LATENCY_SUITES] + \
               [f"{n} Accel ({unit[1]})" for n in LATENCY_SUITES] + ([f"video ({unit[2]})"] if "video" in rows[0] else [])
        lines = [f"### {space} space\n", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
        for r in rows:
            cell = lambda v, i: "–" if v is None else f"{v[i]:.1f}" if space == "world" or i == 0 else f"{v[i]:.2f}"
            cells = [r["mode"], str(r["k"]), f"{r['latency_frames']} ({1000 * r['latency_frames'] / 30:.0f} ms)",
                     r["refiner"]] + [cell(r[n], 0) for n in LATENCY_SUITES] + [cell(r[n], 1) for n in LATENCY_SUITES]
            if "video" in r:
                cells.append(f"{r['video']:.2f}")
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def heldout_path(card_name: str, source: str) -> Path:
    """Where the model of the same recipe trained without `source` lives."""
    return HELDOUT_DIR / f"{card_name}-without-{source}.json"


def evaluate_weights(path: Path, motion_dir: Path = DEFAULT_MOTION, views: int = 4, seed: int = 0,
                     stride: int | None = None, suites: list[str] | None = None) -> dict:
    """Every suite for one model card: tables, verdicts, and whether the model is accepted."""
    refiner = Refiner.load(path, runtime="torch")
    card = refiner.card
    noise = NoiseModel(**card.training.get("noise", {}))
    out: dict = {"stride": stride or refiner.stride, "noise": "the card's noise model at its measured level",
                 "suites": {}}
    for name in [n for n in (suites or list(SUITES)) if n != "video"]:
        suite = SUITES[name]
        model, scored_by = refiner, path.with_suffix(".json").name
        if suite.heldout_source:
            hp = heldout_path(card.name, suite.heldout_source)
            try:
                model = Refiner.load(hp, space=card.space, k=refiner.k, q=refiner.q, runtime="torch")
            except WeightsError as e:
                why = (f"no model of the same recipe trained without {suite.heldout_source} "
                       f"(`weights/heldout/{hp.name}`)" if not hp.exists() else str(e))
                out["suites"][name] = {"title": suite.title, "missing": why, "counts": suite.counts,
                                       "acceptance": {f"model trained without {suite.heldout_source}": False}}
                continue
            scored_by = f"heldout/{hp.name}"
        seqs = suite.build(motion_dir, card.space, refiner.k, noise, views, seed)
        table = score(seqs, model, refiner.k, card.space, stride)
        out["suites"][name] = {
            "title": suite.title, "scored_by": scored_by, "counts": suite.counts,
            "data": f"{len(seqs)} sequences, {sum(len(s.gt) for s in seqs)} frames at 30 fps",
            "table": table, "acceptance": suite.judge(table, card.space, refiner.card.config.latency)}
    if suites is None or "video" in suites:
        out["suites"]["video"] = video_suite(refiner, card.space, stride)
    out["accepted"] = all(all(s["acceptance"].values()) for s in out["suites"].values() if s["counts"])
    return out


DOC_HEAD = """# Refiner: evaluation

Produced by `python -m pipeline.evaluate --all --doc docs/refiner.md` (`make evaluate`); do not edit
by hand. How the refiners are made, and why the suites look as they do, follows the tables.

Every suite is held out from the model it scores. Keyframes are frames 0, K, 2K, ...; the baselines
interpolate the same keyframes (scipy `interp1d`, held after the last keyframe); a missed keyframe
is filled from the detections around it, or, for keyframe- and zero-latency models, held from the
last detection, as a live stream has it (every method gets the same keyframes); *dense input* is
the noisy detection of every frame, what running the estimator on every frame would give.
*MixSynthFormer* is the refiner's own output, windows as the app runs them; *keyframes pinned*:
detected keyframes keep the estimator's pose and the refined frames between them are shifted to
meet them. 2D: mean pixel error and PCK at alpha * max(w, h) of the true box, over the measured
joints. 3D: root-relative (hip mid-point) MPJPE and acceleration error (second difference), in mm.
A model is shipped (used by the app and the headless command) only when it passes every suite
marked *counts*; otherwise the pipeline interpolates that space and says so.
"""


def suite_section(name: str, result: dict) -> str:
    head = f"### {name}: {result['title']}\n\n"
    if "missing" in result:
        return head + f"Not scored: {result['missing']}.\n"
    verdict = ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in result["acceptance"].items())
    label = "Acceptance" if result["counts"] else "For reference (not part of the acceptance)"
    table = markdown_table(result["table"]) if "views" not in result else views_table(result)
    return (head + f"Scored by `{result['scored_by']}`; {result['data']}.\n\n"
            f"{table}\n\n{label}: {verdict}.\n")


def views_table(result: dict) -> str:
    """Per-view table of the video suite: a row per method, a column per view and pooled."""
    views = result["views"]
    cols = list(views)
    lines = [f"| {result['metric']} | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for method in views["pooled"]:
        lines.append(f"| {method} | " + " | ".join(f"{views[c][method][result['metric']]:.2f}" for c in cols) + " |")
    if "PA-MPJPE (mm)" in views["pooled"][REFINER]:
        lines += ["", "| PA-MPJPE (mm) | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
        for method in views["pooled"]:
            lines.append(f"| {method} | " + " | ".join(f"{views[c][method]['PA-MPJPE (mm)']:.1f}" for c in cols) + " |")
    return "\n".join(lines)


def write_doc(doc: Path, sections: list[tuple[Path, dict]], latency: dict | None = None) -> None:
    parts = [DOC_HEAD]
    for path, ev in sections:
        card = load_card(path)
        fallback = "holds the last keyframe" if card.config.latency == "zero" else "interpolates"
        status = "**accepted: shipped**" if ev["accepted"] else f"**not accepted: the app {fallback} instead**"
        parts.append(f"## {card.describe()}\n\nWeights `weights/{path.with_suffix('.pt').name}`; windows every "
                     f"{ev['stride']} keyframes; {ev['noise']}. {status}.\n")
        parts += [suite_section(n, r) for n, r in ev["suites"].items()]
    if latency is not None:
        parts.append(latency_markdown(latency))
    extra = doc.with_name("refiner_notes.md")
    if extra.exists():
        parts.append(extra.read_text())
    doc.parent.mkdir(parents=True, exist_ok=True)
    tmp = doc.with_suffix(".tmp")
    tmp.write_text("\n".join(parts))
    tmp.replace(doc)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, action="append", help="model card or .pt (repeatable)")
    ap.add_argument("--all", action="store_true", help=f"every model in {WEIGHTS_DIR}")
    ap.add_argument("--motion", type=Path, default=DEFAULT_MOTION)
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--suites", type=lambda v: v.split(","), metavar="A,B",
                    help=f"held-out suites to run (default all: {','.join(SUITES)},video)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stride", type=int,
                    help="window stride in keyframes (default: the model card's runtime stride, 1)")
    ap.add_argument("--update-cards", action="store_true",
                    help="store each table in its model card (with --stride: also the stride the app uses)")
    ap.add_argument("--doc", type=Path, help="rewrite this markdown page with the tables")
    ap.add_argument("--latency-table", action="store_true",
                    help="also the accuracy-against-latency table (every mode, K = 5, 10, 20)")
    ap.add_argument("--deciwatch", type=Path, help="folder with DeciWatch npz files")
    ap.add_argument("--dataset", choices=sorted(DECIWATCH))
    ap.add_argument("--estimator", default="fcn")
    args = ap.parse_args(argv)

    paths = list(args.weights or [])
    if args.all:
        paths += sorted(WEIGHTS_DIR.glob("*.json"))
    if not paths:
        ap.error("give --weights PATH or --all")
    sections = []
    try:
        for path in paths:
            path = path.with_suffix(".json")
            if args.deciwatch:
                refiner = Refiner.load(path)
                seqs, note = deciwatch_test_set(args.deciwatch, args.dataset, args.estimator, refiner.k,
                                                refiner.skeleton, refiner.card.space)
                result = score(seqs, refiner, refiner.k, refiner.card.space, args.stride, refiner.skeleton)
                print(f"## {refiner.card.describe()} on {args.dataset} / {args.estimator}\n\n{note}\n")
                print(markdown_table(result))
                continue
            ev = evaluate_weights(path, args.motion, args.views, args.seed, args.stride, args.suites)
            print(f"## {load_card(path).describe()}: {'accepted' if ev['accepted'] else 'NOT accepted'}\n")
            for name, result in ev["suites"].items():
                print(suite_section(name, result), flush=True)
            sections.append((path, ev))
            if args.update_cards:
                card = load_card(path)
                card.evaluation = ev
                if args.stride:               # the pipeline then runs the model as evaluated
                    card.runtime["stride"] = args.stride
                save_card(path, card)
    except (WeightsError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    latency = None
    if args.latency_table:
        latency = latency_table(args.motion, args.views, args.seed)
        print(latency_markdown(latency), flush=True)
    if args.doc and sections:
        write_doc(args.doc, sections, latency)
        print(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
