"""ConsistI2V's temporal convolution (``conv3ds.j`` in the checkpoint, official class TemporalResnetBlock)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

UNUSED_TIME_EMBEDDING_WIDTH = 512  # the width of the stored, never-used ``time_emb_proj``


def alpha_blend(alpha: torch.Tensor, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """``α·before + (1−α)·after`` with α clamped to [0, 1]; α = 1 (the initial value) is the identity."""
    alpha = alpha.clamp(0.0, 1.0)
    return alpha * before + (1.0 - alpha) * after


def frames_to_video(hidden_states: torch.Tensor, num_frames: int) -> torch.Tensor:
    """(B·T, C, H, W), video-major rows -> (B, C, T, H, W)."""
    return hidden_states.unflatten(0, (-1, num_frames)).transpose(1, 2)


def video_to_frames(video: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) -> (B·T, C, H, W)."""
    return video.transpose(1, 2).flatten(0, 1)


class TemporalResnetBlock(nn.Module):
    """Two (3,1,1) convolutions over frames with a residual, alpha-blended with the input.

    GroupNorm uses 32 groups (fixed, not the UNet's ``norm_num_groups``) and eps 1e-6, and
    normalises each frame on its own. ``time_emb_proj`` is in the checkpoint but the forward never uses it.
    """

    def __init__(self, channels: int, groups: int = 32, eps: float = 1e-6):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, channels, eps=eps)
        self.conv1 = nn.Conv3d(channels, channels, kernel_size=(3, 1, 1), padding=(1, 0, 0))
        self.time_emb_proj = nn.Linear(UNUSED_TIME_EMBEDDING_WIDTH, channels)
        self.norm2 = nn.GroupNorm(groups, channels, eps=eps)
        self.conv2 = nn.Conv3d(channels, channels, kernel_size=(3, 1, 1), padding=(1, 0, 0))
        self.alpha = nn.Parameter(torch.ones(1))

    def forward(self, hidden_states: torch.Tensor, num_frames: int) -> torch.Tensor:
        h = self.conv1(frames_to_video(F.silu(self.norm1(hidden_states)), num_frames))
        h = self.conv2(frames_to_video(F.silu(self.norm2(video_to_frames(h))), num_frames))
        return alpha_blend(self.alpha, hidden_states, hidden_states + video_to_frames(h))
