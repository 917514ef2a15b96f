"""The taming-transformers VQ autoencoder (VQGAN generator) as RIVER uses it.

Keys follow the official `VQModel`: `encoder.*`, `decoder.*`, `quantize.embedding.weight`,
`quant_conv.*`, `post_quant_conv.*`. RIVER trains and conditions on the *pre-quantisation*
latents (`encode` stops after `quant_conv`); `decode` snaps to the nearest codebook entry first.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .vector_quantizer import VectorQuantizer

# The hard-coded configurations of the official code (`config:` in the YAML picks one).
TAMING_CONFIGS: dict[str, dict] = {
    # BAIR 64x64 and KTH: 64x64 images -> 4 x 8 x 8 latents.
    "f8_small": dict(
        embed_dim=4, n_embed=16384, double_z=False, z_channels=4, resolution=64, in_channels=3,
        out_ch=3, ch=128, ch_mult=[1, 2, 2, 4], num_res_blocks=2, attn_resolutions=[16], dropout=0.0,
    ),
    # BAIR 256x256: -> 8 x 16 x 16 latents.
    "f16": dict(
        embed_dim=8, n_embed=16384, double_z=False, z_channels=8, resolution=256, in_channels=3,
        out_ch=3, ch=128, ch_mult=[1, 1, 2, 2, 4], num_res_blocks=2, attn_resolutions=[16], dropout=0.0,
    ),
}


def _group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    """GroupNorm-swish-conv twice, plus a 1x1 `nin_shortcut` when the width changes."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float):
        super().__init__()
        self.norm1 = _group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = _group_norm(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        if hasattr(self, "nin_shortcut"):
            x = self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    """Single-head spatial self-attention with 1x1-conv projections and a residual add."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = _group_norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.norm(x)
        q = self.q(y).reshape(b, c, h * w).transpose(1, 2)  # b, hw, c
        k = self.k(y).reshape(b, c, h * w)  # b, c, hw
        v = self.v(y).reshape(b, c, h * w)
        weights = torch.softmax(torch.bmm(q, k) * c ** -0.5, dim=2)  # b, hw(query), hw(key)
        out = torch.bmm(v, weights.transpose(1, 2)).reshape(b, c, h, w)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    """Stride-2 3x3 conv with the asymmetric (right/bottom) padding of the original."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Level(nn.Module):
    """One resolution level: `block.*`, `attn.*` and an optional `downsample` / `upsample`."""

    def __init__(self):
        super().__init__()
        self.block = nn.ModuleList()
        self.attn = nn.ModuleList()


class _Mid(nn.Module):
    def __init__(self, channels: int, dropout: float):
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, dropout)
        self.attn_1 = AttnBlock(channels)
        self.block_2 = ResnetBlock(channels, channels, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


class Encoder(nn.Module):
    def __init__(self, *, ch, ch_mult, num_res_blocks, attn_resolutions, dropout, resolution, in_channels,
                 z_channels, double_z, **_):
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)
        widths = [ch * m for m in [1, *ch_mult]]
        # Attention placement follows the configured `resolution`, not the actual image size.
        current_res = resolution
        self.down = nn.ModuleList()
        for i_level in range(len(ch_mult)):
            level = _Level()
            block_in, block_out = widths[i_level], widths[i_level + 1]
            for _ in range(num_res_blocks):
                level.block.append(ResnetBlock(block_in, block_out, dropout))
                block_in = block_out
                if current_res in attn_resolutions:
                    level.attn.append(AttnBlock(block_in))
            if i_level != len(ch_mult) - 1:
                level.downsample = Downsample(block_in)
                current_res //= 2
            self.down.append(level)
        self.mid = _Mid(block_in, dropout)
        self.norm_out = _group_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, 2 * z_channels if double_z else z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            for i, block in enumerate(level.block):
                h = block(h)
                if len(level.attn) > 0:
                    h = level.attn[i](h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, *, ch, out_ch, ch_mult, num_res_blocks, attn_resolutions, dropout, resolution,
                 z_channels, **_):
        super().__init__()
        block_in = ch * ch_mult[-1]
        current_res = resolution // 2 ** (len(ch_mult) - 1)
        self.conv_in = nn.Conv2d(z_channels, block_in, 3, padding=1)
        self.mid = _Mid(block_in, dropout)
        levels = []
        for i_level in reversed(range(len(ch_mult))):
            level = _Level()
            block_out = ch * ch_mult[i_level]
            for _ in range(num_res_blocks + 1):
                level.block.append(ResnetBlock(block_in, block_out, dropout))
                block_in = block_out
                if current_res in attn_resolutions:
                    level.attn.append(AttnBlock(block_in))
            if i_level != 0:
                level.upsample = Upsample(block_in)
                current_res *= 2
            levels.insert(0, level)  # stored low index = high resolution, as in the checkpoint
        self.up = nn.ModuleList(levels)
        self.norm_out = _group_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, out_ch, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            for i, block in enumerate(level.block):
                h = block(h)
                if len(level.attn) > 0:
                    h = level.attn[i](h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))  # no tanh, as in taming


class VQModel(nn.Module):
    """taming `VQModel`: encoder -> quant_conv -> (quantise) -> post_quant_conv -> decoder."""

    def __init__(self, ddconfig: dict):
        super().__init__()
        self.ddconfig = dict(ddconfig)
        self.encoder = Encoder(**ddconfig)
        self.decoder = Decoder(**ddconfig)
        self.quantize = VectorQuantizer(ddconfig["n_embed"], ddconfig["embed_dim"])
        self.quant_conv = nn.Conv2d(ddconfig["z_channels"], ddconfig["embed_dim"], 1)
        self.post_quant_conv = nn.Conv2d(ddconfig["embed_dim"], ddconfig["z_channels"], 1)

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.ddconfig["ch_mult"]) - 1)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] -> continuous latents (RIVER never quantises what it conditions on)."""
        return self.quant_conv(self.encoder(images))

    def decode_quantized(self, quantized: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.post_quant_conv(quantized))

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        quantized, _ = self.quantize(latents)
        return self.decode_quantized(quantized)

    @torch.no_grad()
    def rescale_latents(self, scale: float) -> None:
        """Multiply the latent space by ``scale`` without changing what the autoencoder computes:
        `quant_conv` and the codebook are scaled, `post_quant_conv` undoes it (nearest-codebook
        choices are invariant to a uniform scale)."""
        self.quant_conv.weight.mul_(scale)
        self.quant_conv.bias.mul_(scale)
        self.quantize.embedding.weight.mul_(scale)
        self.post_quant_conv.weight.div_(scale)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training pass: (reconstruction through straight-through codes, latents, codebook entries, indices)."""
        latents = self.encode(images)
        straight_through, indices = self.quantize(latents)
        return self.decode_quantized(straight_through), latents, self.quantize.lookup(indices), indices


def taming_ddconfig(name: str, override: dict | None = None) -> dict:
    """The hard-coded config ``name``, or the explicit ``ddconfig`` block when one is given."""
    if override:
        return dict(override)
    if name not in TAMING_CONFIGS:
        known = ", ".join(sorted(TAMING_CONFIGS))
        raise ValueError(f"autoencoder config {name!r} is unknown (known: {known}); give a ddconfig block")
    return dict(TAMING_CONFIGS[name])

