"""Keyframe estimates in, a pose for every frame out, as soon as the refiner's latency mode allows:
`StreamingRefiner` for window latency (overlapping windows averaged, `window.py`),
`CausalStreamingRefiner` for keyframe and zero latency (`causal.py`); `make_streamer` picks."""
from __future__ import annotations

from ..refiner.runtime import Refiner
from .causal import CausalStreamingRefiner
from .pose import FramePose, RefinerStats
from .window import StreamingRefiner


def make_streamer(image: Refiner, world: Refiner | None, skeleton, stride: int | None = None,
                  batch: int = 1, live: bool = True, **options) -> StreamingRefiner | CausalStreamingRefiner:
    """The streaming refiner for the image refiner's latency mode (`options`: pinning, world
    output, max_gap; `stride` and `batch` apply to window latency only; not `live`, a file: the
    keyframe mode fills a missed keyframe once the next detection is read, as the window mode)."""
    if image.card.config.latency == "window":
        return StreamingRefiner(image, world, skeleton, stride, batch=batch, **options)
    return CausalStreamingRefiner(image, world, skeleton, fill_ahead=not live, **options)


__all__ = ["CausalStreamingRefiner", "FramePose", "RefinerStats", "StreamingRefiner", "make_streamer"]
