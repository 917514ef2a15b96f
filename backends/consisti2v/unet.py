"""ConsistI2V's VideoLDM UNet (official class ``VideoLDMUNet3DConditionModel``), our implementation.

SD2.1-base's UNet with temporal layers: a temporal conv after every resnet, a temporal
transformer after every spatial transformer outside the mid block, spatial self-attention
that also attends to the first frame, and a frame-stride embedding added to the time embedding.
The clean first-frame latent is joined on the frame axis in front of the noisy frames
("concat" mode); the output drops that slot again.

Constructed from the released ``unet/config.json`` (``from_unet_config``); the state-dict keys
are the official ones, so the released ``diffusion_pytorch_model.safetensors`` loads strictly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from .unet_blocks import LevelSpec, VideoDownBlock, VideoMidBlock, VideoUpBlock

CROSS_ATTENTION_BLOCKS = {"CrossAttnDownBlock2D", "CrossAttnUpBlock2D"}
PLAIN_BLOCKS = {"DownBlock2D", "UpBlock2D"}

# Config entries of the released file that only have one implemented (SD2.1 / ConsistI2V) value.
FIXED_CONFIG = {
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "act_fn": "silu",
    "center_input_sample": False,
    "only_cross_attention": False,
    "dual_cross_attention": False,
    "transformer_layers_per_block": 1,
    "mid_block_scale_factor": 1,
    "encoder_hid_dim": None,
    "encoder_hid_dim_type": None,
    "num_attention_heads": None,
    "class_embed_type": None,
    "addition_embed_type": None,
    "num_class_embeds": None,
    "resnet_time_scale_shift": "default",
    "resnet_skip_time_act": False,
    "resnet_out_scale_factor": 1.0,
    "time_embedding_type": "positional",
    "time_embedding_dim": None,
    "time_embedding_act_fn": None,
    "timestep_post_act": None,
    "time_cond_proj_dim": None,
    "conv_in_kernel": 3,
    "conv_out_kernel": 3,
    "attention_type": "default",
    "class_embeddings_concat": False,
    "cross_attention_norm": None,
    "use_temporal": True,
    "first_frame_condition_mode": "concat",
    "augment_temporal_attention": True,
    "temp_pos_embedding": "rotary",
    "use_frame_stride_condition": True,
}
# Entries that do not change the network (defaults, training-only, pipeline hints).
IGNORED_CONFIG = {
    "_class_name", "_diffusers_version", "_name_or_path", "sample_size", "dropout", "upcast_attention",
    "projection_class_embeddings_input_dim", "addition_time_embed_dim", "mid_block_only_cross_attention",
    "addition_embed_type_num_heads",
}


class VideoLDMUNet3DConditionModel(ModelMixin, ConfigMixin):
    """``forward(sample (B,4,T−1,H,W), timestep, encoder_hidden_states (B,S,D), first_frame_latents (B,4,1,H,W), frame_stride)``
    returns the noise prediction for the T−1 frames; T is the config's ``n_frames``."""

    @register_to_config
    def __init__(
        self,
        in_channels: int = 4,
        out_channels: int = 4,
        down_block_types: Sequence[str] = ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types: Sequence[str] = ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        block_out_channels: Sequence[int] = (320, 640, 1280, 1280),
        layers_per_block: int = 2,
        downsample_padding: int = 1,
        norm_num_groups: int = 32,
        norm_eps: float = 1e-5,
        cross_attention_dim: int = 1024,
        attention_head_dim: int | Sequence[int] = (5, 10, 20, 20),
        use_linear_projection: bool = True,
        flip_sin_to_cos: bool = True,
        freq_shift: int = 0,
        n_frames: int = 16,
        n_temp_heads: int = 8,
        sample_size: int = 64,
    ):
        super().__init__()
        levels = len(block_out_channels)
        # Legacy diffusers naming: attention_head_dim is the number of spatial heads per level.
        heads = [attention_head_dim] * levels if isinstance(attention_head_dim, int) else list(attention_head_dim)
        for name, types, allowed in (("down_block_types", down_block_types, {"CrossAttnDownBlock2D", "DownBlock2D"}),
                                     ("up_block_types", up_block_types, {"CrossAttnUpBlock2D", "UpBlock2D"})):
            unknown = set(types) - allowed
            if unknown or len(types) != levels:
                raise ValueError(f"{name}={list(types)}: expected {levels} of {sorted(allowed)}")
        if len(heads) != levels:
            raise ValueError(f"attention_head_dim={attention_head_dim}: expected one head count per level ({levels})")

        width, temb_channels = block_out_channels[0], block_out_channels[0] * 4
        spec = LevelSpec(temb_channels, norm_num_groups, norm_eps, cross_attention_dim, n_frames, n_temp_heads,
                         use_linear_projection)
        self.conv_in = nn.Conv2d(in_channels, width, kernel_size=3, padding=1)
        self.time_proj = Timesteps(width, flip_sin_to_cos, freq_shift)
        self.time_embedding = TimestepEmbedding(width, temb_channels)
        self.frame_stride_embedding = TimestepEmbedding(width, temb_channels)

        self.down_blocks = nn.ModuleList()
        for i, block_type in enumerate(down_block_types):
            self.down_blocks.append(VideoDownBlock(
                block_out_channels[max(i - 1, 0)], block_out_channels[i], layers_per_block,
                heads[i] if block_type in CROSS_ATTENTION_BLOCKS else None,
                add_downsample=i < levels - 1, downsample_padding=downsample_padding, spec=spec,
            ))
        self.mid_block = VideoMidBlock(block_out_channels[-1], heads[-1], spec)

        reversed_channels, reversed_heads = list(reversed(block_out_channels)), list(reversed(heads))
        self.up_blocks = nn.ModuleList()
        for i, block_type in enumerate(up_block_types):
            self.up_blocks.append(VideoUpBlock(
                reversed_channels[min(i + 1, levels - 1)], reversed_channels[max(i - 1, 0)], reversed_channels[i],
                layers_per_block + 1, reversed_heads[i] if block_type in CROSS_ATTENTION_BLOCKS else None,
                add_upsample=i < levels - 1, spec=spec,
            ))

        self.conv_norm_out = nn.GroupNorm(norm_num_groups, width, eps=norm_eps)
        self.conv_out = nn.Conv2d(width, out_channels, kernel_size=3, padding=1)

    @classmethod
    def from_unet_config(cls, config: Mapping) -> "VideoLDMUNet3DConditionModel":
        """Build from a released-style ``config.json`` dict, refusing entries we do not implement."""
        return cls(**unet_init_kwargs(config))

    def _embed(self, value, rows: int, batch: int, embedding: TimestepEmbedding, dtype) -> torch.Tensor:
        """Sinusoidal projection + MLP of a scalar, per-video (B,) or per-row (B·T,) value."""
        value = torch.as_tensor(value, device=self.conv_in.weight.device)
        value = value.reshape(-1)
        if value.numel() == 1:
            value = value.expand(rows)
        elif value.numel() == batch:
            value = value.repeat_interleave(rows // batch)
        elif value.numel() != rows:
            raise ValueError(f"got {value.numel()} timestep/frame-stride values for {batch} videos of {rows // batch} frames")
        return embedding(self.time_proj(value).to(dtype))

    def forward(self, sample, timestep, encoder_hidden_states, first_frame_latents, frame_stride) -> torch.Tensor:
        # 1. Join the conditioning frame in front and fold frames into the batch (video-major).
        video = torch.cat((first_frame_latents, sample), dim=2)
        batch, _, frames, height, width = video.shape
        if frames != self.config.n_frames:
            raise ValueError(
                f"sample has {sample.shape[2]} frames; this UNet takes n_frames - 1 = {self.config.n_frames - 1}"
            )
        hidden_states = video.transpose(1, 2).flatten(0, 1)
        text = encoder_hidden_states.repeat_interleave(frames, dim=0)

        # 2. Time + frame-stride embedding, one row per (video, frame).
        rows = batch * frames
        temb = self._embed(timestep, rows, batch, self.time_embedding, hidden_states.dtype)
        temb = temb + self._embed(frame_stride, rows, batch, self.frame_stride_embedding, hidden_states.dtype)

        # 3. Down, mid, up.
        hidden_states = self.conv_in(hidden_states)
        skips = [hidden_states]
        for block in self.down_blocks:
            hidden_states, block_skips = block(hidden_states, temb, text)
            skips += block_skips
        hidden_states = self.mid_block(hidden_states, temb, text)
        for block in self.up_blocks:
            level_skips, skips = skips[-len(block.resnets):], skips[: -len(block.resnets)]
            upsample_size = skips[-1].shape[2:] if skips else None
            hidden_states = block(hidden_states, level_skips, temb, text, upsample_size)

        # 4. Out, unfold the frames, drop the conditioning slot.
        hidden_states = self.conv_out(F.silu(self.conv_norm_out(hidden_states)))
        return hidden_states.unflatten(0, (batch, frames)).transpose(1, 2)[:, :, 1:]


def unet_init_kwargs(config: Mapping) -> dict:
    """Constructor arguments from a config dict; ValueError naming any entry we cannot honour."""
    import inspect

    accepted = set(inspect.signature(VideoLDMUNet3DConditionModel.__init__).parameters) - {"self"}
    unknown = sorted(set(config) - accepted - set(FIXED_CONFIG) - IGNORED_CONFIG)
    if unknown:
        raise ValueError(f"UNet config has entries this implementation does not know: {', '.join(unknown)}")
    for key, value in FIXED_CONFIG.items():
        if key in config and _normalised(config[key]) != _normalised(value):
            raise ValueError(f"UNet config {key}={config[key]!r} is not supported (only {value!r})")
    kwargs = {key: value for key, value in config.items() if key in accepted}
    return kwargs


def _normalised(value):
    return list(value) if isinstance(value, tuple) else value
