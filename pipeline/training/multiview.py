"""A triangulated multi-view reference for real video: calibrated cameras, cached MediaPipe runs,
robust triangulation with left/right swap hypotheses, and leave-one-view-out (LOO) references.

The shared scene `../shared/data/video/pose2sim_single` holds 4 synchronised, calibrated views of
one man (Qualisys calibration `Calib.qca.txt`). No view has hand labels, so the reference for view
v is triangulated from the *other* views' MediaPipe detections and reprojected into v: it is
independent of v's own detector errors (only the calibration and the other views' errors remain,
which `reference_floor` measures).

    from pipeline.training import multiview as mv
    scene = mv.load_scene()                      # cameras (principal points refined) + detections
    ref = mv.loo_reference(scene, 1)             # view 1 (cam02) seen from cams 1, 3, 4
    ref.image (T, 12, 2) px, ref.valid (T,), ref.world (T, 12, 3) m

Conventions. World frame: the calibration's, converted to metres. Cameras: OpenCV axes (x right,
y down, z forward); `Camera.R` (3, 3) and `Camera.t` (3,) map world metres to camera metres,
x_cam = R @ x_world + t. Image joints are in pixels of the video as decoded (portrait frames, used
as they are). Joints are BODY12 (pipeline.skeleton), MediaPipe indices BODY12_FROM_MP33.
"""
from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..atomic import atomic_write
from ..paths import REPO_ROOT, VIDEO_DIR
from ..skeleton import BODY12, BODY12_FROM_MP33, root_of

SCENE_DIR = VIDEO_DIR / "pose2sim_single"
DEFAULT_CACHE = REPO_ROOT / "runs" / "multiview_cache"
MODES = ("static", "tracking")
B12 = np.array(BODY12_FROM_MP33)


# --- cameras ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Camera:
    """A calibrated pinhole camera with OpenCV's distortion model.

    K (3, 3) intrinsics in pixels; R (3, 3) and t (3,) world -> camera (metres, OpenCV axes);
    dist (5,) k1 k2 p1 p2 k3; size (W, H) pixels."""
    name: str
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    dist: np.ndarray
    size: tuple[int, int]

    @property
    def centre(self) -> np.ndarray:
        """(3,) optical centre in world metres."""
        return -self.R.T @ self.t

    def to_camera(self, x: np.ndarray) -> np.ndarray:
        """(..., 3) world metres -> (..., 3) camera metres (x right, y down, z forward)."""
        return x @ self.R.T + self.t

    def project(self, x: np.ndarray, distort: bool = True) -> np.ndarray:
        """(..., 3) world metres -> (..., 2) pixels (NaN stays NaN)."""
        c = self.to_camera(x)
        xy = c[..., :2] / c[..., 2:]
        if distort:
            k1, k2, p1, p2, k3 = self.dist
            u, v = xy[..., 0], xy[..., 1]
            r2 = u * u + v * v
            radial = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
            xy = np.stack([u * radial + 2 * p1 * u * v + p2 * (r2 + 2 * u * u),
                           v * radial + p1 * (r2 + 2 * v * v) + 2 * p2 * u * v], axis=-1)
        return xy @ self.K[:2, :2].T + self.K[:2, 2]

    def undistort(self, px: np.ndarray) -> np.ndarray:
        """(..., 2) pixels -> (..., 2) normalised image coordinates (x/z, y/z), distortion removed."""
        import cv2
        flat = np.asarray(px, np.float64).reshape(-1, 1, 2)
        ok = np.isfinite(flat).all(-1)[:, 0]
        out = np.full(flat.shape, np.nan)
        if ok.any():
            out[ok] = cv2.undistortPoints(flat[ok], self.K, self.dist)
        return out.reshape(np.shape(px))

    def with_principal_point(self, c: np.ndarray) -> "Camera":
        k = self.K.copy()
        k[:2, 2] = c
        return replace(self, K=k)


