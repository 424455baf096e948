"""Refiner runtime: weights + model card on disk, window normalisation, batched refinement.

Weights are two files side by side: `<name>.pt` (state dict) and `<name>.json` (the model card).
The card is read first and says which joints, space, K, Q and architecture the weights are for,
so a wrong file is refused with one message naming both sides before anything runs.
"""
from __future__ import annotations

import json
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_write
from ..interpolate import fill_gaps
from .model import MixSynthFormer, ModelConfig, linear_interpolation_matrix
from ..paths import WEIGHTS_DIR
from .normalize import denormalise, normalise, window_stats
from ..skeleton import SKELETONS, Skeleton
from .latency import refine_causal
from .windows import gather_windows, merge_windows, window_starts

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


def save_weights(path: str | Path, model: MixSynthFormer, card: ModelCard) -> None:
    """Write `<path>.pt` and `<path>.json` (each atomically)."""
    path = Path(path).with_suffix("")
    atomic_write(path.with_suffix(".pt"), lambda p: torch.save(model.state_dict(), p))
    save_card(path, card)


def save_card(path: str | Path, card: ModelCard) -> None:
    atomic_write(Path(path).with_suffix(".json"),
                  lambda p: Path(p).write_text(json.dumps(asdict(card), indent=2) + "\n"))


def load_card(path: str | Path) -> ModelCard:
    path = Path(path).with_suffix(".json")
    if not path.exists():
        raise WeightsError(f"model card {path} not found")
    try:
        data = json.loads(path.read_text())
        if data.get("format") != CARD_FORMAT:
            raise WeightsError(f"{path} is not a refiner model card (format {data.get('format')!r})")
        return ModelCard(**data)
    except (json.JSONDecodeError, TypeError) as e:
        raise WeightsError(f"model card {path} is unreadable: {e}") from e


def find_weights(space: str, k: int, q: int | None = None, folder: Path = WEIGHTS_DIR) -> Path:
    """The shipped weights for a space and K (and Q, else the smallest Q: the live model)."""
    cards = []
    for p in sorted(folder.glob("*.json")):
        try:
            card = load_card(p)
        except WeightsError:
            continue
        c = card.config
        if card.space == space and c.k == k and (q is None or c.q == q):
            cards.append((c.q, p))
    if not cards:
        have = ", ".join(load_card(p).describe() for p in sorted(folder.glob("*.json"))) or "none"
        want = f"{space} space, K={k}" + (f", Q={q}" if q is not None else "")
        raise WeightsError(f"no weights in {folder} for {want}; available: {have}")
    return min(cards)[1].with_suffix(".pt")


class Refiner:
    """MixSynthFormer with its card: keyframes in the card's space in, poses for every frame out."""

    def __init__(self, model: MixSynthFormer, card: ModelCard, device: str = "cpu"):
        self.model = model.to(device).eval()
        self.card = card
        self.device = device
        self.skeleton: Skeleton = SKELETONS[card.skeleton]
        cfg = card.config
        self.k, self.q, self.window = cfg.k, cfg.q, cfg.window
        interp = linear_interpolation_matrix(cfg.k, cfg.q).numpy()           # (K*Q+1, Q+1)
        self._interp = np.concatenate([interp, np.repeat(interp[-1:], cfg.horizon, 0)])  # (T, Q+1)

    @classmethod
    def load(cls, path: str | Path, *, space: str | None = None, joints: list[str] | None = None,
             k: int | None = None, q: int | None = None, device: str = "cpu") -> "Refiner":
        """Load weights, refusing them with one clear message if they don't match the request."""
        path = Path(path)
        card = load_card(path)
        cfg = card.config
        wanted, have = [], []
        for label, want, got in (("space", space, card.space), ("K", k, cfg.k), ("Q", q, cfg.q)):
            if want is not None and want != got:
                wanted.append(f"{label}={want}")
                have.append(f"{label}={got}")
        if joints is not None and list(joints) != list(card.joints):
            wanted.append(f"joints [{', '.join(joints)}]")
            have.append(f"joints [{', '.join(card.joints)}]")
        if wanted:
            raise WeightsError(f"weights {path.name} are for {', '.join(have)}, "
                               f"but {', '.join(wanted)} was requested")
        model = MixSynthFormer(cfg)
        pt = path.with_suffix(".pt")
        try:
            state = torch.load(pt, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except FileNotFoundError:
            raise WeightsError(f"weights file {pt} not found (card {path.with_suffix('.json').name})")
        except (RuntimeError, ValueError, EOFError, OSError, pickle.UnpicklingError) as e:
            first = str(e).strip().splitlines()[0]
            raise WeightsError(f"weights {pt.name} do not match their card "
                               f"{card.describe()}: {first}") from e
        return cls(model, card, device)

    @property
    def stride(self) -> int:
        """Window stride in keyframes the card asks for (1 unless it says otherwise): windows
        starting at every keyframe, Q or Q+1 of them averaged per frame, for the same latency."""
        return int(self.card.runtime.get("stride", 1))

    @torch.no_grad()
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
            kf = torch.from_numpy(x[i:i + batch]).reshape(-1, self.q + 1, j * d).to(self.device)
            out[i:i + batch] = self.model.refine_keyframes(kf).reshape(-1, self.window, j, d).cpu()
        out = denormalise(out, centre, scale)
        if pin is not None:
            for o, k, p in zip(out, keyframes, pin):
                if p.any():
                    o += np.einsum("tq,q...->t...", self._interp, fill_gaps(k - o[::self.k], p))
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
