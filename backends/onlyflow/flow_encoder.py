"""OnlyFlow's flow encoder: optical flow -> four multi-scale motion features.

The encoder follows the T2I-Adapter design with temporal attention added (OnlyFlow, Koroglu et
al. 2024, Sec. 3.2): the flow (two channels, pixel units) is folded into channels by a
PixelUnshuffle of 8, so level 0 sits at the latent resolution; then four levels of
(ResNet block, temporal transformer) pairs, each level after the first halving the resolution,
give one feature per level at the resolution and width of the matching UNet block.

Modules and parameter names follow the official checkpoint's ``flow_encoder_state_dict``
(``encoder_conv_in``, ``encoder_down_conv_blocks.{level}.{i}``,
``encoder_down_attention_blocks.{level}.{i}``), so it loads strictly.

Layouts: the input flow is (B, 2, F, H, W) with channel 0 = x and 1 = y displacement; every
feature is returned as (B, C_level, F, H / 8 / 2**level, W / 8 / 2**level). The temporal
attention has a positional table of ``num_positional_embeddings`` (16) rows, so one pass takes
at most that many frames; ``encode_flow`` covers longer clips with overlapping windows.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from diffusers.models.attention import FeedForward
from diffusers.models.attention_processor import Attention
from diffusers.models.embeddings import SinusoidalPositionalEmbedding
from torch import nn


class FlowResnetBlock(nn.Module):
    """T2I-Adapter ResNet block: [avg-pool 2x2] -> [1x1 width change] -> x + block2(relu(block1(x)))."""

    def __init__(self, in_channels: int, out_channels: int, down: bool, ksize: int = 1):
        super().__init__()
        self.down = nn.AvgPool2d(kernel_size=2, stride=2) if down else None
        self.in_conv = (
            nn.Conv2d(in_channels, out_channels, ksize, padding=ksize // 2) if in_channels != out_channels else None
        )
        self.block1 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.act = nn.ReLU()
        self.block2 = nn.Conv2d(out_channels, out_channels, ksize, padding=ksize // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down is not None:
            x = self.down(x)
        if self.in_conv is not None:
            x = self.in_conv(x)
        return x + self.block2(self.act(self.block1(x)))


class TemporalTransformerBlock(nn.Module):
    """Pre-norm self-attention over frames, then a GEGLU feed-forward; no cross-attention.

    Input and output are sequences over frames, (B*h*w, F, C).
    """

    def __init__(self, dim: int, num_heads: int, num_positional_embeddings: int):
        super().__init__()
        self.pos_embed = SinusoidalPositionalEmbedding(dim, max_seq_length=num_positional_embeddings)
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(query_dim=dim, heads=num_heads, dim_head=dim // num_heads, bias=False, out_bias=True)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, activation_fn="geglu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn1(self.pos_embed(self.norm1(x)))
        return x + self.ff(self.norm3(x))


def frames_to_sequences(x: torch.Tensor, num_frames: int) -> torch.Tensor:
    """((B*F), C, h, w) -> (B*h*w, F, C), sequence index (b*h + y)*w + x, like the motion modules."""
    batch_frames, channels, height, width = x.shape
    x = x.reshape(batch_frames // num_frames, num_frames, channels, height, width)
    return x.permute(0, 3, 4, 1, 2).reshape(-1, num_frames, channels)


def sequences_to_frames(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Inverse of ``frames_to_sequences``."""
    rows, num_frames, channels = x.shape
    x = x.reshape(rows // (height * width), height, width, num_frames, channels)
    return x.permute(0, 3, 4, 1, 2).reshape(-1, channels, height, width)


class FlowEncoder(nn.Module):
    """Optical flow (B, 2, F, H, W) -> one feature (B, C_i, F, h_i, w_i) per level i.

    Arguments are those of the official constructor. Only the released configuration's
    variants are implemented (``sk=True``, ``use_conv=False``, ``compression_factor=1``,
    sinusoidal positions); ``rescale_output_factor`` and ``checkpointing`` are accepted and, as
    in the official code for this configuration, change nothing.
    """

    def __init__(
        self,
        downscale_factor: int = 8,
        channels: Sequence[int] = (320, 640, 1280, 1280),
        nums_rb: int = 2,
        ksize: int = 1,
        sk: bool = True,
        use_conv: bool = False,
        compression_factor: int = 1,
        temporal_attention_nhead: int = 8,
        positional_embeddings: str = "sinusoidal",
        num_positional_embeddings: int = 16,
        rescale_output_factor: float = 1.0,
        checkpointing: bool = False,
    ):
        super().__init__()
        unsupported = {
            "sk": (sk, True),
            "use_conv": (use_conv, False),
            "compression_factor": (compression_factor, 1),
            "positional_embeddings": (positional_embeddings, "sinusoidal"),
        }
        for name, (value, supported) in unsupported.items():
            if value != supported:
                raise ValueError(f"FlowEncoder: {name}={value!r} is not supported (only {supported!r}, as released)")
        self.channels = list(channels)
        self.downscale_factor = downscale_factor
        self.num_positional_embeddings = num_positional_embeddings

        self.unshuffle = nn.PixelUnshuffle(downscale_factor)
        self.encoder_conv_in = nn.Conv2d(2 * downscale_factor**2, self.channels[0], 3, padding=1)
        self.encoder_down_conv_blocks = nn.ModuleList()
        self.encoder_down_attention_blocks = nn.ModuleList()
        for level, width in enumerate(self.channels):
            previous = self.channels[max(level - 1, 0)]
            self.encoder_down_conv_blocks.append(
                nn.ModuleList(
                    FlowResnetBlock(previous if i == 0 else width, width, down=level > 0 and i == 0, ksize=ksize)
                    for i in range(nums_rb)
                )
            )
            self.encoder_down_attention_blocks.append(
                nn.ModuleList(
                    TemporalTransformerBlock(width, temporal_attention_nhead, num_positional_embeddings)
                    for _ in range(nums_rb)
                )
            )

    def forward(self, flow: torch.Tensor) -> list[torch.Tensor]:
        batch, _, num_frames, height, width = flow.shape
        if num_frames > self.num_positional_embeddings:
            raise ValueError(
                f"FlowEncoder takes at most {self.num_positional_embeddings} frames per pass, got {num_frames}; "
                "use encode_flow() for longer clips"
            )
        # Fold frames into the batch: (B*F, 2, H, W), frames of one video contiguous.
        x = flow.transpose(1, 2).reshape(batch * num_frames, 2, height, width)
        x = self.encoder_conv_in(self.unshuffle(x))
        features = []
        for conv_blocks, attention_blocks in zip(self.encoder_down_conv_blocks, self.encoder_down_attention_blocks):
            for resnet, temporal in zip(conv_blocks, attention_blocks):
                x = resnet(x)
                h, w = x.shape[-2:]
                x = sequences_to_frames(temporal(frames_to_sequences(x, num_frames)), h, w)
            features.append(x.reshape(batch, num_frames, *x.shape[1:]).transpose(1, 2))
        return features


def flow_windows(num_frames: int, context_length: int, stride: int) -> list[tuple[int, int]]:
    """Encoder windows as in the official pipeline: starts 0, stride, 2*stride, ... < num_frames,
    each at most ``context_length`` frames (the last ones shorter)."""
    if num_frames <= context_length:
        return [(0, num_frames)]
    return [(start, min(start + context_length, num_frames)) for start in range(0, num_frames, stride)]


@torch.no_grad()
def encode_flow(
    encoder: FlowEncoder, flow: torch.Tensor, context_length: int = 16, stride: int = 12
) -> list[torch.Tensor]:
    """Encode a clip of any length: windows of at most ``context_length`` frames, features summed
    into full-length buffers and each frame divided by the number of windows that covered it."""
    if not 1 <= context_length <= encoder.num_positional_embeddings:
        raise ValueError(f"context_length must be in 1..{encoder.num_positional_embeddings}, got {context_length}")
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    num_frames = flow.shape[2]
    windows = flow_windows(num_frames, context_length, stride)
    if len(windows) == 1:
        return encoder(flow)
    sums: list[torch.Tensor] | None = None
    counts = torch.zeros(num_frames, dtype=flow.dtype, device=flow.device)
    for start, end in windows:
        window_features = encoder(flow[:, :, start:end])
        if sums is None:
            sums = [f.new_zeros(f.shape[:2] + (num_frames,) + f.shape[3:]) for f in window_features]
        for total, feature in zip(sums, window_features):
            total[:, :, start:end] += feature
        counts[start:end] += 1
    return [total / counts.view(1, 1, -1, 1, 1) for total in sums]