def read_qualisys(path: str | Path) -> list[Camera]:
    """Cameras of a Qualisys `.qca.txt` calibration (XML), in file order.

    Convention (the only one of 144 tried that reprojects MediaPipe's detections consistently,
    shared/data/README.md): rows r11..r33 are the world->camera rotation of a camera looking along
    -z with y up, so R = diag(1, -1, -1) [r_ij]; t = -R (x, y, z) with the centre in mm;
    f = focalLength / 64 and c = centerPoint / 64 (1/64-pixel sensor units, fov origin 0)."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        raise ValueError(f"{path}: not a readable Qualisys calibration ({e})") from None
    cams = []
    for el in root.iter("camera"):
        tr, it = el.find("transform"), el.find("intrinsic")
        if tr is None or it is None:
            raise ValueError(f"{path}: camera {el.get('serial')!r} lacks transform or intrinsic")
        g = lambda e, k: float(e.get(k))
        rot = np.array([[g(tr, f"r{i}{j}") for j in (1, 2, 3)] for i in (1, 2, 3)])
        R = np.diag([1.0, -1.0, -1.0]) @ rot
        centre = np.array([g(tr, k) for k in "xyz"]) / 1000.0
        K = np.array([[g(it, "focalLengthU") / 64, 0, g(it, "centerPointU") / 64],
                      [0, g(it, "focalLengthV") / 64, g(it, "centerPointV") / 64], [0, 0, 1]])
        dist = np.array([g(it, "radialDistortion1"), g(it, "radialDistortion2"),
                         g(it, "tangentalDistortion1"), g(it, "tangentalDistortion2"),
                         g(it, "radialDistortion3")])
        size = (round(g(it, "sensorMaxU") / 64) + 1, round(g(it, "sensorMaxV") / 64) + 1)
        cams.append(Camera(el.get("serial", f"cam{len(cams) + 1:02d}"), K, R, -R @ centre, dist, size))
    if not cams:
        raise ValueError(f"{path}: no cameras in the calibration")
    return cams


# --- MediaPipe on every frame, cached ----------------------------------------------------------

@dataclass
class Detections:
    """MediaPipe on every frame of one video. image (T, 33, 2) px, conf (T, 33) visibility,
    world (T, 33, 3) m (MediaPipe's world landmarks: hip-centred, x right, y down, z away from the
    camera); NaN where nothing was found; found (T,) bool; fps of the video."""
    image: np.ndarray
    conf: np.ndarray
    world: np.ndarray
    found: np.ndarray
    fps: float

    def body12(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(image (T, 12, 2), conf (T, 12), world (T, 12, 3)) for the BODY12 joints."""
        return self.image[:, B12], self.conf[:, B12], self.world[:, B12]


def _video_key(path: Path) -> str:
    data = path.read_bytes()
    return f"{hashlib.sha256(data).hexdigest()[:16]}_{len(data)}"


def detect_video(path: str | Path, mode: str = "static", cache_dir: str | Path | None = DEFAULT_CACHE,
                 estimator_factory: Callable | None = None) -> Detections:
    """MediaPipe on every frame of `path` in `mode` ("static": each frame on its own, as the
    pipeline runs keyframes; "tracking": landmarks tracked from the previous frame, smoothed).

    Results are cached in `cache_dir` (None: no cache) under the video's sha256 and size, the mode
    and the MediaPipe version, so a changed video or library is detected again."""
    if mode not in MODES:
        raise ValueError(f"unknown MediaPipe mode {mode!r}; choose from {MODES}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such video")
    cache = None
    if cache_dir is not None:
        import mediapipe
        cache = Path(cache_dir) / f"{path.stem}_{_video_key(path)}_{mode}_mp{mediapipe.__version__}.npz"
        if cache.is_file():
            with np.load(cache) as z:
                return Detections(z["image"], z["conf"], z["world"], z["found"], float(z["fps"]))
    from ..estimators import MediaPipePose
    from ..io.sources import VideoSource
    est = (estimator_factory or MediaPipePose)(static=mode == "static")
    image, conf, world = [], [], []
    try:
        with VideoSource(path) as src:
            fps = src.fps
            for f in src.frames():
                r = est.estimate(f.image)
                image.append(r.image if r else np.full((33, 2), np.nan, np.float32))
                conf.append(r.conf if r else np.full(33, np.nan, np.float32))
                world.append(r.world if r else np.full((33, 3), np.nan, np.float32))
    finally:
        est.close()
    det = Detections(np.array(image), np.array(conf), np.array(world),
                     np.isfinite(np.array(image)).all((1, 2)), fps)
    if cache is not None:
        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, image=det.image, conf=det.conf, world=det.world, found=det.found,
                         fps=det.fps)
        atomic_write(cache, write)
    return det


