"""Latency modes: which keyframes each frame's pose may depend on, and the causal baselines."""
import numpy as np
import pytest
import torch

from pipeline.interpolate import extrapolate_keyframes, fill_causal
from pipeline.refiner.latency import latency_frames
from pipeline.refiner.model import LATENCIES, MixSynthFormer, ModelConfig
from pipeline.refiner.runtime import ModelCard, Refiner
from pipeline.skeleton import BODY12


def random_refiner(latency: str, k: int = 5, q: int = 3) -> Refiner:
    """A refiner whose weights are all random (no zero head): every output frame depends on
    every input keyframe of its window, so any leak from the future would show."""
    cfg = ModelConfig(pose_dim=24, k=k, q=q, dropout=0.0, latency=latency)
    torch.manual_seed(0)
    model = MixSynthFormer(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    card = ModelCard(name=f"random-{latency}", space="image", skeleton=BODY12.name,
                     joints=list(BODY12.joints), model=cfg.to_dict())
    return Refiner(model, card)


def test_windows_deliver_the_frames_their_mode_promises():
    for latency, window, emitted in (("window", 31, (0, 31)), ("keyframe", 31, (20, 31)), ("zero", 40, (30, 40))):
        cfg = ModelConfig(pose_dim=24, k=10, q=3, latency=latency)
        assert cfg.window == window and (cfg.emitted.start, cfg.emitted.stop) == emitted
        assert MixSynthFormer(cfg).refine_keyframes(torch.zeros(2, 4, 24)).shape == (2, window, 24)
    assert [latency_frames(m, 10, 3) for m in LATENCIES] == [30, 10, 0]
    with pytest.raises(ValueError, match="zero"):
        ModelConfig(pose_dim=24, latency="instant")


@pytest.mark.parametrize("latency", ["keyframe", "zero"])
def test_a_frames_pose_uses_no_keyframe_after_the_time_it_is_shown(latency):
    """Zero latency: the pose of frame n is computed from keyframes at frames <= n. Keyframe
    latency: from keyframes up to the first one at or after n (shown K frames late at most)."""
    k, n_frames = 5, 61
    r = random_refiner(latency, k)
    rng = np.random.default_rng(1)
    kf = (rng.normal(size=(13, 12, 2)) * 30 + 300).astype(np.float32)
    base = r.refine_sequence(kf, n_frames)
    assert base.shape == (n_frames, 12, 2) and np.isfinite(base).all()
    for i in range(1, 13):
        changed = kf.copy()
        changed[i:] += rng.normal(size=changed[i:].shape).astype(np.float32) * 40
        out = r.refine_sequence(changed, n_frames)
        # frames that cannot see keyframe i (keyframe mode: frame 0 waits for keyframe 1)
        known = k * i if latency == "zero" else k * (i - 1) + 1 if i > 1 else 0
        np.testing.assert_array_equal(out[:known], base[:known])
        assert not np.allclose(out[known], base[known])           # ... and the next frame does


def test_extrapolation_baselines_by_hand():
    f, v = np.array([0, 10, 20]), np.array([[0.0], [1.0], [3.0]])
    frames = np.array([0, 5, 10, 15, 20, 25, 30])
    hold = extrapolate_keyframes(f, v, frames, "hold last keyframe")[:, 0]
    vel = extrapolate_keyframes(f, v, frames, "constant velocity")[:, 0]
    np.testing.assert_allclose(hold, [0, 0, 1, 1, 3, 3, 3])
    np.testing.assert_allclose(vel, [0, 0, 1, 1.5, 3, 4, 5])
    np.testing.assert_array_equal(fill_causal(np.arange(5.0), np.array([0, 1, 0, 0, 1], bool)), [1, 1, 1, 1, 4])
