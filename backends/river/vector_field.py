"""RIVER's vector-field regressor v(x_t | reference, conditioning, distance, t).

A U-ViT-style transformer over the latent grid (patch size 1). Each token concatenates the noisy
target x_t, the reference latent (the frame right before the target) and the conditioning latent
(one random earlier frame) along channels. The index distance between reference and conditioning
frame enters as an MLP of its logarithm added to every token; the flow time t is an extra first
token carrying a raw sinusoidal code. Keys follow the official `VectorFieldRegressor`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

NUM_HEADS = 8  # hard-coded in the official model, like the FFN width and dropout below
FFN_MULTIPLIER = 4
DROPOUT = 0.05  # official; a config may set `dropout` (Flow Studio extension: 0 trains 2.5x faster on CPU)
MAX_POSITIONS = 512
DISTANCE_HIDDEN = 256
TIME_SCALE = 200.0  # t in [0, 1] is stretched before the sinusoids


class LearnedPosition2d(nn.Module):
    """Two learned tables; the code at (row i, column j) is [col_embed[j], row_embed[i]]."""

    def __init__(self, dim: int):
        super().__init__()
        self.row_embed = nn.Embedding(MAX_POSITIONS, dim // 2)
        self.col_embed = nn.Embedding(MAX_POSITIONS, dim // 2)

    def forward(self, height: int, width: int) -> torch.Tensor:
        """[height * width, dim] in row-major token order."""
        cols = self.col_embed.weight[:width].unsqueeze(0).expand(height, -1, -1)
        rows = self.row_embed.weight[:height].unsqueeze(1).expand(-1, width, -1)
        return torch.cat([cols, rows], dim=-1).reshape(height * width, -1)


class _Flatten(nn.Module):
    """b c h w -> b (h w) c (the parameter-free slot 0 of `project_in`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).transpose(1, 2)


class _Unflatten(nn.Module):
    """b (h w) c -> b c h w for the output head."""

    def __init__(self, height: int, width: int):
        super().__init__()
        self.height, self.width = height, width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], self.height, self.width)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal code of flow time t [b] -> [b, dim], cosine half first, no learned layer."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = TIME_SCALE * t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def _encoder_layer(dim: int, dropout: float) -> nn.TransformerEncoderLayer:
    return nn.TransformerEncoderLayer(
        d_model=dim, nhead=NUM_HEADS, dim_feedforward=FFN_MULTIPLIER * dim, dropout=dropout,
        activation="gelu", batch_first=True, norm_first=True,
    )


class VectorFieldRegressor(nn.Module):
    def __init__(self, state_size: int, state_res: list[int], inner_dim: int, depth: int, mid_depth: int,
                 out_norm: str = "ln", dropout: float = DROPOUT):
        super().__init__()
        if out_norm not in ("ln", "bn"):
            raise ValueError(f"out_norm must be 'ln' or 'bn', got {out_norm!r}")
        self.state_size, self.state_res, self.inner_dim = state_size, list(state_res), inner_dim
        height, width = state_res

        self.position_encoding = LearnedPosition2d(inner_dim)
        self.project_in = nn.Sequential(_Flatten(), nn.Linear(3 * state_size, inner_dim))
        # Despite its official name this embeds the reference-conditioning index distance.
        self.time_projection = nn.Sequential(
            nn.Linear(1, DISTANCE_HIDDEN), nn.ReLU(), nn.Linear(DISTANCE_HIDDEN, inner_dim)
        )
        # U-ViT: outputs of `in_blocks` are fed back into `out_blocks` as long skips.
        self.in_blocks = nn.ModuleList([_encoder_layer(inner_dim, dropout) for _ in range(depth)])
        self.mid_blocks = nn.ModuleList([_encoder_layer(inner_dim, dropout) for _ in range(mid_depth)])
        self.out_blocks = nn.ModuleList(
            [nn.ModuleList([nn.Linear(2 * inner_dim, inner_dim), _encoder_layer(inner_dim, dropout)]) for _ in range(depth)]
        )
        if out_norm == "ln":
            head = [nn.Linear(inner_dim, inner_dim), nn.GELU(), nn.LayerNorm(inner_dim), _Unflatten(height, width)]
        else:  # "bn", the BAIR-256 head
            head = [nn.Linear(inner_dim, inner_dim), _Unflatten(height, width), nn.GELU(), nn.BatchNorm2d(inner_dim)]
        self.project_out = nn.Sequential(*head, nn.Conv2d(inner_dim, state_size, 3, padding=1))

    def forward(self, input_latents: torch.Tensor, reference_latents: torch.Tensor,
                conditioning_latents: torch.Tensor, index_distances: torch.Tensor,
                timestamps: torch.Tensor) -> torch.Tensor:
        """Velocity [b, c, h, w] at x_t = ``input_latents`` and flow times ``timestamps`` [b]."""
        height, width = input_latents.shape[-2:]
        if [height, width] != self.state_res:
            raise ValueError(f"latents are {height}x{width} but the regressor was built for state_res {self.state_res}")
        x = self.project_in(torch.cat([input_latents, reference_latents, conditioning_latents], dim=1))
        x = x + self.position_encoding(height, width)
        distance_code = self.time_projection(torch.log(index_distances.float())[:, None])
        x = x + distance_code[:, None]
        time_token = timestep_embedding(timestamps, self.inner_dim)[:, None].to(x.dtype)
        x = torch.cat([time_token, x], dim=1)

        skips = []
        for block in self.in_blocks:
            x = block(x)
            skips.append(x)
        for block in self.mid_blocks:
            x = block(x)
        for fuse, block in self.out_blocks:
            x = block(fuse(torch.cat([skips.pop(), x], dim=-1)))

        return self.project_out(x[:, 1:])  # the time token is dropped