# --- triangulation ----------------------------------------------------------------------------

PAIRS = np.array([(BODY12.index("left_" + n), BODY12.index("right_" + n))
                  for n in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")])   # (6, 2)
PAIR_NAMES = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
ARM_PAIRS, LEG_PAIRS = [0, 1, 2], [3, 4, 5]


def triangulate(cams: list[Camera], points: np.ndarray, weights: np.ndarray,
                iterations: int = 2) -> np.ndarray:
    """Weighted linear (DLT) triangulation of every joint of every frame.

    points (V, ..., 2) pixels in each camera (NaN = not seen); weights (V, ...) >= 0 (0 = not
    used). Each view's two equations are weighted by its weight and, after the first pass, divided
    by the point's depth in that view, so that the algebraic error approximates the error in
    pixels. Returns (..., 3) world metres; NaN where fewer than two views carry weight."""
    v = len(cams)
    xy = np.stack([c.undistort(p) for c, p in zip(cams, points)])          # (V, ..., 2)
    w = np.where(np.isfinite(xy).all(-1), np.asarray(weights, np.float64), 0.0)
    xy = np.nan_to_num(xy)
    P = np.stack([np.hstack([c.R, c.t[:, None]]) for c in cams])           # (V, 3, 4)
    P = P.reshape((v,) + (1,) * (xy.ndim - 2) + (3, 4))                    # (V, 1.., 3, 4)
    rows_x = xy[..., 0, None] * P[..., 2, :] - P[..., 0, :]                # (V, ..., 4)
    rows_y = xy[..., 1, None] * P[..., 2, :] - P[..., 1, :]
    scale = np.ones_like(w)
    for _ in range(iterations):
        a = np.concatenate([(w * scale)[..., None] * rows_x, (w * scale)[..., None] * rows_y])
        a = np.moveaxis(a, 0, -2)                                          # (..., 2V, 4)
        _, _, vt = np.linalg.svd(a)
        h = vt[..., -1, :]
        x = h[..., :3] / h[..., 3:]
        depth = np.stack([c.to_camera(x)[..., 2] for c in cams])          # (V, ...)
        scale = 1.0 / np.maximum(depth, 0.1)
    x[(w > 0).sum(0) < 2] = np.nan
    return x


def reproject(cams: list[Camera], x: np.ndarray) -> np.ndarray:
    """(..., 3) world metres -> (V, ..., 2) pixels in every camera."""
    return np.stack([c.project(x) for c in cams])


def apply_swaps(points: np.ndarray, swapped: np.ndarray) -> np.ndarray:
    """(..., 12, D) joints with (..., 6) per-pair swap flags -> left and right exchanged where set."""
    out = points.copy()
    for p, (l, r) in enumerate(PAIRS):
        s = swapped[..., p]
        out[s, l], out[s, r] = points[s, r], points[s, l]
    return out


@dataclass
class Triangulation:
    """Robust triangulation of BODY12 joints from several views.

    x (T, 12, 3) world metres (NaN where not triangulated); swapped (V, T, 6) whether each view's
    left/right labels of each pair (PAIR_NAMES) were exchanged to agree with the others;
    used (V, T, 12) which view's detection entered each joint; residual (V, T, 12) reprojection
    error in pixels of each view's (relabelled) detection."""
    x: np.ndarray
    swapped: np.ndarray
    used: np.ndarray
    residual: np.ndarray


def robust_triangulate(cams: list[Camera], points: np.ndarray, conf: np.ndarray,
                       gross_px: float = 40.0, swap_penalty_px: float = 10.0,
                       min_weight: float = 0.05) -> Triangulation:
    """Triangulate (V, T, 12, 2) pixel detections with (V, T, 12) visibilities.

    1. Left/right: per frame and per left/right pair, every combination of per-view swaps (2^V)
       is triangulated; the cost is the sum over views and the pair's two joints of the squared
       reprojection error, truncated at `gross_px`, plus `swap_penalty_px`^2 per swapped view.
       A combination and its complement give the same points with the labels exchanged; the
       one that swaps fewer views wins (ties: the larger summed visibility unswapped).
    2. Gross errors: per joint, while the worst view's reprojection error exceeds `gross_px` and
       more than two views remain, that view is dropped and the joint triangulated again.
    Views are weighted by visibility (at least `min_weight`)."""
    v, t, j, _ = points.shape
    w = np.clip(np.nan_to_num(conf), min_weight, 1.0) * np.isfinite(points).all(-1)
    combos = np.array([[(c >> i) & 1 for i in range(v)] for c in range(2 ** v)], bool)  # (C, V)
    swapped = np.zeros((v, t, 6), bool)
    for p, (l, r) in enumerate(PAIRS):
        # (C, V, T, 2, 2): for each combination, each view's (left, right) points
        pl, pr = points[:, :, l], points[:, :, r]
        wl, wr = w[:, :, l], w[:, :, r]
        s = combos[:, :, None, None]
        a = np.where(s, pr[None], pl[None]); b = np.where(s, pl[None], pr[None])
        wa = np.where(s[..., 0], wr[None], wl[None]); wb = np.where(s[..., 0], wl[None], wr[None])
        pts = np.stack([a, b], axis=3)                                     # (C, V, T, 2, 2)
        ws = np.stack([wa, wb], axis=3)                                    # (C, V, T, 2)
        x = triangulate(cams, np.moveaxis(pts, 1, 0), np.moveaxis(ws, 1, 0))   # (C, T, 2, 3)
        err = np.linalg.norm(reproject(cams, x) - np.moveaxis(pts, 1, 0), axis=-1)  # (V, C, T, 2)
        err = np.minimum(np.nan_to_num(err, nan=gross_px), gross_px)
        cost = (err ** 2).sum((0, 3)) + swap_penalty_px ** 2 * combos.sum(1)[:, None]   # (C, T)
        # a combination and its complement are the same geometry: keep the one swapping fewer
        n_sw = combos.sum(1)
        vis_unswapped = np.einsum("cv,vt->ct", ~combos, wl + wr)
        better = (n_sw[:, None] < v - n_sw[:, None]) | \
            ((2 * n_sw[:, None] == v) & (vis_unswapped > np.einsum("cv,vt->ct", combos, wl + wr)))
        cost = np.where(better, cost, np.inf)
        swapped[:, :, p] = combos[cost.argmin(0)].T
    pts = np.stack([apply_swaps(points[i], swapped[i]) for i in range(v)])
    ws = np.stack([apply_swaps(w[i][..., None], swapped[i])[..., 0] for i in range(v)])
    used = ws > 0
    for _ in range(v - 2):
        x = triangulate(cams, pts, ws * used)
        err = np.linalg.norm(reproject(cams, x) - pts, axis=-1)           # (V, T, 12)
        err = np.where(used, np.nan_to_num(err, nan=np.inf), -np.inf)
        worst = err.argmax(0)
        drop = (err.max(0) > gross_px) & (used.sum(0) > 2)
        if not drop.any():
            break
        used[worst[drop], *np.nonzero(drop)] = False
    x = triangulate(cams, pts, ws * used)
    residual = np.linalg.norm(reproject(cams, x) - pts, axis=-1)
    return Triangulation(x, swapped, used, residual)


def relabel(points: np.ndarray, tri: Triangulation) -> np.ndarray:
    """(V, T, 12, D) per-view detections -> the same with each view's swaps of `tri` undone."""
    return np.stack([apply_swaps(points[i], tri.swapped[i]) for i in range(len(points))])


def refine_principal_points(cams: list[Camera], points: np.ndarray, conf: np.ndarray,
                            frames: np.ndarray | None = None, iterations: int = 10,
                            **robust) -> list[Camera]:
    """Cameras with principal points moved to remove each view's constant reprojection offset.

    points (V, T, 12, 2) px, conf (V, T, 12); `frames` the frame indices fitted (all when None).
    Alternates robust triangulation (all views) and moving each principal point by the median
    offset between its view's detections and the reprojections (joints that entered the
    triangulation only). The offsets common to every view that a shift of the 3D points would also
    explain are left to the triangulation, so the fit converges to one of the equally good
    solutions close to the calibration."""
    frames = np.arange(points.shape[1]) if frames is None else np.asarray(frames)
    pts, cf = points[:, frames], conf[:, frames]
    cams = list(cams)
    for _ in range(iterations):
        tri = robust_triangulate(cams, pts, cf, **robust)
        off = relabel(pts, tri) - reproject(cams, tri.x)                  # (V, T, 12, 2)
        off = np.where(tri.used[..., None], off, np.nan)
        shift = np.nanmedian(off.reshape(len(cams), -1, 2), axis=1)        # (V, 2)
        cams = [c.with_principal_point(c.K[:2, 2] + s) for c, s in zip(cams, shift)]
        if np.abs(shift).max() < 0.05:
            break
    return cams


def median_residual(cams: list[Camera], points: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """(V,) median reprojection error (px) per view of the joints that entered a robust
    triangulation of (V, T, 12, 2) detections."""
    tri = robust_triangulate(cams, points, conf)
    r = np.where(tri.used, tri.residual, np.nan)
    return np.nanmedian(r.reshape(len(cams), -1), axis=1)


# --- the scene and its leave-one-view-out references --------------------------------------------

@dataclass
class Scene:
    """A calibrated multi-view recording with MediaPipe run on every frame of every view.

    cameras: principal points refined (`refine_principal_points` on the static-mode detections of
    all frames); calibration: the cameras as read; static / tracking: one `Detections` per view
    (T frames each, synchronised)."""
    names: list[str]
    cameras: list[Camera]
    calibration: list[Camera]
    static: list[Detections]
    tracking: list[Detections]

    @property
    def n_frames(self) -> int:
        return len(self.static[0].found)

    @property
    def fps(self) -> float:
        return self.static[0].fps

    def detections(self, mode: str) -> list[Detections]:
        if mode not in MODES:
            raise ValueError(f"unknown MediaPipe mode {mode!r}; choose from {MODES}")
        return self.static if mode == "static" else self.tracking

    def body12(self, mode: str = "static") -> tuple[np.ndarray, np.ndarray]:
        """(points (V, T, 12, 2) px, visibility (V, T, 12)) of every view."""
        dets = self.detections(mode)
        return (np.stack([d.image[:, B12] for d in dets]).astype(np.float64),
                np.stack([d.conf[:, B12] for d in dets]).astype(np.float64))


def load_scene(folder: str | Path = SCENE_DIR, cache_dir: str | Path | None = DEFAULT_CACHE,
               refine: bool = True) -> Scene:
    """The 4 views `cam*.mp4` of `folder` with `Calib.qca.txt` (cameras matched by name)."""
    folder = Path(folder)
    calib = read_qualisys(folder / "Calib.qca.txt")
    videos = {p.stem: p for p in sorted(folder.glob("cam*.mp4"))}
    missing = [c.name for c in calib if c.name not in videos]
    if missing:
        raise FileNotFoundError(f"{folder}: no video for camera(s) {', '.join(missing)}")
    static = [detect_video(videos[c.name], "static", cache_dir) for c in calib]
    tracking = [detect_video(videos[c.name], "tracking", cache_dir) for c in calib]
    if len({len(d.found) for d in static + tracking}) != 1:
        raise ValueError(f"{folder}: the views have different numbers of frames")
    scene = Scene([c.name for c in calib], calib, calib, static, tracking)
    if refine:
        pts, conf = scene.body12("static")
        scene.cameras = refine_principal_points(calib, pts, conf)
    return scene


@dataclass
class Reference:
    """Leave-one-view-out reference for one view, triangulated from the other views.

    image (T, 12, 2) pixels in view `view`; valid (T,) frames whose reference is trustworthy (all 12
    joints triangulated from at least two views, median reprojection error in those views at most
    `max_residual_px`); world (T, 12, 3) world metres; residual (T,) that median, px; swapped
    (V-1, T, 6) the other views' left/right swaps that triangulation undid."""
    view: int
    image: np.ndarray
    valid: np.ndarray
    world: np.ndarray
    residual: np.ndarray
    swapped: np.ndarray


def loo_reference(scene: Scene, view: int, mode: str = "static",
                  max_residual_px: float = 20.0) -> Reference:
    """Reference for `view` (0-based) from the other views' `mode` detections (static by default:
    independent per frame, so the reference carries no tracking lag)."""
    others = [i for i in range(len(scene.cameras)) if i != view]
    pts, conf = scene.body12(mode)
    cams = [scene.cameras[i] for i in others]
    tri = robust_triangulate(cams, pts[others], conf[others])
    res = np.nanmedian(np.where(tri.used, tri.residual, np.nan).reshape(len(others), len(tri.x), -1)
                       .transpose(1, 0, 2).reshape(len(tri.x), -1), axis=1)
    valid = np.isfinite(tri.x).all((1, 2)) & (res <= max_residual_px)
    image = scene.cameras[view].project(tri.x)
    return Reference(view, image, valid, tri.x, res, tri.swapped)


def calibration_check(scene: Scene) -> dict[str, np.ndarray]:
    """How much refining the principal points helps, on frames the fit did not see.

    The frames are cut in two halves; principal points are fitted on one (static-mode detections)
    and the residual measured on the other, both ways. Returns (V,) median residuals in px:
    "as read" (the calibration, all frames), "fitted" (on the fitted half) and "held out" (on the
    other half), both averaged over the two ways; "shift" (V, 2) px, the scene's refinement (all
    frames)."""
    points, conf = scene.body12("static")
    cams, t = scene.calibration, points.shape[1]
    halves = (np.arange(t // 2), np.arange(t // 2, t))
    fitted, held = [], []
    for fit, test in (halves, halves[::-1]):
        refined = refine_principal_points(cams, points, conf, fit)
        fitted.append(median_residual(refined, points[:, fit], conf[:, fit]))
        held.append(median_residual(refined, points[:, test], conf[:, test]))
    return {"as read": median_residual(cams, points, conf), "fitted": np.mean(fitted, 0),
            "held out": np.mean(held, 0),
            "shift": np.array([a.K[:2, 2] - b.K[:2, 2] for a, b in zip(scene.cameras, cams)])}


def camera_axes(world: np.ndarray, cam: Camera) -> np.ndarray:
    """(T, 12, 3) world metres -> (T, 12, 3) metres in `cam`'s axes relative to the hip mid-point:
    MediaPipe's world-landmark convention (x right, y down, z away from the camera)."""
    c = cam.to_camera(world)
    return c - root_of(c, BODY12)[..., None, :]


# --- the real-video benchmark -------------------------------------------------------------------

Predict = Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]
"""predict(kf_frames (N_kf,), kf_poses (N_kf, 12, D), found (N_kf,) bool, n_frames) ->
(n_frames, 12, D): poses for every frame from the keyframes (D = 2 pixels or 3 metres; missed
keyframes already filled from their neighbours, `found` says which were detected)."""
Spaces = tuple[Predict | None, Predict | None]
"""A method's (image, world) callables; None for a space it does not predict."""


def _interp(kind: str) -> Predict:
    from ..interpolate import interpolate_keyframes
    return lambda f, kf, found, n: interpolate_keyframes(f, kf, np.arange(n), kind)


def view_benchmark(scene: Scene, view: int, k: int, methods: dict[str, Spaces] | None = None,
                   reference: Reference | None = None,
                   extra: dict[str, Predict] | None = None, start: int = 0) -> dict[str, dict[str, float]]:
    """Scores of every method on one view against its leave-one-view-out reference.

    Keyframes are the static-mode detections at frames start, start+K, start+2K, ... of `view`,
    misses filled from their neighbours (as the pipeline does); a run starts at its first
    keyframe, so the callables see the clip from `start` on (frame indices relative to it) and
    frames before it are not scored; world keyframes are MediaPipe's world landmarks there,
    hip-centred. Methods: `methods` (name: the (image, world) callables, either None for a space
    not scored), "linear" and "cubic" interpolation of the same keyframes, `extra` baselines
    (name: a Predict used for both spaces), and MediaPipe on every frame ("dense static",
    "dense tracking"). Returns {method: {"error (% box)": mean over valid frames and joints of the
    pixel error divided by the reference's box size (max side, per frame), x 100; "MPJPE (mm)"
    and "PA-MPJPE (mm)": world joints, hip-centred, against the 3D reference in the view's camera
    axes; "frames": valid frames scored}}."""
    from .. import metrics
    from ..interpolate import fill_gaps
    ref = reference or loo_reference(scene, view)
    n = scene.n_frames
    kf = np.arange(start, n, k)
    det = scene.static[view]
    found = det.found[kf]
    if not found.any():
        raise ValueError(f"{scene.names[view]}: no person detected on any keyframe (K={k})")
    centre = lambda w: w - root_of(w, BODY12)[..., None, :]
    kf_image = fill_gaps(det.image[kf][:, B12].astype(np.float64), found)
    kf_world = fill_gaps(centre(det.world[kf][:, B12].astype(np.float64)), found)

    def run(predict: Predict | None, poses: np.ndarray) -> np.ndarray | None:
        """The clip from `start` on, NaN before it: (n, 12, D)."""
        if predict is None:
            return None
        out = predict(kf - start, poses, found, n - start)
        return np.concatenate([np.full((start,) + out.shape[1:], np.nan), out])

    both = [(kind, (_interp(kind),) * 2) for kind in ("linear", "cubic")]
    both += [(name, (predict, predict)) for name, predict in (extra or {}).items()]
    poses = {name: (run(image, kf_image), run(world, kf_world))
             for name, (image, world) in list((methods or {}).items()) + both}
    for mode in MODES:
        d = scene.detections(mode)[view]
        poses[f"dense {mode}"] = (d.image[:, B12].astype(np.float64),
                                  centre(d.world[:, B12].astype(np.float64)))
    ok = ref.valid & (np.arange(n) >= start)
    box = np.max(ref.image.max(1) - ref.image.min(1), axis=-1)[ok]
    gt3 = camera_axes(ref.world, scene.cameras[view])[ok]
    out = {}
    for name, (img, wld) in poses.items():
        row = {}
        if img is not None:
            keep = np.isfinite(img[ok]).all((1, 2))      # dense modes: frames with a detection
            err = np.linalg.norm(img[ok] - ref.image[ok], axis=-1).mean(-1) / box
            row["error (% box)"] = 100 * float(err[keep].mean())
        if wld is not None:
            keep = np.isfinite(wld[ok]).all((1, 2))
            p = centre(wld[ok][keep])
            row["MPJPE (mm)"] = 1000 * metrics.mpjpe(p, gt3[keep])
            row["PA-MPJPE (mm)"] = 1000 * metrics.pa_mpjpe(p, gt3[keep])
        row["frames"] = int(ok.sum())
        out[name] = row
    return out


def _pool(tables: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Tables of the same methods -> one, each metric averaged weighted by the frames scored."""
    pooled: dict[str, dict[str, float]] = {}
    for method in tables[0]:
        rows = [t[method] for t in tables]
        total = sum(r["frames"] for r in rows)
        pooled[method] = {key: sum(r[key] * r["frames"] for r in rows) / total
                          for key in rows[0] if key != "frames"}
        pooled[method]["frames"] = total
    return pooled


def video_benchmark(scene: Scene, k: int, methods: dict[str, Spaces] | None = None,
                    extra: dict[str, Predict] | None = None, phases: int = 1) -> dict:
    """`view_benchmark` for every view, plus "pooled" (each metric averaged over views weighted
    by their valid frames). `phases`: each view is run with its first keyframe at frame 0, 1, ...,
    phases - 1 and the runs pooled (with phases = K every frame is a keyframe once: at K = 20 a
    single run holds only five keyframes of a 100-frame view, too few to judge a method by).
    Returns {"views": {camera name: table}, "pooled": table}."""
    views = {}
    for v in range(len(scene.cameras)):
        ref = loo_reference(scene, v)
        views[scene.names[v]] = _pool([view_benchmark(scene, v, k, methods, reference=ref, extra=extra,
                                                      start=start) for start in range(phases)])
    return {"views": views, "pooled": _pool(list(views.values()))}


def benchmark_markdown(result: dict) -> str:
    """One table: a row per method, columns per view and pooled (error % box, MPJPE, PA-MPJPE)."""
    cols = list(result["views"]) + ["pooled"]
    tables = [result["views"][c] for c in cols[:-1]] + [result["pooled"]]
    lines = []
    for metric, fmt in (("error (% box)", "{:.2f}"), ("MPJPE (mm)", "{:.1f}"), ("PA-MPJPE (mm)", "{:.1f}")):
        lines += [f"| {metric} | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
        for method in tables[-1]:
            cells = [fmt.format(t[method][metric]) if metric in t[method] else "–" for t in tables]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
