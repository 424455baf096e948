"""What mmpose 1.3.2 needs to import and build its top-down models on a CPU-only install.

The optional install (requirements-mmpose.txt) is mmengine + mmcv-lite (no compiled ops) +
mmpose + mmdet, without torchvision (its PyPI build does not load beside the CPU build of torch).
Three things then stand in the way, each shimmed here and nowhere else:

1. `mmcv.ops`: mmcv-lite ships the Python side of mmcv's compiled operators but not the
   extension (`mmcv._ext`), and mmpose imports `mmcv.ops` at import time for heads that top-down
   pose models never use (ED-Pose's deformable attention, DEKR's deformable convolutions). A stub
   module stands in for it, only where the extension is missing; any of its names fails with a
   clear message if a model really builds it.
2. `mmpose.visualization.simcc_vis` imports `torchvision.transforms` for a training-time
   visualiser; a stub module with the same class name replaces that one module (no fake
   torchvision is made visible to other libraries).
3. RTMPose configs build their backbone from mmdet's registry (`_scope_='mmdet'`, type
   `CSPNeXt`), which would import all of mmdet and its own dependencies (pycocotools, shapely,
   ...). mmpose ships an identical CSPNeXt (same arguments, same parameter names, so the
   released checkpoints load into it): `use_mmpose_cspnext` drops the scope so mmpose's is built.

`install()` applies 1 and 2 (idempotent; call it before importing mmpose); `prepare_config`
applies 3 and the other changes for inference on a config.
"""
from __future__ import annotations

import sys
import types
from importlib.util import find_spec


def _unavailable(module: str, name: str, why: str) -> type:
    """A class standing in for `module.name` that says why it cannot be used."""
    def fail(*args, **kwargs):
        raise RuntimeError(f"{module}.{name} is not available: {why}")
    return type(name, (), {"__init__": fail, "__call__": fail, "__module__": module})


def _stub_module(fullname: str, why: str, names: tuple[str, ...] = ()) -> types.ModuleType:
    mod = types.ModuleType(fullname, f"Stub (pipeline.estimators.mmpose_shims): {why}")
    for n in names:
        setattr(mod, n, _unavailable(fullname, n, why))

    def __getattr__(n: str) -> type:             # `from mmcv.ops import AnyName`
        if n.startswith("__"):
            raise AttributeError(n)
        return _unavailable(fullname, n, why)

    mod.__getattr__ = __getattr__
    mod.__path__ = []            # a package: `from mmcv.ops.x import y` fails cleanly, not oddly
    return mod


def install() -> None:
    """Stub `mmcv.ops` (where mmcv's compiled extension is missing) and mmpose's SimCC
    visualiser (where torchvision is missing). Idempotent."""
    if "mmcv.ops" not in sys.modules and find_spec("mmcv") is not None and find_spec("mmcv._ext") is None:
        import mmcv
        mmcv.ops = sys.modules["mmcv.ops"] = _stub_module(
            "mmcv.ops", "mmcv-lite has no compiled operators (install the full mmcv for models "
                        "that need deformable convolutions or attention)")
    if "mmpose.visualization.simcc_vis" not in sys.modules and find_spec("torchvision") is None:
        sys.modules["mmpose.visualization.simcc_vis"] = _stub_module(
            "mmpose.visualization.simcc_vis", "it needs torchvision, which is not installed",
            ("SimCCVisualizer",))


def use_mmpose_cspnext(model_cfg) -> None:
    """In place: every `CSPNeXt` module scoped to mmdet is built from mmpose's identical copy."""
    def walk(node) -> None:
        if isinstance(node, dict):
            if node.get("_scope_") == "mmdet" and node.get("type") == "CSPNeXt":
                del node["_scope_"]
            for v in node.values():
                walk(v)
        elif isinstance(node, (list, tuple)):
            for v in node:
                walk(v)
    walk(model_cfg)


def prepare_config(cfg) -> None:
    """In place, on an mmengine Config for inference: mmpose's CSPNeXt, no pretrained download
    for the backbone (the checkpoint holds all the weights), no training settings."""
    use_mmpose_cspnext(cfg.model)
    if "init_cfg" in cfg.model.get("backbone", {}):
        cfg.model.backbone.init_cfg = None
    cfg.model.train_cfg = None
