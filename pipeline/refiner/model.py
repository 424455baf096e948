"""MixSynthFormer (Sun et al., ICCV 2023): recover a window from its keyframes, then refine it.

One window holds T = K*Q + 1 frames with keyframes at frames 0, K, 2K, ..., K*Q; in the zero-latency
mode (`ModelConfig.latency`) K-1 more frames after the last keyframe are predicted (paper, Sec. 3.6).
Shapes: B windows, T frames, P = joints * dims pose features, C channels, N the length
that a SynthAttention attends over (T for the temporal branch, C for the spatial one).

Equation numbers refer to the paper. The value reduction of eq. 14 is a Linear along N that
is applied for every r (at r = 1 it maps N to N); that is the configuration whose parameter
counts are those of the paper's Table 6.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .config import LATENCIES, ModelConfig  # noqa: F401  (re-exported)
from .windows import interpolation_matrix


def linear_interpolation_matrix(k: int, q: int, horizon: int = 0) -> torch.Tensor:
    """(T, Q+1) matrix M with M @ keyframes = linear interpolation of the keyframes over the window
    (`windows.interpolation_matrix` as a tensor; T = K*Q + 1 + horizon)."""
    return torch.from_numpy(interpolation_matrix(k, q, horizon))


class Mlp(nn.Sequential):
    """Linear -> GELU -> Dropout -> Linear -> Dropout."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int, dropout: float = 0.0):
        super().__init__(nn.Linear(d_in, d_hidden), nn.GELU(), nn.Dropout(dropout),
                         nn.Linear(d_hidden, d_out), nn.Dropout(dropout))


class SELayer(nn.Module):
    """Squeeze-and-excitation over the N rows of a coarse attention matrix (B, N, d)."""

    def __init__(self, n: int, reduction: int = 4):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(n, n // reduction, bias=False), nn.ReLU(),
                                nn.Linear(n // reduction, n, bias=False), nn.Sigmoid())

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return a * self.fc(a.mean(dim=-1)).unsqueeze(-1)           # eq. 11


class SynthAttention(nn.Module):
    """Synthesised attention over N tokens of width D, reduced to d = N // r columns."""

    def __init__(self, n: int, d_in: int, reduction: int = 1, se_reduction: int = 4):
        super().__init__()
        d = n // reduction
        self.synth = nn.Linear(d_in, d)           # coarse attention from each token alone
        self.se = SELayer(n, se_reduction)
        self.value = nn.Linear(n, d)              # value reduced along N

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, D) -> row-stochastic (B, N, d)."""
        a = self.synth(x)                         # eq. 10: A = X W_a + b
        return self.se(a).softmax(dim=-1)         # eq. 11-12

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.value(x.transpose(1, 2)).transpose(1, 2)   # eq. 14: (B, d, D)
        return self.attention(x) @ v                         # eq. 13: (B, N, D)


class MixSynthAttention(nn.Module):
    """Temporal and spatial SynthAttention mixed by split-attention weights; (B, T, C) -> (B, T, C)."""

    def __init__(self, t: int, c: int, r_t: int = 1, r_s: int = 1, se_reduction: int = 4,
                 dropout: float = 0.0):
        super().__init__()
        self.temporal = SynthAttention(t, c, r_t, se_reduction)   # attends over frames
        self.spatial = SynthAttention(c, t, r_s, se_reduction)    # attends over channels
        self.split = Mlp(t, t // 4, 2 * t)
        self.proj = nn.Linear(c, c)
        self.drop = nn.Dropout(dropout)

    def split_weights(self, yt: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        """(B, T, 2) weights of the two branches, summing to 1 per frame."""
        s = (yt + ys).mean(dim=-1)                                    # eq. 7: global average
        return self.split(s).unflatten(-1, (-1, 2)).softmax(dim=-1)  # eq. 8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        yt = self.temporal(x)                                   # Y_t
        ys = self.spatial(x.transpose(1, 2)).transpose(1, 2)    # Y_s
        a = self.split_weights(yt, ys)
        y = a[..., :1] * yt + a[..., 1:] * ys
        return self.drop(self.proj(y))                          # eq. 9: W_o


class MixSynthEncoderBlock(nn.Module):
    def __init__(self, t: int, c: int, r_t: int, r_s: int, se_reduction: int, expansion: int,
                 dropout: float):
        super().__init__()
        self.attn = MixSynthAttention(t, c, r_t, r_s, se_reduction, dropout)
        self.norm1 = nn.LayerNorm(c)
        self.ffn = Mlp(c, c * expansion, c, dropout)
        self.norm2 = nn.LayerNorm(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.attn(x))      # eq. 3
        return self.norm2(x + self.ffn(x))    # eq. 4


class MixSynthFormer(nn.Module):
    """(B, T, P) window with keyframes at 0, K, ..., T-1 -> (B, T, P) poses for every frame."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        t, c = cfg.window, cfg.dim
        if cfg.learned_interp:
            self.interp = nn.Linear(cfg.q + 1, t)
        else:
            self.register_buffer("interp_matrix", linear_interpolation_matrix(cfg.k, cfg.q, cfg.horizon))
        self.embed = nn.Linear(cfg.pose_dim, c)
        self.blocks = nn.ModuleList(
            MixSynthEncoderBlock(t, c, cfg.r_t, cfg.r_s, cfg.se_reduction, cfg.ffn_expansion,
                                 cfg.dropout) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(c)
        self.head = nn.Linear(c, cfg.pose_dim)
        self._init_weights()

    def _init_weights(self) -> None:
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        # Start from plain linear interpolation: learned interpolator = the linear one, zero refinement.
        if self.cfg.learned_interp:
            with torch.no_grad():
                self.interp.weight.copy_(linear_interpolation_matrix(self.cfg.k, self.cfg.q, self.cfg.horizon))
                self.interp.bias.zero_()
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def recover(self, keyframes: torch.Tensor) -> torch.Tensor:
        """(B, Q+1, P) keyframes -> (B, T, P) interpolated window."""
        if self.cfg.learned_interp:
            return self.interp(keyframes.transpose(1, 2)).transpose(1, 2)   # eq. 1
        return self.interp_matrix @ keyframes                               # eq. 1

    def refine_keyframes(self, keyframes: torch.Tensor) -> torch.Tensor:
        """(B, Q+1, P) keyframes -> (B, T, P) refined window."""
        x_hat = self.recover(keyframes)
        z = self.embed(x_hat)                  # eq. 2: no position embedding
        for block in self.blocks:
            z = block(z)                       # eq. 3-4
        return self.head(self.norm(z)) + x_hat  # eq. 5

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        return self.refine_keyframes(window[:, ::self.cfg.k])


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
