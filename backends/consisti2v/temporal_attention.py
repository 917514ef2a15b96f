"""ConsistI2V's temporal transformer (``tempo_attns.j`` in the checkpoint).

For every video and spatial position, the sequence is that position's T frames (frame 0 is
the conditioning frame). Self-attention (attn1) adds eight keys/values: the 3×3 neighbourhood of
the position in frame 0 (centre excluded, replicate padding), taken from the norm1 features.
Cross-attention (attn2) reads the video's text tokens. Positions enter through rotary embeddings
on the first half of the projected q/k channels (pairs (2i, 2i+1)): queries and frame keys at
0…T−1, the neighbour keys all at 0, the text keys unrotated.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.attention import FeedForward
from torch import nn

from .temporal_conv import alpha_blend

RELATIVE_BIAS_BUCKETS = 32
# The 3×3 neighbourhood without its centre, as (dy, dx) offsets.
NEIGHBOUR_OFFSETS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


class RotaryEmbedding(nn.Module):
    """Rotary position embedding over the first ``dim`` channels; ``freqs`` (dim/2) is stored in the checkpoint."""

    def __init__(self, dim: int, theta: float = 10000.0):
        super().__init__()
        self.register_buffer("freqs", theta ** (-torch.arange(0, dim, 2).float() / dim))

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Rotate ``x`` (..., N, C) at ``positions`` (N,)."""
        angles = (positions.to(torch.float32)[:, None] * self.freqs.to(torch.float32)).repeat_interleave(2, dim=-1)
        width = angles.shape[-1]
        rotated, passed = x[..., :width].float(), x[..., width:]
        even, odd = rotated.unflatten(-1, (-1, 2)).unbind(-1)
        half_turn = torch.stack((-odd, even), dim=-1).flatten(-2)
        rotated = rotated * angles.cos() + half_turn * angles.sin()
        return torch.cat((rotated.to(x.dtype), passed), dim=-1)


class RelativePositionBias(nn.Module):
    """A T5-style relative position bias table the checkpoint stores; ConsistI2V's rotary mode never uses it."""

    def __init__(self, heads: int):
        super().__init__()
        self.relative_attention_bias = nn.Embedding(RELATIVE_BIAS_BUCKETS, heads)


class TemporalAttention(nn.Module):
    """Multi-head attention with rotary positions on the projected (pre-head-split) q and k."""

    def __init__(self, dim: int, heads: int, context_dim: int | None = None):
        super().__init__()
        context_dim = context_dim or dim
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(context_dim, dim, bias=False)
        self.to_v = nn.Linear(context_dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])
        self.rotary_emb = RotaryEmbedding(dim // 2)
        self.rotary_bias = RelativePositionBias(heads)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor, key_positions: torch.Tensor | None
    ) -> torch.Tensor:
        """``x`` (N, T, C) at positions 0…T−1 attends to ``context`` (N, S, D); keys are rotated
        at ``key_positions`` (S,) or not at all (None)."""
        query = self.rotary_emb(self.to_q(x), torch.arange(x.shape[1], device=x.device))
        key, value = self.to_k(context), self.to_v(context)
        if key_positions is not None:
            key = self.rotary_emb(key, key_positions)
        query, key, value = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in (query, key, value))
        out = F.scaled_dot_product_attention(query, key, value)
        return self.to_out[0](out.transpose(1, 2).flatten(2))


def first_frame_neighbours(first_frame: torch.Tensor) -> torch.Tensor:
    """(B, H, W, C) -> (B·H·W, 8, C): each position's 3×3 neighbours (centre excluded, replicate padding)."""
    batch, height, width, channels = first_frame.shape
    padded = F.pad(first_frame.permute(0, 3, 1, 2), (1, 1, 1, 1), mode="replicate")
    shifted = [padded[:, :, 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width] for dy, dx in NEIGHBOUR_OFFSETS]
    return torch.stack(shifted, dim=-1).permute(0, 2, 3, 4, 1).reshape(batch * height * width, len(shifted), channels)


class TemporalTransformerBlock(nn.Module):
    """norm1 → temporal self-attention (+ frame-0 neighbours) → norm2 → text cross-attention → norm3 → GEGLU."""

    def __init__(self, dim: int, heads: int, cross_attention_dim: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = TemporalAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = TemporalAttention(dim, heads, cross_attention_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, activation_fn="geglu")

    def forward(self, video: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """``video`` (B, T, H, W, C), ``text`` (B, S, D) -> (B, T, H, W, C)."""
        batch, frames, height, width, channels = video.shape
        as_sequences = lambda t: t.permute(0, 2, 3, 1, 4).reshape(batch * height * width, frames, channels)  # noqa: E731
        normed = self.norm1(video)
        sequences = as_sequences(normed)
        context = torch.cat((sequences, first_frame_neighbours(normed[:, 0])), dim=1)
        positions = torch.zeros(context.shape[1], dtype=torch.long, device=video.device)
        positions[:frames] = torch.arange(frames, device=video.device)
        x = self.attn1(sequences, context, positions) + as_sequences(video)

        text = text.repeat_interleave(height * width, dim=0)
        # The official code rotates the text keys too when their count happens to equal T.
        text_positions = torch.arange(frames, device=video.device) if text.shape[1] == frames else None
        x = self.attn2(self.norm2(x), text, text_positions) + x
        x = self.ff(self.norm3(x)) + x
        return x.reshape(batch, height, width, frames, channels).permute(0, 3, 1, 2, 4)


class TemporalTransformer3DModel(nn.Module):
    """GroupNorm → proj_in → one temporal block → proj_out → residual, alpha-blended with the input."""

    def __init__(self, channels: int, heads: int, cross_attention_dim: int, norm_num_groups: int = 32):
        super().__init__()
        self.norm = nn.GroupNorm(norm_num_groups, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, channels)
        self.transformer_blocks = nn.ModuleList([TemporalTransformerBlock(channels, heads, cross_attention_dim)])
        self.proj_out = nn.Linear(channels, channels)
        self.alpha = nn.Parameter(torch.ones(1))

    def forward(self, hidden_states: torch.Tensor, text: torch.Tensor, num_frames: int) -> torch.Tensor:
        """``hidden_states`` (B·T, C, H, W) video-major, ``text`` (B, S, D)."""
        video = self.norm(hidden_states).unflatten(0, (-1, num_frames)).permute(0, 1, 3, 4, 2)
        video = self.proj_in(video)
        for block in self.transformer_blocks:
            video = block(video, text)
        out = self.proj_out(video).permute(0, 1, 4, 2, 3).flatten(0, 1) + hidden_states
        return alpha_blend(self.alpha, hidden_states, out)
