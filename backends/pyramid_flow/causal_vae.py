"""CausalVideoVAE: Pyramid Flow's causal 3-D video VAE, keyed like ``causal_video_vae/``.

8x in space and time (F = 1 + 8k pixel frames <-> 1 + k latent frames). Every temporal conv is
causal (two zero frames in front), norms and the mid-block attention work frame by frame, so a
video can be decoded chunk by chunk: each conv remembers the last input frames it saw in a
``cache`` dict (module -> frames) and uses them in place of the zero padding of the next chunk.
A missing entry means "this is the start of the video". The official ``temporal_chunk`` and
``enable_tiling`` paths (tiles blended with linear ramps) are reproduced, plus a streaming
decoder that turns each new latent frame into its 1 or 8 new pixel frames exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention
from torch import nn

TILE_OVERLAP = 0.25
LOGVAR_RANGE = (-30.0, 20.0)


@dataclass(frozen=True)
class CausalVaeConfig:
    encoder_in_channels: int = 3
    encoder_out_channels: int = 16
    encoder_layers_per_block: tuple[int, ...] = (2, 2, 2, 2)
    encoder_block_out_channels: tuple[int, ...] = (128, 256, 512, 512)
    encoder_spatial_down_sample: tuple[bool, ...] = (True, True, True, False)
    encoder_temporal_down_sample: tuple[bool, ...] = (True, True, True, False)
    encoder_norm_num_groups: int = 32
    encoder_double_z: bool = True
    decoder_in_channels: int = 16
    decoder_out_channels: int = 3
    decoder_layers_per_block: tuple[int, ...] = (3, 3, 3, 3)
    decoder_block_out_channels: tuple[int, ...] = (128, 256, 512, 512)
    decoder_spatial_up_sample: tuple[bool, ...] = (True, True, True, False)
    decoder_temporal_up_sample: tuple[bool, ...] = (True, True, True, False)
    decoder_norm_num_groups: int = 32
    downsample_scale: int = 8

    @classmethod
    def from_dict(cls, config: dict) -> "CausalVaeConfig":
        values = {}
        for f in fields(cls):
            if f.name in config:
                value = config[f.name]
                values[f.name] = tuple(value) if isinstance(value, list) else value
        if config.get("interpolate", False):
            raise ValueError("CausalVideoVAE with interpolate=true is not supported (the released VAE uses false)")
        return cls(**values)


class CausalConv3d(nn.Module):
    """Conv3d with causal time padding (k−1 frames in front) and symmetric spatial padding."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride=1):
        super().__init__()
        stride = (stride, 1, 1) if isinstance(stride, int) else tuple(stride)
        self.time_pad = kernel_size - 1
        self.context = kernel_size - stride[0]  # frames of the previous chunk the next one needs
        self.space_pad = kernel_size // 2
        self.conv = nn.Conv3d(in_channels, out_channels, kernel_size, stride=stride)

    def forward(self, x: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        p = self.space_pad
        if cache is not None and self in cache:
            x = torch.cat([cache[self], F.pad(x, (p, p, p, p, 0, 0))], dim=2)
        else:
            x = F.pad(x, (p, p, p, p, self.time_pad, 0))
        if cache is not None and self.context > 0:
            cache[self] = x[:, :, -self.context :]
        return self.conv(x)


class CausalGroupNorm(nn.GroupNorm):
    """GroupNorm applied to every frame on its own."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        y = super().forward(x.transpose(1, 2).reshape(b * t, c, h, w))
        return y.reshape(b, t, c, h, w).transpose(1, 2)


class CausalResnetBlock3D(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, groups: int, eps: float = 1e-6):
        super().__init__()
        self.norm1 = CausalGroupNorm(groups, in_channels, eps=eps)
        self.conv1 = CausalConv3d(in_channels, out_channels)
        self.norm2 = CausalGroupNorm(groups, out_channels, eps=eps)
        self.conv2 = CausalConv3d(out_channels, out_channels)
        self.conv_shortcut = CausalConv3d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)), cache)
        h = self.conv2(F.silu(self.norm2(h)), cache)
        if self.conv_shortcut is not None:
            x = self.conv_shortcut(x, cache)
        return x + h


class CausalMidBlock(nn.Module):
    """Resnet, single-head spatial self-attention per frame, resnet."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.resnets = nn.ModuleList([CausalResnetBlock3D(channels, channels, groups) for _ in range(2)])
        self.attentions = nn.ModuleList(
            [
                Attention(
                    channels, heads=1, dim_head=channels, eps=1e-6, norm_num_groups=groups, residual_connection=True,
                    bias=True, upcast_softmax=True, _from_deprecated_attn_block=True,
                )
            ]
        )

    def forward(self, x: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        x = self.resnets[0](x, cache)
        b, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        x = self.attentions[0](frames).reshape(b, t, c, h, w).transpose(1, 2)
        return self.resnets[1](x, cache)


class _Resample(nn.Module):
    """Holds the conv as ``.conv`` (key ``...samplers.0.conv.conv.weight``)."""

    def __init__(self, in_channels: int, out_channels: int, stride=1):
        super().__init__()
        self.conv = CausalConv3d(in_channels, out_channels, 3, stride)


class SpatialDownsample(_Resample):
    def __init__(self, channels: int):
        super().__init__(channels, channels, (1, 2, 2))

    def forward(self, x, cache=None):
        return self.conv(x, cache)


class TemporalDownsample(_Resample):
    def __init__(self, channels: int):
        super().__init__(channels, channels, (2, 1, 1))

    def forward(self, x, cache=None):
        return self.conv(x, cache)


class SpatialUpsample(_Resample):
    """Conv to 4C, then depth-to-space (channel c·4 + 2·row + col)."""

    def __init__(self, channels: int):
        super().__init__(channels, channels * 4)

    def forward(self, x, cache=None):
        x = self.conv(x, cache)
        b, c4, t, h, w = x.shape
        x = x.reshape(b, c4 // 4, 2, 2, t, h, w).permute(0, 1, 4, 5, 2, 6, 3)
        return x.reshape(b, c4 // 4, t, 2 * h, 2 * w)


class TemporalUpsample(_Resample):
    """Conv to 2C, channel c·2 + p becomes frame 2t + p; the first frame of a video is dropped."""

    def __init__(self, channels: int):
        super().__init__(channels, channels * 2)

    def forward(self, x, cache=None):
        start = cache is None or self.conv not in cache
        x = self.conv(x, cache)
        b, c2, t, h, w = x.shape
        x = x.reshape(b, c2 // 2, 2, t, h, w).permute(0, 1, 3, 2, 4, 5).reshape(b, c2 // 2, 2 * t, h, w)
        return x[:, :, 1:] if start else x


class _Block(nn.Module):
    """Resnets, then the spatial and the temporal resampler (each optional)."""

    def __init__(self, in_channels, out_channels, num_layers, groups):
        super().__init__()
        self.resnets = nn.ModuleList(
            CausalResnetBlock3D(in_channels if i == 0 else out_channels, out_channels, groups) for i in range(num_layers)
        )

    def forward(self, x, cache=None):
        for module in (*self.resnets, *self.resamplers()):
            x = module(x, cache)
        return x


class DownEncoderBlockCausal3D(_Block):
    def __init__(self, in_channels, out_channels, num_layers, groups, spatial: bool, temporal: bool):
        super().__init__(in_channels, out_channels, num_layers, groups)
        self.downsamplers = nn.ModuleList([SpatialDownsample(out_channels)] if spatial else [])
        self.temporal_downsamplers = nn.ModuleList([TemporalDownsample(out_channels)] if temporal else [])

    def resamplers(self):
        return (*self.downsamplers, *self.temporal_downsamplers)


class UpDecoderBlockCausal3D(_Block):
    def __init__(self, in_channels, out_channels, num_layers, groups, spatial: bool, temporal: bool):
        super().__init__(in_channels, out_channels, num_layers, groups)
        self.upsamplers = nn.ModuleList([SpatialUpsample(out_channels)] if spatial else [])
        self.temporal_upsamplers = nn.ModuleList([TemporalUpsample(out_channels)] if temporal else [])

    def resamplers(self):
        return (*self.upsamplers, *self.temporal_upsamplers)


class CausalVaeEncoder(nn.Module):
    def __init__(self, c: CausalVaeConfig):
        super().__init__()
        widths, groups = c.encoder_block_out_channels, c.encoder_norm_num_groups
        self.conv_in = CausalConv3d(c.encoder_in_channels, widths[0])
        self.down_blocks = nn.ModuleList(
            DownEncoderBlockCausal3D(
                widths[max(i - 1, 0)], widths[i], c.encoder_layers_per_block[i], groups,
                c.encoder_spatial_down_sample[i], c.encoder_temporal_down_sample[i],
            )
            for i in range(len(widths))
        )
        self.mid_block = CausalMidBlock(widths[-1], groups)
        self.conv_norm_out = CausalGroupNorm(groups, widths[-1], eps=1e-6)
        out = 2 * c.encoder_out_channels if c.encoder_double_z else c.encoder_out_channels
        self.conv_out = CausalConv3d(widths[-1], out)

    def forward(self, x, cache=None):
        x = self.conv_in(x, cache)
        for block in self.down_blocks:
            x = block(x, cache)
        x = self.mid_block(x, cache)
        return self.conv_out(F.silu(self.conv_norm_out(x)), cache)


class CausalVaeDecoder(nn.Module):
    def __init__(self, c: CausalVaeConfig):
        super().__init__()
        widths, groups = tuple(reversed(c.decoder_block_out_channels)), c.decoder_norm_num_groups
        self.conv_in = CausalConv3d(c.decoder_in_channels, widths[0])
        self.mid_block = CausalMidBlock(widths[0], groups)
        self.up_blocks = nn.ModuleList(
            UpDecoderBlockCausal3D(
                widths[max(i - 1, 0)], widths[i], c.decoder_layers_per_block[i], groups,
                c.decoder_spatial_up_sample[i], c.decoder_temporal_up_sample[i],
            )
            for i in range(len(widths))
        )
        self.conv_norm_out = CausalGroupNorm(groups, widths[-1], eps=1e-6)
        self.conv_out = CausalConv3d(widths[-1], c.decoder_out_channels)

    def forward(self, z, cache=None):
        x = self.mid_block(self.conv_in(z, cache), cache)
        for block in self.up_blocks:
            x = block(x, cache)
        return self.conv_out(F.silu(self.conv_norm_out(x)), cache)


def temporal_chunks(num_frames: int, window: int) -> list[slice]:
    """The official chunking: [0, window + 1), then ``window`` frames at a time."""
    chunks, start = [slice(0, window + 1)], window + 1
    while start < num_frames:
        chunks.append(slice(start, start + window))
        start += window
    return chunks


def _blend(previous: torch.Tensor, tile: torch.Tensor, extent: int, dim: int) -> torch.Tensor:
    """In place: the first ``extent`` rows (dim −2) or columns (dim −1) of ``tile`` ramp in from ``previous``."""
    extent = min(previous.shape[dim], tile.shape[dim], extent)
    for y in range(extent):
        mix = previous.narrow(dim, previous.shape[dim] - extent + y, 1) * (1 - y / extent)
        tile.narrow(dim, y, 1).copy_(mix + tile.narrow(dim, y, 1) * (y / extent))
    return tile


def run_tiled(x: torch.Tensor, tile: int, step: int, extent: int, keep: int, fn) -> torch.Tensor:
    """Apply ``fn(tile_tensor, (row, col))`` to overlapping tiles, blend each with the already blended
    tile above and to its left, crop to ``keep`` and join (the official ``tiled_encode/decode``)."""
    rows = [
        [fn(x[..., i : i + tile, j : j + tile], (i, j)) for j in range(0, x.shape[-1], step)]
        for i in range(0, x.shape[-2], step)
    ]
    joined = []
    for r, row in enumerate(rows):
        for c, out in enumerate(row):
            if r > 0:
                _blend(rows[r - 1][c], out, extent, -2)
            if c > 0:
                _blend(row[c - 1], out, extent, -1)
        joined.append(torch.cat([out[..., :keep, :keep] for out in row], dim=-1))
    return torch.cat(joined, dim=-2)


class CausalVideoVAE(nn.Module):
    """The official ``CausalVideoVAE`` (state-dict keys one to one)."""

    def __init__(self, config: CausalVaeConfig):
        super().__init__()
        self.config = config
        self.encoder = CausalVaeEncoder(config)
        self.decoder = CausalVaeDecoder(config)
        latent = config.encoder_out_channels
        self.quant_conv = CausalConv3d(2 * latent, 2 * latent, 1)
        self.post_quant_conv = CausalConv3d(config.decoder_in_channels, config.decoder_in_channels, 1)

    @property
    def dtype(self) -> torch.dtype:
        return self.post_quant_conv.conv.weight.dtype

    # Encode: pixels (B, 3, 1 + 8k, H, W) in [-1, 1] -> posterior (mean, logvar) (B, C, 1 + k, H/8, W/8).
    def _encode(self, x, chunk: int | None, cache=None):
        if chunk is None:
            return self.quant_conv(self.encoder(x, cache), cache)
        cache = {}
        return torch.cat([self._encode(x[:, :, part], None, cache) for part in temporal_chunks(x.shape[2], chunk)], 2)

    def encode(self, x: torch.Tensor, chunk: int | None = None, tile: int | None = None):
        """(mean, logvar); ``chunk`` = temporal window in pixel frames, ``tile`` = tile size in pixels."""
        scale = self.config.downsample_scale
        if tile is not None and max(x.shape[-2:]) > tile:
            latent_tile = tile // scale
            extent = int(latent_tile * TILE_OVERLAP)
            moments = run_tiled(x, tile, int(tile * (1 - TILE_OVERLAP)), extent, latent_tile - extent,
                                lambda part, _: self._encode(part, chunk))
        else:
            moments = self._encode(x, chunk)
        mean, logvar = moments.chunk(2, dim=1)
        return mean, logvar.clamp(*LOGVAR_RANGE)

    # Decode: latents (B, C, 1 + k, h, w) -> pixels (B, 3, 1 + 8k, 8h, 8w).
    def _decode(self, z, chunk: int | None, cache=None):
        if chunk is None:
            return self.decoder(self.post_quant_conv(z, cache), cache)
        cache = {}
        return torch.cat([self._decode(z[:, :, part], None, cache) for part in temporal_chunks(z.shape[2], chunk)], 2)

    def decode(self, z: torch.Tensor, chunk: int | None = None, tile: int | None = None) -> torch.Tensor:
        """``chunk`` = temporal window in latent frames, ``tile`` = tile size in pixels."""
        tiling = self.tiling(z.shape[-2:], tile)
        if tiling is None:
            return self._decode(z, chunk)
        return run_tiled(z, *tiling, lambda part, _: self._decode(part, chunk))

    def tiling(self, latent_size, tile: int | None):
        """(tile, step, blend extent, keep) of a tiled decode of latents of ``latent_size``, or None."""
        if tile is None:
            return None
        latent_tile = tile // self.config.downsample_scale
        if max(latent_size) <= latent_tile:
            return None
        extent = int(tile * TILE_OVERLAP)
        return latent_tile, int(latent_tile * (1 - TILE_OVERLAP)), extent, tile - extent


class StreamingDecoder:
    """Decodes a video latent frame group by group, each exactly as the full decode would: the
    causal caches (one per tile) carry over between calls. Push latent frames in order."""

    def __init__(self, vae: CausalVideoVAE, tile: int | None = None):
        self.vae, self.tile = vae, tile
        self.caches: dict = {}

    def push(self, z: torch.Tensor) -> torch.Tensor:
        """New pixel frames for the latent frames ``z`` (1 for the video's first latent, 8 per later one)."""
        def decode_tile(part, where):
            cache = self.caches.setdefault(where, {})
            return self.vae.decoder(self.vae.post_quant_conv(part, cache), cache)

        tiling = self.vae.tiling(z.shape[-2:], self.tile)
        if tiling is None:
            return decode_tile(z, None)
        return run_tiled(z, *tiling, decode_tile)
