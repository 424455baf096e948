"""Training and evaluation pairs from motion capture: virtual cameras and a detector-noise model.

A clip (metres, +Y up, global trajectory kept) is resampled to video frame rate at a random
speed, optionally mirrored, seen by a random static camera, and then either projected to pixels
("image" space, like MediaPipe's image landmarks) or expressed in the camera's axes relative to
the hip mid-point ("world" space: metres, x right, y down, z away from the camera, like
MediaPipe's world landmarks). `NoiseModel` turns the clean poses into what a detector gives.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..interpolate import fill_gaps
from .motion import MotionClip
from ..skeleton import BODY12, root_of, torso_length

SPACES = ("image", "world")
DISTAL = [BODY12.index(n) for n in ("left_wrist", "right_wrist", "left_ankle", "right_ankle")]
HIPS = [BODY12.index("left_hip"), BODY12.index("right_hip")]


@dataclass(frozen=True)
class CameraRange:
    """Ranges the random virtual cameras are drawn from."""
    distance: tuple[float, float] = (2.5, 8.0)     # m, from the subject's path (beyond its extent)
    height: tuple[float, float] = (0.4, 2.2)       # m above the floor
    focal: tuple[float, float] = (0.6, 1.6)        # focal length / image width
    roll_deg: float = 5.0
    sizes: tuple[tuple[int, int], ...] = ((640, 480), (1280, 720), (1920, 1080), (1080, 1920))


@dataclass(frozen=True)
class MotionAugment:
    """How clips are turned into video-like windows."""
    fps: float = 30.0                              # video frame rate the windows are sampled at
    speed: tuple[float, float] = (0.5, 1.6)        # playback speed, log-uniform (0.5 = 60 fps video)
    mirror: bool = True                            # flip left/right half of the time
    hip_width: tuple[float, float] = (1.0, 1.8)    # MediaPipe's hip points sit wider than joint centres
    edge_hold: float = 0.2                         # share of a window that may hold a clip's end pose


@dataclass(frozen=True)
class NoiseModel:
    """Detector noise, all sizes as fractions of the torso length (hip to shoulder mid-points).

    Calibrated on MediaPipe Pose in static mode on the shared videos (docs/refiner.md, "Noise
    model"): per-frame jitter of 0.7-2 % of the torso in 2D and 1-4 % in 3D with about twice
    that along the camera axis, plus an error of similar size that drifts slowly (static-mode
    poses differ from smoothed tracking-mode ones by about twice the jitter), plus outliers and
    left/right confusions.

    jitter: s.d. of white per-joint, per-frame noise, log-uniform per window in the range.
    drift / drift_time: s.d. and time constant (s) of a per-joint AR(1) error, log-uniform.
    distal_factor: wrists and ankles err this much more. depth_factor: world space, camera axis.
    outlier_rate / outlier_scale: per joint and frame, an extra Gaussian offset.
    swap_rate: per frame, left and right labels exchanged. miss_rate: per frame, no detection
    (a keyframe miss is filled from its neighbours, as the pipeline does).
    Measured against a multi-view reference (docs/noise_model.md), off by default:
    bias: s.d. of a per-joint offset constant over the window (distal and depth factors apply);
    leg_swap_rate: per frame, only the knees' and ankles' left and right labels exchanged (legs
    crossing in the image).
    """
    jitter: tuple[float, float] = (0.01, 0.05)
    drift: tuple[float, float] = (0.01, 0.05)
    drift_time: tuple[float, float] = (0.2, 1.0)
    distal_factor: float = 1.5
    depth_factor: float = 2.0
    outlier_rate: float = 0.02
    outlier_scale: float = 0.3
    swap_rate: float = 0.01
    miss_rate: float = 0.05
    bias: float = 0.0
    leg_swap_rate: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    def structure(self, clean: np.ndarray, noisy: np.ndarray, rng: np.random.Generator,
                  space: str, level: np.ndarray | float = 1.0) -> np.ndarray:
        """(N, T, J, D) noisy poses -> with `bias` and `leg_swap_rate` applied, both times `level`
        ((N,) or scalar). Nothing is drawn from `rng` for a term that is off, so existing seeds
        reproduce."""
        n, t, j, d = noisy.shape
        level = np.broadcast_to(np.asarray(level, float), (n,))[:, None, None, None]
        out = noisy.astype(np.float64)
        torso = torso_length(clean, BODY12).mean(axis=1)[:, None, None, None] * level   # (N,1,1,1)
        if self.bias > 0:
            scale = np.ones((1, 1, j, d))
            scale[:, :, DISTAL] *= self.distal_factor
            if space == "world":
                scale[..., 2] *= self.depth_factor
            out += rng.standard_normal((n, 1, j, d)) * self.bias * scale * torso
        if self.leg_swap_rate > 0:
            legs = rng.random((n, t)) < np.minimum(self.leg_swap_rate * level[:, :, 0, 0], 0.5)
            perm = np.arange(j)
            for name in ("knee", "ankle"):
                l, r = BODY12.index(f"left_{name}"), BODY12.index(f"right_{name}")
                perm[l], perm[r] = r, l
            out[legs] = out[legs][:, perm]
        return out.astype(noisy.dtype)

    def corrupt(self, clean: np.ndarray, rng: np.random.Generator, space: str,
                frame_dt: float = 1 / 30) -> np.ndarray:
        """(N, T, J, D) clean poses sampled every `frame_dt` seconds -> noisy poses (no misses)."""
        n, t, j, d = clean.shape
        torso = torso_length(clean, BODY12).mean(axis=1)[:, None, None, None]       # (N,1,1,1)
        logu = lambda r: np.exp(rng.uniform(*np.log(r), size=(n, 1, 1, 1)))
        scale = np.ones((1, 1, j, d))
        scale[:, :, DISTAL] *= self.distal_factor
        if space == "world":
            scale[..., 2] *= self.depth_factor
        rho = np.exp(-frame_dt / logu(self.drift_time))[:, 0]                        # (N,1,1)
        drift = np.empty(clean.shape)
        drift[:, 0] = rng.standard_normal((n, j, d))
        for i in range(1, t):
            drift[:, i] = rho * drift[:, i - 1] + np.sqrt(1 - rho ** 2) * rng.standard_normal((n, j, d))
        noise = rng.standard_normal(clean.shape) * logu(self.jitter) + drift * logu(self.drift)
        noisy = clean + noise * scale * torso
        outliers = rng.random((n, t, j, 1)) < self.outlier_rate
        noisy += outliers * rng.standard_normal(clean.shape) * self.outlier_scale * torso
        swaps = rng.random((n, t)) < self.swap_rate
        noisy[swaps] = noisy[swaps][:, BODY12.mirror]
        return self.structure(clean, noisy, rng, space).astype(clean.dtype)

    def misses(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Boolean mask of missed detections, e.g. shape (N, Q+1)."""
        return rng.random(shape) < self.miss_rate


def fill_missed(poses: np.ndarray, missed: np.ndarray) -> np.ndarray:
    """(N, M, J, D) poses with (N, M) missed mask -> misses filled from neighbouring detections."""
    return np.stack([fill_gaps(p, ~m) for p, m in zip(poses, missed)])


# --- cameras ----------------------------------------------------------------------------------

def look_at(position: np.ndarray, target: np.ndarray, roll: float = 0.0) -> np.ndarray:
    """World-to-camera rotation (3, 3) with rows right, down, forward (world +Y is up)."""
    fwd = target - position
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    c, s = np.cos(roll), np.sin(roll)
    return np.stack([c * right + s * down, -s * right + c * down, fwd])


def random_view(path: np.ndarray, rng: np.random.Generator, cam: CameraRange = CameraRange()):
    """A camera looking at a subject whose root follows `path` (T, 3).

    Returns (R (3, 3), position (3,), focal px, (cx, cy), (W, H))."""
    centre = path.mean(axis=0)
    extent = np.linalg.norm((path - centre)[:, [0, 2]], axis=1).max()
    yaw = rng.uniform(0, 2 * np.pi)
    dist = rng.uniform(*cam.distance) + extent
    pos = centre + np.array([dist * np.sin(yaw), 0.0, dist * np.cos(yaw)])
    pos[1] = rng.uniform(*cam.height)
    target = centre + np.array([0.0, rng.uniform(-0.3, 0.3), 0.0])
    rot = look_at(pos, target, np.deg2rad(rng.uniform(-cam.roll_deg, cam.roll_deg)))
    w, h = cam.sizes[rng.integers(len(cam.sizes))]
    focal = rng.uniform(*cam.focal) * w
    return rot, pos, focal, (w / 2, h / 2), (w, h)


def to_space(joints: np.ndarray, view, space: str) -> np.ndarray:
    """(T, J, 3) world joints -> (T, J, 2) pixels ("image") or (T, J, 3) hip-centred camera axes ("world")."""
    rot, pos, focal, (cx, cy), _ = view
    cam = (joints - pos) @ rot.T
    if space == "world":
        return cam - root_of(cam, BODY12)[:, None]
    z = np.maximum(cam[..., 2:], 0.1)
    return np.concatenate([focal * cam[..., :1] / z + cx, focal * cam[..., 1:2] / z + cy], axis=-1)


# --- sampling windows -------------------------------------------------------------------------

def resample(clip: MotionClip, times: np.ndarray) -> np.ndarray:
    """Clip joints at `times` (seconds), linear between captured frames, held beyond the ends."""
    x = np.clip(times * clip.fps, 0, len(clip.joints) - 1)
    i0 = np.minimum(np.floor(x).astype(int), len(clip.joints) - 2) if len(clip.joints) > 1 else \
        np.zeros(len(x), int)
    frac = (x - i0)[:, None, None]
    i1 = np.minimum(i0 + 1, len(clip.joints) - 1)
    return (1 - frac) * clip.joints[i0] + frac * clip.joints[i1]


def widen_hips(joints: np.ndarray, factor: float) -> np.ndarray:
    mid = joints[:, HIPS].mean(axis=1, keepdims=True)
    out = joints.copy()
    out[:, HIPS] = mid + (joints[:, HIPS] - mid) * factor
    return out


def mirror_world(joints: np.ndarray) -> np.ndarray:
    """Reflect through the world's x = 0 plane and swap left/right labels: a real mirrored motion."""
    out = joints[:, BODY12.mirror].copy()
    out[..., 0] *= -1
    return out


class WindowSampler:
    """Draws clean windows (N, T, 12, D) from clips, weighted by duration (capped at 10 s per clip)."""

    def __init__(self, clips: list[MotionClip], frames: int, space: str,
                 augment: MotionAugment = MotionAugment(), camera: CameraRange = CameraRange()):
        if space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}")
        if not clips:
            raise ValueError("no motion clips to sample from")
        self.clips, self.frames, self.space = clips, frames, space
        self.augment, self.camera = augment, camera
        w = np.array([min(c.seconds, 10.0) + 0.5 for c in clips])
        self.p = w / w.sum()

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        out = np.empty((n, self.frames, len(BODY12), 2 if self.space == "image" else 3), np.float32)
        a = self.augment
        for i in range(n):
            clip = self.clips[rng.choice(len(self.clips), p=self.p)]
            dt = np.exp(rng.uniform(*np.log(a.speed))) / a.fps
            span = (self.frames - 1) * dt
            lo = -a.edge_hold * span
            hi = max(clip.seconds - (1 - a.edge_hold) * span, lo)
            joints = resample(clip, rng.uniform(lo, hi) + dt * np.arange(self.frames))
            if a.mirror and rng.random() < 0.5:
                joints = mirror_world(joints)
            joints = widen_hips(joints, rng.uniform(*a.hip_width))
            view = random_view(root_of(joints, BODY12), rng, self.camera)
            out[i] = to_space(joints, view, self.space)
        return out


def corrupt_keyframes(clean: np.ndarray, k: int, noise: NoiseModel, rng: np.random.Generator,
                      space: str, fps: float = 30.0) -> np.ndarray:
    """(N, T, J, D) clean windows -> (N, Q+1, J, D) noisy keyframes with misses filled."""
    kf = noise.corrupt(clean[:, ::k], rng, space, frame_dt=k / fps)
    return fill_missed(kf, noise.misses(kf.shape[:2], rng))
