"""Training and evaluation pairs from motion capture: many bodies, virtual cameras, detector noise.

A clip (metres, +Y up, global trajectory kept) is re-proportioned to a random body (`BodyShape`:
bones rescaled along the kinematic chain, constant within a window), resampled at a random video
frame rate and playback speed, optionally mirrored, seen by a random static camera, and then
either projected to pixels ("image" space, like MediaPipe's image landmarks) or expressed in the
camera's axes relative to the hip mid-point ("world" space: metres, x right, y down, z away from
the camera, like MediaPipe's world landmarks). `NoiseModel` turns the clean poses into what a
detector gives, at a noise level drawn per window from none to heavy.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from ..interpolate import fill_gaps
from .motion import MotionClip
from ..skeleton import BODY12, root_of, torso_length

SPACES = ("image", "world")
DISTAL = [BODY12.index(n) for n in ("left_wrist", "right_wrist", "left_ankle", "right_ankle")]
HIPS = [BODY12.index("left_hip"), BODY12.index("right_hip")]
# The body as a tree from the left hip, parent before child (`rigid` noise keeps these bones' lengths).
CHAIN = [(BODY12.index(p), BODY12.index(c)) for p, c in (
    ("left_hip", "right_hip"), ("left_hip", "left_shoulder"), ("right_hip", "right_shoulder"),
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle"))]
LEG_SWAP = BODY12.mirror.copy()                 # knees and ankles exchanged, the rest kept
for _n in ("shoulder", "elbow", "wrist", "hip"):
    LEG_SWAP[[BODY12.index(f"left_{_n}"), BODY12.index(f"right_{_n}")]] = \
        [BODY12.index(f"left_{_n}"), BODY12.index(f"right_{_n}")]


@dataclass(frozen=True)
class CameraRange:
    """Ranges the random virtual cameras are drawn from."""
    distance: tuple[float, float] = (2.0, 10.0)    # m, from the subject's path (beyond its extent)
    height: tuple[float, float] = (0.3, 3.0)       # m above the floor
    focal: tuple[float, float] = (0.5, 2.0)        # focal length / image width
    roll_deg: float = 10.0
    aim_deg: float = 8.0                           # the subject off the image centre, up to this
    sizes: tuple[tuple[int, int], ...] = ((640, 480), (1280, 720), (1920, 1080), (1080, 1920))


@dataclass(frozen=True)
class BodyShape:
    """Body proportions drawn per window, as ratios to the torso (hip mid-point to shoulder
    mid-point), log-uniform in each range.

    Centres from Drillis & Contini's segment lengths as fractions of standing height H (Winter,
    Biomechanics and Motor Control of Human Movement, 4th ed., fig. 4.1): upper arm 0.186 H,
    forearm 0.146 H, thigh 0.245 H, shank 0.246 H, torso (hip to shoulder joint) about 0.29 H,
    i.e. 0.64, 0.50, 0.85 and 0.85 torso lengths. The ranges span adults of both sexes, children
    from about six years (shorter limbs for their trunk) and where detectors put the joints:
    shoulder width from joint centres (about 0.6) to MediaPipe's landmarks and broad shoulders
    (1.0); hip width from hip-joint centres (0.35) to the wide hip landmarks of MediaPipe and of
    gait laboratories' markers (1.0). `limbs` scales all four limb segments together (long- or
    short-limbed people), on top of each segment's own factor; left and right differ by up to
    `asymmetry`.
    """
    torso_m: tuple[float, float] = (0.38, 0.62)
    shoulder_width: tuple[float, float] = (0.55, 1.0)
    hip_width: tuple[float, float] = (0.3, 1.0)
    upper_arm: tuple[float, float] = (0.55, 0.75)
    forearm: tuple[float, float] = (0.42, 0.6)
    thigh: tuple[float, float] = (0.72, 1.0)
    shank: tuple[float, float] = (0.72, 1.0)
    limbs: tuple[float, float] = (0.88, 1.12)
    asymmetry: float = 0.03

    def sample(self, rng: np.random.Generator, n: int | None = None) -> dict[str, np.ndarray]:
        """Bone lengths in metres: torso, shoulder_width, hip_width () and, per side (left, right),
        upper_arm, forearm, thigh, shank (2,); with `n`, n bodies: (n,) and (n, 2)."""
        shape = () if n is None else (n,)
        logu = lambda r: np.exp(rng.uniform(*np.log(r), size=shape))
        torso = logu(self.torso_m)
        limbs = logu(self.limbs)
        body = {"torso": torso, "shoulder_width": torso * logu(self.shoulder_width),
                "hip_width": torso * logu(self.hip_width)}
        for seg in ("upper_arm", "forearm", "thigh", "shank"):
            side = np.exp(rng.uniform(-1, 1, shape + (2,)) * self.asymmetry / 2)
            body[seg] = (torso * limbs * logu(getattr(self, seg)))[..., None] * side
        return body


_J = BODY12.index


def reshape_body(joints: np.ndarray, body: dict[str, np.ndarray]) -> np.ndarray:
    """(..., T, 12, 3) joints, +Y up -> the same motion performed by a body with `body`'s bone
    lengths (`BodyShape.sample`, with the same leading shape): every bone keeps its direction and
    gets its new length, rebuilt from the hip mid-point outwards (forward kinematics on the
    directions), so bone lengths are constant over the sequence. The hip mid-point's path is
    scaled by the change in leg length (longer legs: longer strides, higher pelvis), so feet stay
    near the floor."""
    j = joints.astype(np.float64)
    unit = lambda v: v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)
    size = lambda x: np.asarray(x, float)[..., None, None]            # (...) -> (..., 1, 1)
    side_len = lambda seg, s: np.asarray(body[seg], float)[..., s][..., None, None]
    bone = lambda a, b: np.linalg.norm(j[..., _J(b), :] - j[..., _J(a), :], axis=-1)
    out = np.empty_like(j)
    pelvis = j[..., [_J("left_hip"), _J("right_hip")], :].mean(-2)                  # (..., T, 3)
    legs_old = np.median(bone("left_hip", "left_knee") + bone("left_knee", "left_ankle"), axis=-1)
    g = (np.asarray(body["thigh"])[..., 0] + np.asarray(body["shank"])[..., 0]) / np.maximum(legs_old, 1e-6)
    new_pelvis = pelvis.copy()
    start = pelvis[..., :1, :]
    new_pelvis[..., [0, 2]] = (start + (pelvis - start) * size(g))[..., [0, 2]]
    new_pelvis[..., 1] = pelvis[..., 1] * np.asarray(g)[..., None]
    neck_old = j[..., [_J("left_shoulder"), _J("right_shoulder")], :].mean(-2)
    neck = new_pelvis + unit(neck_old - pelvis) * size(body["torso"])
    for s, side in enumerate(("left", "right")):
        d = lambda a, b: unit(j[..., _J(f"{side}_{b}"), :] - j[..., _J(f"{side}_{a}"), :])
        hip = new_pelvis + unit(j[..., _J(f"{side}_hip"), :] - pelvis) * size(body["hip_width"]) / 2
        knee = hip + d("hip", "knee") * side_len("thigh", s)
        ankle = knee + d("knee", "ankle") * side_len("shank", s)
        sh = neck + unit(j[..., _J(f"{side}_shoulder"), :] - neck_old) * size(body["shoulder_width"]) / 2
        elbow = sh + d("shoulder", "elbow") * side_len("upper_arm", s)
        wrist = elbow + d("elbow", "wrist") * side_len("forearm", s)
        for name, v in (("hip", hip), ("knee", knee), ("ankle", ankle), ("shoulder", sh),
                        ("elbow", elbow), ("wrist", wrist)):
            out[..., _J(f"{side}_{name}"), :] = v
    return out.astype(joints.dtype)


@dataclass(frozen=True)
class MotionAugment:
    """How clips are turned into video-like windows."""
    fps: tuple[float, float] = (20.0, 60.0)        # video frame rate, log-uniform
    speed: tuple[float, float] = (0.5, 1.5)        # playback speed of the motion, log-uniform
    mirror: bool = True                            # flip left/right half of the time
    reshape: bool = True                           # a random `BodyShape` per window
    edge_hold: float = 0.2                         # share of a window that may hold a clip's end pose
    tumble: float = 0.4                            # share of windows with the body in a random 3D
    # orientation about its hip mid-point (root path kept): lying, crawling, upside down, as in
    # rolls, flips and get-ups, which upright motion capture alone never shows
    spin: float = 0.5                              # share of those whose orientation turns during
    spin_rate: tuple[float, float] = (0.2, 1.5)    # the window, about a random axis, at this many
    # turns per second (log-uniform): a back flip or a cartwheel turns about once in 0.7-1 s


@dataclass(frozen=True)
class NoiseModel:
    """Detector noise, all sizes as fractions of the torso length (hip to shoulder mid-points).

    jitter: s.d. of white per-joint, per-frame noise, log-uniform per window in the range.
    drift / drift_time: s.d. and time constant (s) of a per-joint AR(1) error, log-uniform.
    bias: s.d. of a per-joint offset constant over the window (where a detector puts a joint on a
    given body and view). distal_factor: wrists and ankles err this much more. depth_factor:
    world space, camera axis. outlier_rate / outlier_scale: per joint and frame, an extra Gaussian
    offset. swap_rate: per frame, the whole body mirrored (left and right labels exchanged), in
    mirror-prone windows only: a `swap_window_share` of the windows has swap_rate /
    swap_window_share, the others none (mirrors come with the view). leg_swap_rate: per frame,
    only the knees' and ankles' labels exchanged (legs crossing in the image). miss_rate: per
    frame, no detection (a keyframe miss is filled from its neighbours, as the pipeline does).
    rigid: the share of the jitter, drift and bias that turns bones instead of moving joints on
    their own (`rigid_noise`: each bone of the noisy pose keeps its direction and gets its true
    length back along the chain); a detector that has learnt bodies errs in a body's angles more
    than in its proportions.
    World poses are re-centred on their own hip mid-point after corruption, as a detector's
    hip-centred world landmarks are.

    `MEDIAPIPE` holds the models fitted to MediaPipe's errors against a multi-view reference
    (docs/noise_model.md, `python -m pipeline.training.noise_fit`), one per space.
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
    swap_window_share: float = 1.0
    rigid: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    def corrupt(self, clean: np.ndarray, rng: np.random.Generator, space: str,
                frame_dt: float = 1 / 30, level: np.ndarray | float = 1.0) -> np.ndarray:
        """(N, T, J, D) clean poses sampled every `frame_dt` seconds ((N,) or scalar) -> noisy poses
        (no misses).

        `level` (N,) or scalar: how noisy each window's detector is, as a multiple of this model
        (0: clean; 2: twice the jitter, drift and bias, twice the outlier and swap rates)."""
        n, t, j, d = clean.shape
        level = np.broadcast_to(np.asarray(level, float), (n,))
        torso = torso_length(clean, BODY12).mean(axis=1)[:, None, None, None]       # (N,1,1,1)
        logu = lambda r: np.exp(rng.uniform(*np.log(r), size=(n, 1, 1, 1)))
        scale = np.ones((1, 1, j, d))
        scale[:, :, DISTAL] *= self.distal_factor
        if space == "world":
            scale[..., 2] *= self.depth_factor
        dt = np.broadcast_to(np.asarray(frame_dt, float), (n,))[:, None, None, None]
        rho = np.exp(-dt / logu(self.drift_time))[:, 0]                              # (N,1,1)
        drift = np.empty(clean.shape)
        drift[:, 0] = rng.standard_normal((n, j, d))
        for i in range(1, t):
            drift[:, i] = rho * drift[:, i - 1] + np.sqrt(1 - rho ** 2) * rng.standard_normal((n, j, d))
        noise = rng.standard_normal(clean.shape) * logu(self.jitter) + drift * logu(self.drift)
        noise += rng.standard_normal((n, 1, j, d)) * self.bias
        noisy = clean + noise * scale * torso * level[:, None, None, None]
        if self.rigid:
            noisy += self.rigid * (rigid_noise(clean, noisy) - noisy)
        rate = lambda r: np.minimum(r * level, 0.5)
        outliers = rng.random((n, t, j, 1)) < rate(self.outlier_rate)[:, None, None, None]
        noisy += outliers * rng.standard_normal(clean.shape) * self.outlier_scale * torso
        prone = rng.random(n) < self.swap_window_share
        swaps = rng.random((n, t)) < (prone * rate(self.swap_rate / self.swap_window_share))[:, None]
        noisy[swaps] = noisy[swaps][:, BODY12.mirror]
        legs = rng.random((n, t)) < rate(self.leg_swap_rate)[:, None]
        noisy[legs] = noisy[legs][:, LEG_SWAP]
        if space == "world":
            noisy -= root_of(noisy, BODY12)[..., None, :]
        return noisy.astype(clean.dtype)

    def misses(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Boolean mask of missed detections, e.g. shape (N, Q+1)."""
        return rng.random(shape) < self.miss_rate


# Fitted to MediaPipe Pose (static mode) against the multi-view reference of pose2sim_single,
# docs/noise_model.md. The data pins no miss rate (none in 400 frames of a large, clear person):
# 5 % is kept so that refiners learn to bridge filled keyframes.
MEDIAPIPE = {
    "image": NoiseModel(jitter=(0.0027, 0.0218), drift=(0.0228, 0.0423), drift_time=(0.135, 0.4356),
                        distal_factor=1.084, depth_factor=2.7, outlier_rate=0.0257, outlier_scale=0.3527,
                        swap_rate=0.0716, miss_rate=0.05, bias=0.0128, leg_swap_rate=0.0193,
                        swap_window_share=0.25),
    "world": NoiseModel(jitter=(0.002, 0.0071), drift=(0.0351, 0.0555), drift_time=(0.2001, 0.3654),
                        distal_factor=1.3535, depth_factor=2.6789, outlier_rate=0.0152, outlier_scale=0.427,
                        swap_rate=0.065, miss_rate=0.05, bias=0.0337, leg_swap_rate=0.025,
                        swap_window_share=0.25),
}


def rigid_noise(clean: np.ndarray, noisy: np.ndarray) -> np.ndarray:
    """(..., 12, D) clean and noisy poses -> the noisy pose with every bone of `CHAIN` given its
    clean length back, in its noisy direction, from the left hip outwards (which keeps the joints'
    angular errors and removes the change in proportions)."""
    out = noisy.copy()
    for p, c in CHAIN:
        bone = noisy[..., c, :] - noisy[..., p, :]
        length = np.linalg.norm(clean[..., c, :] - clean[..., p, :], axis=-1, keepdims=True)
        out[..., c, :] = out[..., p, :] + bone * length / np.maximum(np.linalg.norm(bone, axis=-1, keepdims=True), 1e-9)
    return out


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
    aim = np.tan(np.deg2rad(rng.uniform(-cam.aim_deg, cam.aim_deg, 2))) * dist
    side = np.array([np.cos(yaw), 0.0, -np.sin(yaw)])               # horizontal, across the view
    target = centre + np.array([0.0, rng.uniform(-0.3, 0.3) + aim[1], 0.0]) + aim[0] * side
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


def mirror_world(joints: np.ndarray) -> np.ndarray:
    """(..., 12, 3): reflect through the world's x = 0 plane and swap left/right labels: a real
    mirrored motion."""
    out = joints[..., BODY12.mirror, :].copy()
    out[..., 0] *= -1
    return out


class WindowSampler:
    """Draws clean windows (N, T, 12, D) from clips, weighted by duration (capped at 10 s per clip),
    each with its own body, frame rate, speed, mirroring and camera."""

    def __init__(self, clips: list[MotionClip], frames: int, space: str,
                 augment: MotionAugment = MotionAugment(), camera: CameraRange = CameraRange(),
                 body: BodyShape = BodyShape()):
        if space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}")
        if not clips:
            raise ValueError("no motion clips to sample from")
        self.clips, self.frames, self.space = clips, frames, space
        self.augment, self.camera, self.body = augment, camera, body
        w = np.array([min(c.seconds, 10.0) + 0.5 for c in clips])
        self.p = w / w.sum()

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """-> clean windows (N, T, 12, D), measured joints (N, 12) bool, frame interval (N,) s."""
        out = np.empty((n, self.frames, len(BODY12), 2 if self.space == "image" else 3), np.float32)
        measured = np.empty((n, len(BODY12)), bool)
        frame_dt = np.empty(n)
        a = self.augment
        logu = lambda r: np.exp(rng.uniform(*np.log(r), size=n))
        frame_dt = 1 / logu(a.fps)
        dt = logu(a.speed) * frame_dt                           # seconds of motion per frame
        joints = np.empty((n, self.frames, len(BODY12), 3), np.float32)
        for i, c in enumerate(rng.choice(len(self.clips), size=n, p=self.p)):
            clip = self.clips[c]
            span = (self.frames - 1) * dt[i]
            lo = -a.edge_hold * span
            hi = max(clip.seconds - (1 - a.edge_hold) * span, lo)
            joints[i] = resample(clip, rng.uniform(lo, hi) + dt[i] * np.arange(self.frames))
            measured[i] = clip.measured
        if a.reshape:
            joints = reshape_body(joints, self.body.sample(rng, n))
        if a.mirror:
            flip = rng.random(n) < 0.5
            joints[flip] = mirror_world(joints[flip])
            measured[flip] = measured[flip][:, BODY12.mirror]
        tumble = np.flatnonzero(rng.random(n) < a.tumble)
        if len(tumble):
            joints[tumble] = tumble_body(joints[tumble], spin_rotations(
                len(tumble), np.arange(self.frames)[:, None] * frame_dt[tumble],
                a, rng))
        for i in range(n):
            view = random_view(root_of(joints[i], BODY12), rng, self.camera)
            out[i] = to_space(joints[i], view, self.space)
        return out, measured, frame_dt


def spin_rotations(n: int, seconds: np.ndarray, augment: MotionAugment,
                   rng: np.random.Generator) -> np.ndarray:
    """(T, N) video time of each frame (s) -> (N, T, 3, 3): a random orientation per window, which
    for a `spin` share of them turns about a random axis at a steady random rate."""
    start = Rotation.random(n, rng)
    rate = np.exp(rng.uniform(*np.log(augment.spin_rate), size=n)) * (rng.random(n) < augment.spin)
    axis = Rotation.random(n, rng).apply([1.0, 0.0, 0.0])                          # (N, 3) unit
    angle = 2 * np.pi * rate * seconds                                              # (T, N)
    turn = Rotation.from_rotvec((angle[..., None] * axis).reshape(-1, 3))          # (T*N,)
    t = seconds.shape[0]
    return (turn * Rotation.concatenate([start] * t)).as_matrix().reshape(t, n, 3, 3).swapaxes(0, 1)


def tumble_body(joints: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """(N, T, J, 3) world joints, (N, 3, 3) or (N, T, 3, 3) rotations -> each window's body rotated
    about its hip mid-point, frame by frame (the root path is kept, the posture turned)."""
    root = root_of(joints, BODY12)[..., None, :]                     # (N, T, 1, 3)
    if rot.ndim == 3:
        rot = np.broadcast_to(rot[:, None], (len(rot), joints.shape[1], 3, 3))
    return (root + np.einsum("ntij,ntkj->ntki", rot, joints - root)).astype(joints.dtype)


def corrupt_keyframes(clean: np.ndarray, k: int, noise: NoiseModel, rng: np.random.Generator,
                      space: str, frame_dt: np.ndarray | float = 1 / 30,
                      level: np.ndarray | float = 1.0) -> np.ndarray:
    """(N, T, J, D) clean windows -> (N, Q+1, J, D) noisy keyframes with misses filled.
    `frame_dt` (N,) or scalar: seconds between video frames; `level`: see `NoiseModel.corrupt`."""
    kf = clean[:, ::k]
    levels = np.broadcast_to(np.asarray(level, float), (len(kf),))
    noisy = noise.corrupt(kf, rng, space, frame_dt=k * np.asarray(frame_dt, float), level=levels)
    missed = noise.misses(kf.shape[:2], rng) & (levels > 0)[:, None]
    return fill_missed(noisy, missed)
