"""MixSynthFormer: shapes, the paper's equations and parameter counts, FLOPs."""
import numpy as np
import pytest
import torch

from pipeline.flops import refiner_flops_per_frame, refiner_window_flops
from pipeline.refiner.model import (MixSynthAttention, MixSynthFormer, ModelConfig, SELayer,
                            SynthAttention, count_parameters, linear_interpolation_matrix)

H36M = dict(pose_dim=51, dim=64, depth=4, k=10, q=10, learned_interp=True, se_reduction=4)


@pytest.mark.parametrize("r_t, r_s, paper", [(1, 1, 0.262e6), (4, 1, 0.211e6), (1, 4, 0.230e6),
                                             (4, 4, 0.179e6)])
def test_parameter_counts_match_table6(r_t, r_s, paper):
    n = count_parameters(MixSynthFormer(ModelConfig(**H36M, r_t=r_t, r_s=r_s)))
    assert abs(n - paper) / paper < 0.01


def test_parameter_count_sub_jhmdb():
    cfg = ModelConfig(pose_dim=30, dim=128, depth=5, k=10, q=1, r_t=4, r_s=1)
    assert abs(count_parameters(MixSynthFormer(cfg)) - 0.556e6) / 0.556e6 < 0.01


def test_synth_attention_rows_are_softmax_and_reduced():
    torch.manual_seed(0)
    att = SynthAttention(n=101, d_in=64, reduction=4)
    x = torch.randn(3, 101, 64)
    a = att.attention(x)
    assert a.shape == (3, 101, 25)                       # d = floor(N / r)
    assert torch.allclose(a.sum(-1), torch.ones(3, 101), atol=1e-5)
    assert (a >= 0).all()
    v = att.value(x.transpose(1, 2)).transpose(1, 2)      # eq. 14: value reduced along N
    assert v.shape == (3, 25, 64)
    assert att(x).shape == (3, 101, 64)
    assert torch.allclose(att(x), a @ v, atol=1e-6)       # eq. 13


def test_se_layer_scales_rows_by_sigmoid_gate():
    se = SELayer(8, reduction=4)
    a = torch.randn(2, 8, 5)
    gate = se(a) / a
    assert torch.allclose(gate, gate[..., :1].expand_as(gate), atol=1e-5)   # one gate per row
    assert ((gate > 0) & (gate < 1)).all()


def test_mix_attention_split_weights_sum_to_one():
    torch.manual_seed(0)
    mix = MixSynthAttention(t=31, c=16, r_t=2, r_s=2)
    x = torch.randn(4, 31, 16)
    yt = mix.temporal(x)
    ys = mix.spatial(x.transpose(1, 2)).transpose(1, 2)
    w = mix.split_weights(yt, ys)
    assert w.shape == (4, 31, 2)
    assert torch.allclose(w.sum(-1), torch.ones(4, 31), atol=1e-6)
    assert mix(x).shape == (4, 31, 16)


def test_linear_interpolation_matrix_matches_numpy():
    m = linear_interpolation_matrix(k=5, q=4).numpy()
    kf = np.random.default_rng(0).normal(size=5)
    expected = np.interp(np.arange(21), np.arange(0, 21, 5), kf)
    assert np.allclose(m @ kf, expected, atol=1e-6)


@pytest.mark.parametrize("learned", [True, False])
def test_forward_shape_and_untrained_model_is_linear_interpolation(learned):
    cfg = ModelConfig(pose_dim=24, k=10, q=3, learned_interp=learned)
    model = MixSynthFormer(cfg).eval()
    x = torch.randn(2, cfg.window, 24)
    y = model(x)
    assert y.shape == (2, 31, 24)
    kf = x[:, ::10]
    linear = torch.nn.functional.interpolate(kf.transpose(1, 2), size=31, mode="linear",
                                             align_corners=True).transpose(1, 2)
    assert torch.allclose(y, linear, atol=1e-5)          # zero-initialised head: eq. 5 = x_hat
    # only keyframes matter: changing the in-between frames changes nothing
    x2 = x.clone()
    x2[:, 1:10] += 5
    assert torch.allclose(model(x2), y)
    assert ("interp.weight" in dict(model.named_parameters())) == learned


@pytest.mark.parametrize("r_t, r_s", [(1, 1), (4, 4)])
def test_flops_counted_by_torch_include_attention_products(r_t, r_s):
    cfg = ModelConfig(**H36M, r_t=r_t, r_s=r_s)
    t, c, p, q1 = cfg.window, cfg.dim, cfg.pose_dim, cfg.q + 1
    dt, ds = t // r_t, c // r_s
    block = (2 * t * c * dt + 4 * t * (t // 4) + 2 * c * t * dt + 2 * t * dt * c   # temporal
             + 2 * c * t * ds + 4 * c * (c // 4) + 2 * t * c * ds + 2 * c * ds * t  # spatial
             + 2 * t * (t // 4) + 2 * (t // 4) * 2 * t                           # split FFN
             + 2 * t * c * c + 2 * t * c * 2 * c * 2)                            # W_o, FFN
    expected = 2 * p * q1 * t + 2 * t * p * c + cfg.depth * block + 2 * t * c * p
    model = MixSynthFormer(cfg)
    assert refiner_window_flops(model) == expected
    assert refiner_flops_per_frame(model) == expected / (cfg.k * cfg.q)
    assert 3e4 <= refiner_flops_per_frame(model) <= 5e5    # the paper's 0.00003-0.0005 GFLOPs
