"""The VideoLDM UNet's levels: SD2.1's down / mid / up blocks with a temporal conv after every
resnet and a temporal transformer after every spatial transformer (not in the mid block).

Key layout per block: ``resnets.j``, ``conv3ds.j``, ``attentions.j``, ``tempo_attns.j``,
``downsamplers.0.conv`` / ``upsamplers.0.conv``, as in the official checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.models.resnet import Downsample2D, ResnetBlock2D, Upsample2D
from diffusers.models.transformers.transformer_2d import Transformer2DModel
from torch import nn

from .attention_processor import install_first_frame_attention
from .temporal_attention import TemporalTransformer3DModel
from .temporal_conv import TemporalResnetBlock


@dataclass(frozen=True)
class LevelSpec:
    """What every level shares: widths of the embeddings and norms, heads, frames."""

    temb_channels: int
    norm_num_groups: int
    norm_eps: float
    cross_attention_dim: int
    num_frames: int
    temporal_heads: int
    use_linear_projection: bool = True


def spatial_transformer(channels: int, heads: int, spec: LevelSpec) -> Transformer2DModel:
    transformer = Transformer2DModel(
        heads, channels // heads, in_channels=channels, cross_attention_dim=spec.cross_attention_dim,
        norm_num_groups=spec.norm_num_groups, use_linear_projection=spec.use_linear_projection,
    )
    install_first_frame_attention(transformer, spec.num_frames)
    return transformer


def resnet(in_channels: int, out_channels: int, spec: LevelSpec) -> ResnetBlock2D:
    return ResnetBlock2D(
        in_channels=in_channels, out_channels=out_channels, temb_channels=spec.temb_channels,
        groups=spec.norm_num_groups, eps=spec.norm_eps,
    )


class VideoLevel(nn.Module):
    """Layers of resnet → conv3d [→ spatial transformer → temporal transformer]."""

    def __init__(self, in_channels: list[int], out_channels: int, heads: int | None, spec: LevelSpec):
        super().__init__()
        self.num_frames = spec.num_frames
        self.resnets = nn.ModuleList(resnet(c, out_channels, spec) for c in in_channels)
        self.conv3ds = nn.ModuleList(TemporalResnetBlock(out_channels) for _ in in_channels)
        if heads is None:
            self.attentions = self.tempo_attns = None
        else:
            self.attentions = nn.ModuleList(spatial_transformer(out_channels, heads, spec) for _ in in_channels)
            self.tempo_attns = nn.ModuleList(
                TemporalTransformer3DModel(out_channels, spec.temporal_heads, spec.cross_attention_dim, spec.norm_num_groups)
                for _ in in_channels
            )

    def layer(self, j: int, hidden_states: torch.Tensor, temb: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Layer ``j``; ``text`` is (B·T, S, D), one copy per frame."""
        hidden_states = self.conv3ds[j](self.resnets[j](hidden_states, temb), self.num_frames)
        if self.attentions is not None:
            hidden_states = self.attentions[j](hidden_states, encoder_hidden_states=text, return_dict=False)[0]
            hidden_states = self.tempo_attns[j](hidden_states, text[:: self.num_frames], self.num_frames)
        return hidden_states


class VideoDownBlock(VideoLevel):
    """``CrossAttnDownBlock2D`` (heads given) or ``DownBlock2D`` (heads None) with the temporal layers."""

    def __init__(self, in_channels: int, out_channels: int, num_layers: int, heads: int | None,
                 add_downsample: bool, downsample_padding: int, spec: LevelSpec):
        super().__init__([in_channels] + [out_channels] * (num_layers - 1), out_channels, heads, spec)
        self.downsamplers = (
            nn.ModuleList([Downsample2D(out_channels, use_conv=True, out_channels=out_channels, padding=downsample_padding, name="op")])
            if add_downsample else None
        )

    def forward(self, hidden_states, temb, text) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = []
        for j in range(len(self.resnets)):
            hidden_states = self.layer(j, hidden_states, temb, text)
            skips.append(hidden_states)
        if self.downsamplers is not None:
            hidden_states = self.downsamplers[0](hidden_states)
            skips.append(hidden_states)
        return hidden_states, skips


class VideoUpBlock(VideoLevel):
    """``CrossAttnUpBlock2D`` (heads given) or ``UpBlock2D`` (heads None) with the temporal layers."""

    def __init__(self, in_channels: int, prev_output_channels: int, out_channels: int, num_layers: int,
                 heads: int | None, add_upsample: bool, spec: LevelSpec):
        layer_inputs = [
            (prev_output_channels if j == 0 else out_channels) + (in_channels if j == num_layers - 1 else out_channels)
            for j in range(num_layers)
        ]
        super().__init__(layer_inputs, out_channels, heads, spec)
        self.upsamplers = nn.ModuleList([Upsample2D(out_channels, use_conv=True, out_channels=out_channels)]) if add_upsample else None

    def forward(self, hidden_states, skips: list[torch.Tensor], temb, text, upsample_size=None) -> torch.Tensor:
        """``skips`` are this level's skip tensors in the order the down path made them."""
        for j in range(len(self.resnets)):
            hidden_states = torch.cat((hidden_states, skips[-1 - j]), dim=1)
            hidden_states = self.layer(j, hidden_states, temb, text)
        if self.upsamplers is not None:
            hidden_states = self.upsamplers[0](hidden_states, upsample_size)
        return hidden_states


class VideoMidBlock(nn.Module):
    """``UNetMidBlock2DCrossAttn``: resnet → conv3d → spatial transformer → resnet → conv3d (no temporal transformer)."""

    def __init__(self, channels: int, heads: int, spec: LevelSpec):
        super().__init__()
        self.num_frames = spec.num_frames
        self.resnets = nn.ModuleList([resnet(channels, channels, spec), resnet(channels, channels, spec)])
        self.conv3ds = nn.ModuleList([TemporalResnetBlock(channels), TemporalResnetBlock(channels)])
        self.attentions = nn.ModuleList([spatial_transformer(channels, heads, spec)])

    def forward(self, hidden_states, temb, text) -> torch.Tensor:
        hidden_states = self.conv3ds[0](self.resnets[0](hidden_states, temb), self.num_frames)
        hidden_states = self.attentions[0](hidden_states, encoder_hidden_states=text, return_dict=False)[0]
        return self.conv3ds[1](self.resnets[1](hidden_states, temb), self.num_frames)
