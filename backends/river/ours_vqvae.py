"""RIVER's own VQ-VAE ("ours"), the CLEVRER autoencoder: 8x downsampling, 4 latent channels.

Keys follow the official `VQVAE` (`encoder.*`, `vector_quantizer.embedding.weight`, `decoder.*`);
inside RIVER's `Model` it sits under `ae.backbone.*`. Channel widths are fixed by the design
(32 -> 64 -> 128 -> 256); only the in/out channels and the codebook size are configurable.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .vector_quantizer import VectorQuantizer

WIDTHS = (32, 64, 128, 256)
LEAKY_SLOPE = 0.2


def _group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(32, channels, eps=1e-6)


class ResidualBlock(nn.Module):
    """conv-pool-GN-LeakyReLU-conv-GN plus a (1x1 conv, pool, GN) shortcut when the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, downsample_factor: int = 1):
        super().__init__()
        self.pool = nn.AvgPool2d(downsample_factor) if downsample_factor > 1 else nn.Identity()
        # `bn*` names are historical: these are GroupNorms.
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = _group_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = _group_norm(out_channels)
        if in_channels != out_channels or downsample_factor > 1:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False), self.pool, _group_norm(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.bn1(self.pool(self.conv1(x))), LEAKY_SLOPE)
        h = self.bn2(self.conv2(h))
        shortcut = self.downsample(x) if hasattr(self, "downsample") else x
        return F.leaky_relu(h + shortcut, LEAKY_SLOPE)


class UpsampleBlock(nn.Module):
    """Nearest 2x upsampling, 3x3 conv, BatchNorm, LeakyReLU (`conv`, `norm`)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return F.leaky_relu(self.norm(self.conv(x)), LEAKY_SLOPE)


class _AttentionCore(nn.Module):
    """The shared middle: residual, GroupNorm + single-head self-attention (residual), residual."""

    def __init__(self, channels: int):
        super().__init__()
        self.pre_attn_residual = ResidualBlock(channels, channels)
        self.attn_norm = _group_norm(channels)
        self.attn = nn.MultiheadAttention(channels, num_heads=1, batch_first=True)
        self.post_attn_residual = ResidualBlock(channels, channels)

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        x = self.pre_attn_residual(x)
        tokens = self.attn_norm(x).flatten(2).transpose(1, 2)
        attended, _ = self.attn(tokens, tokens, tokens, need_weights=False)
        x = x + attended.transpose(1, 2).reshape(b, c, h, w)
        return self.post_attn_residual(x)


class Encoder(_AttentionCore):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(WIDTHS[-1])
        self.conv_in = nn.Conv2d(in_channels, WIDTHS[0], 3, padding=1)
        self.residuals = nn.ModuleList(
            [ResidualBlock(c_in, c_out, downsample_factor=2) for c_in, c_out in zip(WIDTHS[:-1], WIDTHS[1:])]
        )
        self.out_norm = _group_norm(WIDTHS[-1])
        self.out_conv = nn.Conv2d(WIDTHS[-1], out_channels, 3, padding=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(images)
        for block in self.residuals:
            x = block(x)
        x = self.attend(x)
        return self.out_conv(F.silu(self.out_norm(x)))


class Decoder(_AttentionCore):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(WIDTHS[-1])
        self.conv_in = nn.Conv2d(in_channels, WIDTHS[-1], 3, padding=1)
        widths = WIDTHS[::-1]
        self.residuals = nn.ModuleList(
            [nn.Sequential(ResidualBlock(c_in, c_out), UpsampleBlock(c_out)) for c_in, c_out in zip(widths[:-1], widths[1:])]
        )
        self.out_norm = _group_norm(WIDTHS[0])
        self.out_conv = nn.Conv2d(WIDTHS[0], out_channels, 3, padding=1)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        x = self.attend(self.conv_in(latents))
        for stage in self.residuals:
            x = stage(x)
        return torch.tanh(self.out_conv(F.silu(self.out_norm(x))))


class VQVAE(nn.Module):
    def __init__(self, encoder: dict, vector_quantizer: dict, decoder: dict):
        super().__init__()
        self.encoder = Encoder(**encoder)
        self.vector_quantizer = VectorQuantizer(**vector_quantizer)
        self.decoder = Decoder(**decoder)


class OursAutoencoder(nn.Module):
    """RIVER's wrapper around the VQVAE (`ae.backbone.*`), with the same interface as `VQModel`."""

    downsample_factor = 2 ** (len(WIDTHS) - 1)

    def __init__(self, encoder: dict, vector_quantizer: dict, decoder: dict):
        super().__init__()
        self.backbone = VQVAE(encoder, vector_quantizer, decoder)

    @property
    def quantize(self) -> VectorQuantizer:
        return self.backbone.vector_quantizer

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] -> continuous latents (no quantisation)."""
        return self.backbone.encoder(images)

    @torch.no_grad()
    def rescale_latents(self, scale: float) -> None:
        """Same computation, latent space multiplied by ``scale`` (see `VQModel.rescale_latents`)."""
        self.backbone.encoder.out_conv.weight.mul_(scale)
        self.backbone.encoder.out_conv.bias.mul_(scale)
        self.quantize.embedding.weight.mul_(scale)
        self.backbone.decoder.conv_in.weight.div_(scale)

    def decode_quantized(self, quantized: torch.Tensor) -> torch.Tensor:
        return self.backbone.decoder(quantized)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        quantized, _ = self.quantize(latents)
        return self.decode_quantized(quantized)
