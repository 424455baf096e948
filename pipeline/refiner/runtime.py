"""Refiner runtime: weights + model card on disk, window normalisation, batched refinement.

Weights are files side by side: `<name>.json` (the model card), `<name>.pt` (torch state dict:
training, evaluation, export) and `<name>.onnx` (the same model for ONNX Runtime, written by
`pipeline.refiner.export`; its sha256, opset and FLOPs are in the card's `export` section).
The card is read first and says which joints, space, K, Q and architecture the weights are for,
so a wrong file is refused with one message naming both sides before anything runs.

At run time the refiner runs on ONNX Runtime (the default): torch is never imported, which
saves seconds of start-up and the per-operator overhead of a 0.14 M-parameter model. Where the
.onnx is missing or differs from its card, it runs on torch, with one warning line.
"""
from __future__ import annotations

import hashlib
import json
import pickle
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..atomic import atomic_write
from ..interpolate import fill_gaps
from .config import ModelConfig
from ..paths import WEIGHTS_DIR
from .normalize import denormalise, normalise, window_stats
from ..skeleton import BODY12, SKELETONS, Skeleton
from .latency import refine_causal
from .windows import gather_windows, interpolation_matrix, merge_windows, window_starts

if TYPE_CHECKING:
    from .model import MixSynthFormer

CARD_FORMAT = "keyframe-pose-refiner/1"


class WeightsError(ValueError):
    """Weights missing, unreadable, or made for other joints / configuration."""


@dataclass
class ModelCard:
    name: str
    space: str                  # "image" (pixels) or "world" (metres, hip-centred)
    skeleton: str               # a name in pipeline.skeleton.SKELETONS
    joints: list[str]
    model: dict                 # ModelConfig fields
    normalisation: str = ("per window: centred on the mean hip mid-point of the keyframes, "
                          "divided by their mean torso length; undone on output")
    training: dict = field(default_factory=dict)
    evaluation: dict = field(default_factory=dict)
    runtime: dict = field(default_factory=dict)     # e.g. {"stride": 1}: how the pipeline runs it
    export: dict = field(default_factory=dict)      # the .onnx: sha256, opset, FLOPs per window
    format: str = CARD_FORMAT

    @property
    def config(self) -> ModelConfig:
        return ModelConfig(**self.model)

    @property
    def dims(self) -> int:
        return 2 if self.space == "image" else 3

    def describe(self) -> str:
        c = self.config
        lat = "" if c.latency == "window" else f", {c.latency} latency"
        return f"{self.name} ({self.space} space, {len(self.joints)} joints, K={c.k}, Q={c.q}{lat})"


def save_weights(path: str | Path, model: "MixSynthFormer", card: ModelCard) -> None:
    """Write `<path>.pt`, `<path>.onnx` and `<path>.json` (each atomically; the card records
    the export). An export that fails its parity check is left out, with a warning."""
    import torch

    from .export import export_model

    path = Path(path).with_suffix("")
    atomic_write(path.with_suffix(".pt"), lambda p: torch.save(model.state_dict(), p))
    try:
        export_model(path, model, card)
    except WeightsError as e:            # never lose trained weights over their export
        card.export = {}
        print(f"warning: {e}; the weights run on torch until exported "
              f"(python -m pipeline.refiner.export {path.with_suffix('.json')})", file=sys.stderr)
    save_card(path, card)


def save_card(path: str | Path, card: ModelCard) -> None:
    atomic_write(Path(path).with_suffix(".json"),
                  lambda p: Path(p).write_text(json.dumps(asdict(card), indent=2) + "\n"))


def load_card(path: str | Path) -> ModelCard:
    given = Path(path)
    if given.is_dir():
        raise WeightsError(f"weights {given} is a folder: name a model's .pt or .json file in it")
    path = given.with_suffix(".json")
    if not path.exists():
        if not given.exists():
            raise WeightsError(f"weights {given} not found (no such file)")
        raise WeightsError(f"model card {path} not found: weights need their card (.json) beside them")
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or data.get("format") != CARD_FORMAT:
            got = data.get("format") if isinstance(data, dict) else None
            raise WeightsError(f"{path} is not a refiner model card ("
                               + (f"format {got!r}, expected {CARD_FORMAT!r})" if got is not None
                                  else f"no \"format\": {CARD_FORMAT!r} in it)"))
        return ModelCard(**data)
    except (json.JSONDecodeError, TypeError) as e:
        raise WeightsError(f"model card {path} is unreadable: {e}") from e


