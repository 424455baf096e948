"""mmpose top-down models (RTMPose, HRNet, ViTPose, ...) as the heavy keyframe estimator.

The user brings a config (a path, or the name or alias of a model in mmpose's model index, e.g.
`rtmpose-l`, whose config ships inside the mmpose wheel) and its checkpoint (no download is made).

Person box per keyframe: MediaPipe's pose detector (`person_box.PersonDetector`), run on every
keyframe. Not the previous pose's box: keyframes are K frames apart (a third of a second at K=10
and 30 fps), long enough for a walking person to leave last keyframe's box; and a box taken
from the model's own last pose feeds any mistake back into the next crop, with nothing to
recover from it (or to find the person again after a miss). The detector runs offline (its model
ships in the mediapipe wheel) and costs 0.86 GFLOPs a call: about as much as RTMPose-t
(0.71), a tenth or less of the heavy models this backend is for (RTMPose-l, HRNet-w32); its
FLOPs are included in the estimator's. One person, as with MediaPipe: the one
the detector is surest of.

Joints: the model's first 17 keypoints, which must be COCO's (COCO, AIC-COCO, body8, Halpe-26
and COCO-WholeBody models all start with them); the CSV's columns are then COCO-17's
(`nose`, `left_eye`, ..., `right_ankle`), and the refiner's 12 body joints (shoulders, elbows,
wrists, hips, knees, ankles) are taken from them by name. Image joints only (2D): there are no
world columns. Confidence: the model's keypoint score, clipped to [0, 1].
"""
from __future__ import annotations

import logging
import os
import warnings
from contextlib import contextmanager
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from ..skeleton import COCO17
from .base import PoseEstimate

INSTALL_HINT = "pip install -r requirements-mmpose.txt, then pip install --no-deps -r requirements-mmpose-nodeps.txt"


def available() -> bool:
    """mmpose and what it needs are installed (the optional requirements-mmpose*.txt)."""
    return all(find_spec(m) is not None for m in ("mmpose", "mmengine", "mmcv"))


def require() -> None:
    if not available():
        raise ValueError(f"the mmpose estimator is not installed ({INSTALL_HINT})")


@contextmanager
def _quiet():
    """mmpose, mmengine and mmcv warn at import and on every call about things that do not
    concern inference (deprecated pkg_resources, CUDA autocast, missing compiled ops)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _import():
    from . import mmpose_shims
    require()
    mmpose_shims.install()
    with _quiet():
        import mmpose.apis  # noqa: F401  (registers mmpose's modules)
        from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.ERROR)   # deprecation notes on every load


def _model_index() -> list[dict]:
    from mmengine.infer import BaseInferencer
    root = BaseInferencer._get_repo_or_mim_dir("mmpose")
    return [{**m, "Config": os.path.join(root, m["Config"])}
            for m in BaseInferencer._get_models_from_metafile(root)]


def resolve_config(spec: str | Path) -> Path:
    """A config file, or the config of an mmpose model named by its name or alias (the configs
    ship inside the mmpose wheel). ValueError with the reason otherwise."""
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    if path.exists():
        raise ValueError(f"pose config {spec}: not a file")
    if path.suffix != ".py" and os.sep not in str(spec):
        _import()
        name = str(spec).lower()
        index = _model_index()
        for m in index:              # aliases first ("rtmpose-l"), then full names
            aliases = m.get("Alias", [])
            if name in [a.lower() for a in ([aliases] if isinstance(aliases, str) else aliases)]:
                return Path(m["Config"])
        for m in index:
            if m["Name"].lower() == name and Path(m["Config"]).stem.lower() == name:
                return Path(m["Config"])
        raise ValueError(f"pose config {spec}: no such file, nor an mmpose model name or alias "
                         f"(e.g. rtmpose-l, human, vitpose-b, or a config such as "
                         f"td-hm_hrnet-w32_8xb64-210e_coco-256x192)")
    raise ValueError(f"pose config {spec}: no such file")


def check_checkpoint(path: str | Path | None) -> Path:
    if path is None or str(path) == "":
        raise ValueError("the mmpose estimator needs a checkpoint (--pose-checkpoint): download "
                         "the one of your config from mmpose's model zoo")
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"pose checkpoint {path}: " + ("not a file" if path.exists() else "no such file"))
    return path


def load_config(spec: str | Path):
    """The mmengine Config of `spec`, prepared for inference with the shims."""
    from . import mmpose_shims
    path = resolve_config(spec)
    _import()
    from mmengine.config import Config
    try:
        with _quiet():
            cfg = Config.fromfile(str(path))
    except Exception as e:
        raise ValueError(f"pose config {path}: cannot be read: {e}") from e
    if cfg.get("model", {}).get("type") != "TopdownPoseEstimator":
        raise ValueError(f"pose config {path}: not a top-down pose model "
                         f"({cfg.get('model', {}).get('type')}); only top-down 2D models are supported")
    mmpose_shims.prepare_config(cfg)
    return cfg


def build_model(spec: str | Path, checkpoint: str | Path | None = None):
    """The model of config `spec` on the CPU, in eval mode, with `checkpoint`'s weights (all of
    them: a checkpoint for another model is refused) or random ones (None)."""
    cfg = load_config(spec)
    from mmpose.apis import init_model
    try:
        with _quiet():
            model = init_model(cfg, None, device="cpu")
    except Exception as e:
        raise ValueError(f"pose config {spec}: the model cannot be built: {e}") from e
    if checkpoint is not None:
        path = check_checkpoint(checkpoint)
        ckpt = read_checkpoint(path)
        state = ckpt.get("state_dict", ckpt)
        state = {k.removeprefix("module."): v for k, v in state.items()}
        try:
            model.load_state_dict(state, strict=True)
        except Exception as e:
            lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
            first = next((ln for ln in lines[1:] if "mismatch" in ln or "key" in ln.lower()),
                         lines[0] if lines else type(e).__name__).rstrip(".")
            missing = [k for k in model.state_dict() if k not in state]
            raise ValueError(f"pose checkpoint {path}: does not fit {Path(str(spec)).name}: "
                             + (f"{len(missing)} of its weights are missing (e.g. {missing[0]})"
                                if missing else first)) from e
        meta = ckpt.get("meta") or {}
        if isinstance(meta, dict) and "dataset_meta" in meta:
            model.dataset_meta = meta["dataset_meta"]
    names = [model.dataset_meta["keypoint_id2name"][i]
             for i in range(min(17, model.dataset_meta.get("num_keypoints", 0)))]
    if tuple(names) != COCO17.joints:
        raise ValueError(f"pose config {spec}: its keypoints do not start with COCO's 17 "
                         f"({', '.join(names[:5])}, ...)")
    return model.eval()


def read_checkpoint(path: Path) -> dict:
    """An mmengine / mmpose checkpoint, read without running code from it (torch's weights-only
    loader; the numpy arrays mmpose keeps in its metadata are allowed, nothing else)."""
    import torch
    allowed = [np.core.multiarray._reconstruct, np.core.multiarray.scalar, np.ndarray, np.dtype]
    allowed += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    try:
        with torch.serialization.safe_globals(allowed):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"pose checkpoint {path}: not a readable PyTorch checkpoint of weights "
                         f"({type(e).__name__})") from e
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict", ckpt), dict):
        raise ValueError(f"pose checkpoint {path}: holds no state_dict")
    return ckpt


def input_size(model_or_cfg) -> tuple[int, int]:
    """The model's input (width, height) in pixels."""
    cfg = getattr(model_or_cfg, "cfg", model_or_cfg)
    if "codec" in cfg and "input_size" in cfg.codec:
        return tuple(cfg.codec["input_size"])
    for step in cfg.test_dataloader.dataset.pipeline:
        if step.get("type") == "TopdownAffine":
            return tuple(step["input_size"])
    raise ValueError("the config gives no input size")