class NoAcceptedRefiner(WeightsError):
    """No model card for this space and K passed the evaluation (`evaluation.accepted`)."""


def is_accepted(card: ModelCard) -> bool:
    """Whether the card's own evaluation accepted the model (docs/refiner.md): only those are used
    unless a user names a weights file."""
    return card.evaluation.get("accepted") is True


def find_weights(space: str, k: int, q: int | None = None, folder: Path = WEIGHTS_DIR,
                 latency: str = "window") -> Path:
    """The accepted weights for a space, K and latency mode (and Q, else the smallest Q: the live
    model). Raises NoAcceptedRefiner where there is none, listing the (K, Q) that have an
    accepted model and those trained but not accepted."""
    cards, accepted, trained = [], set(), set()
    for p in sorted(folder.glob("*.json")):
        try:
            card = load_card(p)
        except WeightsError:
            continue
        c = card.config
        if card.space != space or c.latency != latency:
            continue
        (accepted if is_accepted(card) else trained).add((c.k, c.q))
        if is_accepted(card) and c.k == k and (q is None or c.q == q):
            cards.append((c.q, p))
    if not cards:
        want = f"K={k}" + (f", Q={q}" if q is not None else "")
        if latency != "window":
            want += f", {latency} latency"
        listed = lambda pairs: ", ".join(f"K = {a} (Q = {b})" for a, b in sorted(pairs))
        have = [f"accepted for {listed(accepted)}" if accepted else "none passed (docs/refiner.md)"]
        if trained:
            have.append(f"unaccepted, for --weights: {listed(trained)}")
        raise NoAcceptedRefiner(f"no accepted {space}-space refiner for {want}; {'; '.join(have)}")
    return min(cards)[1].with_suffix(".pt")


RUNTIMES = ("onnx", "torch")


def _check_request(path: Path, card: ModelCard, space, joints, k, q, latency=None) -> None:
    cfg = card.config
    wanted, have = [], []
    for label, want, got in (("space", space, card.space), ("K", k, cfg.k), ("Q", q, cfg.q),
                             ("latency", latency, cfg.latency)):
        if want is not None and want != got:
            wanted.append(f"{label}={want}")
            have.append(f"{label}={got}")
    if joints is not None and list(joints) != list(card.joints):
        wanted.append(f"joints [{', '.join(joints)}]")
        have.append(f"joints [{', '.join(card.joints)}]")
    if wanted:
        raise WeightsError(f"weights {path.name} are for {', '.join(have)}, "
                           f"but {', '.join(wanted)} was requested")


def _load_torch(path: Path, card: ModelCard) -> "MixSynthFormer":
    import torch

    from .model import MixSynthFormer

    model = MixSynthFormer(card.config)
    pt = path.with_suffix(".pt")
    first = lambda e: str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    try:
        state = torch.load(pt, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"weights file {pt} not found (card {path.with_suffix('.json').name})")
    except (RuntimeError, ValueError, EOFError, OSError, pickle.UnpicklingError) as e:
        raise WeightsError(f"weights {pt} are corrupt or truncated (cannot be read: {first(e)})") from e
    try:
        model.load_state_dict(state)
    except (RuntimeError, ValueError, TypeError, AttributeError) as e:
        raise WeightsError(f"weights {pt.name} do not match their card "
                           f"{card.describe()}: {first(e)}") from e
    return model.eval()