def count_flops(model) -> int:
    """FLOPs of one forward pass (batch 1) at the model's input size, counted by torch's
    FlopCounterMode (a multiply-add is 2 FLOPs; matrix products and convolutions)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    w, h = input_size(model)
    with torch.no_grad(), _quiet(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, h, w), None, mode="tensor")
    return int(counter.get_total_flops())


@lru_cache(maxsize=16)
def _config_flops(path: str, mtime: float) -> int:
    import torch
    threads = torch.get_num_threads()
    try:
        return count_flops(build_model(path))
    finally:
        torch.set_num_threads(threads)


def config_flops(spec: str | Path) -> int:
    """FLOPs of one model call for config `spec`, without its checkpoint (they do not depend on
    the weights' values); counted once per config file."""
    path = resolve_config(spec)
    return _config_flops(str(path.resolve()), path.stat().st_mtime)


class MMPosePose:
    """An mmpose top-down model on the person box of MediaPipe's detector (module docstring)."""
    name = "mmpose"
    skeleton = COCO17
    has_world = False

    def __init__(self, config: str | Path, checkpoint: str | Path, static: bool = True):
        """`static` is accepted for the protocol's sake: a top-down model has no tracking mode."""
        from .person_box import PersonDetector
        self.config = resolve_config(config)
        self.model = build_model(self.config, check_checkpoint(checkpoint))
        self._model_flops = count_flops(self.model)
        self.detector = PersonDetector()

    def estimate(self, frame_bgr: np.ndarray) -> PoseEstimate | None:
        from mmpose.apis import inference_topdown
        box = self.detector.box(frame_bgr)
        if box is None:
            return None
        with _quiet():
            result = inference_topdown(self.model, frame_bgr, box[None], bbox_format="xyxy")[0]
        pred = result.pred_instances
        image = np.asarray(pred.keypoints[0, :17], np.float32)
        conf = np.clip(np.asarray(pred.keypoint_scores[0, :17], np.float32), 0.0, 1.0)
        return PoseEstimate(image, conf, None)

    def flops_per_call(self) -> float:
        from .person_box import PersonDetector
        return float(self._model_flops + PersonDetector.flops())

    @staticmethod
    def flops(static: bool, config: str | Path | None = None) -> float:
        """FLOPs of one call for `config` (model + person detector), counted on a randomly
        initialised model: no checkpoint is needed."""
        from .person_box import PersonDetector
        if config is None:
            raise ValueError("the mmpose estimator needs a config (--pose-config)")
        return float(config_flops(config) + PersonDetector.flops())

    def close(self) -> None:
        self.detector.close()