def onnx_problem(path: Path, card: ModelCard) -> str | None:
    """Why `<path>.onnx` cannot be used for this card (None when it can)."""
    onnx = path.with_suffix(".onnx")
    if not card.export.get("sha256"):
        return f"{path.with_suffix('.json').name} records no ONNX export"
    try:
        data = onnx.read_bytes()
    except FileNotFoundError:
        return f"{onnx} is missing"
    except OSError as e:
        return f"{onnx} is unreadable ({e.strerror})"
    if hashlib.sha256(data).hexdigest() != card.export["sha256"]:
        return f"{onnx} differs from the one its card records (sha256)"
    return None


def _onnx_session(path: Path | bytes, threads: int):
    """An ONNX Runtime session on the CPU with `threads` intra-op threads, no inter-op pool
    (`path`: the weights' path, or the .onnx file's bytes)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    model = path if isinstance(path, bytes) else str(path.with_suffix(".onnx"))
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


class Refiner:
    """MixSynthFormer with its card: keyframes in the card's space in, poses for every frame out,
    run by ONNX Runtime (`runtime="onnx"`) or torch (`"torch"`)."""

    def __init__(self, model: "MixSynthFormer | None", card: ModelCard, device: str = "cpu",
                 session=None, path: Path | None = None, linear: bool = False):
        """A torch `model`, or an ONNX Runtime `session` (then `model` is loaded from `path`'s
        .pt only if asked for)."""
        if model is None and session is None and not linear:
            raise ValueError("a Refiner needs a torch model or an ONNX Runtime session")
        self._model = None if model is None else model.to(device).eval()
        self._session = session
        self._path = path
        self.card = card
        self.device = device
        self.runtime = "linear" if linear else "onnx" if session is not None else "torch"
        self.skeleton: Skeleton = SKELETONS[card.skeleton]
        cfg = card.config
        self.k, self.q, self.window = cfg.k, cfg.q, cfg.window
        interp = interpolation_matrix(cfg.k, cfg.q)                       # (K*Q+1, Q+1)
        # (T, Q+1): linear interpolation of the keyframes, the last one held after it (zero latency)
        self.interp = np.concatenate([interp, np.repeat(interp[-1:], cfg.horizon, 0)])

    def __getstate__(self) -> dict:
        """Picklable (e.g. shipped to Ray workers): an ONNX Runtime session travels as its model
        bytes and is rebuilt, with the same threads, on the other side."""
        state = self.__dict__.copy()
        if self._session is not None:
            opts = self._session.get_session_options()
            state["_session"] = (self._path.with_suffix(".onnx").read_bytes(), opts.intra_op_num_threads)
        return state

    def __setstate__(self, state: dict) -> None:
        if isinstance(state.get("_session"), tuple):
            state["_session"] = _onnx_session(*state["_session"])
        self.__dict__.update(state)

    @classmethod
    def linear(cls, space: str, k: int, q: int = 1, note: str = "", latency: str = "window") -> "Refiner":
        """Linear interpolation of the keyframes in the refiner's place (no model): what the
        pipeline uses for a space without an accepted refiner. `note` says why. In the zero
        latency mode the frames after the last keyframe hold it (named so in the card and the
        sidecar); in the keyframe mode each frame interpolates its two keyframes."""
        dims = 2 if space == "image" else 3
        cfg = ModelConfig(pose_dim=len(BODY12.joints) * dims, k=k, q=q, latency=latency)
        name = "last keyframe held" if latency == "zero" else "linear interpolation"
        card = ModelCard(name=name, space=space, skeleton=BODY12.name,
                         joints=list(BODY12.joints), model=cfg.to_dict(),
                         evaluation={"accepted": False, "note": note}, export={"flops_per_window": 0})
        return cls(None, card, linear=True)

    @property
    def is_linear(self) -> bool:
        return self.runtime == "linear"

    @property
    def model(self) -> "MixSynthFormer":
        """The torch module (loaded from the .pt on first use when running on ONNX Runtime)."""
        if self._model is None:
            if self._path is None:
                raise WeightsError(f"{self.card.name}: no torch weights to load")
            self._model = _load_torch(self._path, self.card).to(self.device)
        return self._model

    @classmethod
    def load(cls, path: str | Path, *, space: str | None = None, joints: list[str] | None = None,
             k: int | None = None, q: int | None = None, latency: str | None = None,
             device: str = "cpu", runtime: str = "onnx", threads: int | None = 1,
             warn: bool = True) -> "Refiner":
        """Load weights, refusing them with one clear message if they don't match the request.

        runtime "onnx" (ONNX Runtime, no torch; on the CPU) falls back to "torch" with one
        warning line on stderr where the .onnx is missing or differs from the card's record.
        `threads`: intra-op threads of the refiner (torch's are process-wide); None leaves the
        library's default."""
        if runtime not in RUNTIMES:
            raise ValueError(f"refiner runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
        path = Path(path)
        card = load_card(path)
        _check_request(path, card, space, joints, k, q, latency)
        if runtime == "onnx" and device == "cpu":
            problem = onnx_problem(path, card)
            if problem is None:
                return cls(None, card, device, session=_onnx_session(path, threads or 1), path=path)
            model = _load_torch(path, card)       # first: a corrupt .pt is the error to report
            if warn:
                print(f"warning: {problem}; the refiner runs on torch instead (slower to start); "
                      f"to fix: python -m pipeline.refiner.export {path.with_suffix('.json')}",
                      file=sys.stderr, flush=True)
        else:
            model = _load_torch(path, card)
        if threads is not None:
            import torch
            torch.set_num_threads(threads)
        return cls(model, card, device, path=path)

    @property
    def stride(self) -> int:
        """Window stride in keyframes the card asks for (1 unless it says otherwise): windows
        starting at every keyframe, Q or Q+1 of them averaged per frame, for the same latency."""
        return int(self.card.runtime.get("stride", 1))

    def _run(self, x: np.ndarray) -> np.ndarray:
        """(B, Q+1, P) float32 normalised keyframes -> (B, T, P) refined window."""
        if self.is_linear:
            return np.einsum("tq,bqp->btp", self.interp, x).astype(np.float32)
        if self._session is not None:
            return self._session.run(None, {"keyframes": x})[0]
        import torch
        with torch.no_grad():
            return self._model.refine_keyframes(torch.from_numpy(x).to(self.device)).cpu().numpy()

    def refine_windows(self, keyframes: np.ndarray, pin: np.ndarray | None = None,
                       batch: int = 512) -> np.ndarray:
        """(W, Q+1, J, D) keyframe windows -> (W, T, J, D) refined windows, same units.

        pin (W, Q+1) bool: keyframes that keep their input exactly; the refined window is shifted
        by the linearly interpolated difference, so in-between frames stay continuous."""
        centre, scale = window_stats(keyframes, self.skeleton)
        x = normalise(keyframes, centre, scale).astype(np.float32)
        w, _, j, d = x.shape
        out = np.empty((w, self.window, j, d), np.float32)
        for i in range(0, w, batch):
            kf = np.ascontiguousarray(x[i:i + batch].reshape(-1, self.q + 1, j * d))
            out[i:i + batch] = self._run(kf).reshape(-1, self.window, j, d)
        out = denormalise(out, centre, scale)
        if pin is not None:
            for o, k, p in zip(out, keyframes, pin):
                if p.any():
                    o += np.einsum("tq,q...->t...", self.interp, fill_gaps(k - o[::self.k], p))
        return out

    def refine_sequence(self, keyframes: np.ndarray, n_frames: int, stride: int | None = None,
                        pin: np.ndarray | None = None) -> np.ndarray:
        """(N_kf, J, D) keyframes of an n-frame sequence -> (n_frames, J, D), overlaps averaged
        (keyframe and zero latency: each frame from its one window, `latency.py`).
        pin (N_kf,) bool: keyframes that keep their input (see refine_windows)."""
        if self.card.config.latency != "window":
            return refine_causal(self, keyframes, n_frames, pin)
        starts = window_starts(n_frames, self.k, self.q, stride or self.stride)
        windows = gather_windows(keyframes, starts, self.q)
        pins = None if pin is None else gather_windows(pin, starts, self.q)
        return merge_windows(self.refine_windows(windows, pins), starts, self.k, n_frames)
