"""Text/image-to-video with Pyramid Flow, streamed: every finished unit is decoded at once.

The models are loaded by ``loading.load_models``; ``generate`` draws the noise, runs
``sampling.sample_units`` and pushes each unit's latent through a ``StreamingDecoder`` (exactly
the full chunked decode, one unit at a time), calling ``on_unit`` with all frames so far.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from backends.pyramid_flow import scheduler as sched
from backends.pyramid_flow.causal_vae import StreamingDecoder
from backends.pyramid_flow.sampling import StepCallback, TextConditioning, UnitSteps, block_noise_sampler, sample_units

I2V_ENCODE_TILE = 256  # the encoder's default tile: the image is tiled when larger


@dataclass(frozen=True)
class LatentNorm:
    """normalised = (z − shift)·scale; the first latent frame (an image) has its own constants."""

    image_shift: float
    image_scale: float
    video_shift: float = -0.2343
    video_scale: float = 1 / 3.0986

    def normalize_image(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.image_shift) * self.image_scale

    def denormalize(self, x: torch.Tensor, starts_video: bool) -> torch.Tensor:
        """Back to VAE latents; ``starts_video``: the first frame of ``x`` is latent frame 0."""
        out = x / self.video_scale + self.video_shift
        if starts_video:
            out[:, :, :1] = x[:, :, :1] / self.image_scale + self.image_shift
        return out


LATENT_NORMS = {"miniflux": LatentNorm(-0.04, 1 / 1.8726), "sd3": LatentNorm(0.1490, 1 / 1.8415)}


def to_uint8(pixels: torch.Tensor) -> np.ndarray:
    """(1, 3, T, H, W) in [−1, 1] -> (T, H, W, 3) uint8, truncated like the official pipeline."""
    frames = pixels[0].float().mul(127.5).add(127.5).clamp(0, 255).to(torch.uint8)
    return frames.permute(1, 2, 3, 0).cpu().numpy()


@dataclass
class PyramidFlowModels:
    variant: str
    dit: torch.nn.Module
    vae: torch.nn.Module

    @property
    def latent_channels(self) -> int:
        return self.dit.config.latent_channels


@dataclass(frozen=True)
class GenerationPlan:
    width: int
    height: int
    units: int
    first: UnitSteps
    video: UnitSteps
    tile: int | None  # VAE decode tile (px); None = no tiling

    def total_steps(self, image_to_video: bool) -> int:
        first = 0 if image_to_video else sum(self.first.steps)
        return first + (self.units - 1) * sum(self.video.steps)


def encode_image(models: PyramidFlowModels, image: np.ndarray, generator: torch.Generator) -> torch.Tensor:
    """An (H, W, 3) uint8 image -> the normalised posterior SAMPLE of its latent (unit 0 of i2v)."""
    vae = models.vae
    device = next(vae.parameters()).device
    pixels = torch.from_numpy(image).permute(2, 0, 1)[None, :, None].float() / 127.5 - 1
    mean, logvar = vae.encode(pixels.to(device, vae.dtype), tile=I2V_ENCODE_TILE)
    noise = torch.randn(mean.shape, generator=generator).to(mean)
    return LATENT_NORMS[models.variant].normalize_image(mean + (0.5 * logvar).exp() * noise)


@torch.no_grad()
def generate(
    models: PyramidFlowModels,
    text: TextConditioning,
    plan: GenerationPlan,
    seed: int,
    on_unit: Callable[[int, np.ndarray], None],
    on_step: StepCallback | None = None,
    image: np.ndarray | None = None,
) -> np.ndarray:
    """All frames (T, H, W, 3) uint8; ``on_unit(unit, frames_so_far)`` after each decoded unit."""
    dit, vae = models.dit, models.vae
    device = next(dit.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    scale = vae.config.downsample_scale
    shape = (1, models.latent_channels, plan.units, plan.height // scale, plan.width // scale)
    image_latent = None if image is None else encode_image(models, image, generator).to(device, dit.dtype)
    noise = torch.randn(shape, generator=generator).to(device, dit.dtype)
    text = TextConditioning(*(t.to(device) for t in (text.embeds, text.mask, text.pooled)))

    norm, stream, frames = LATENT_NORMS[models.variant], StreamingDecoder(vae, plan.tile), []
    units = sample_units(
        dit, noise, text, plan.first, plan.video, sched.pyramid_schedule(), block_noise_sampler(generator),
        on_step, image_latent,
    )
    for unit, stages in enumerate(units):
        latent = norm.denormalize(stages[-1].float(), starts_video=unit == 0)
        frames.append(to_uint8(stream.push(latent.to(vae.dtype))))
        on_unit(unit, np.concatenate(frames))
    return np.concatenate(frames)


def latent_preview(latent: torch.Tensor) -> np.ndarray:
    """A cheap look at a (1, C, T, h, w) latent without the VAE: the channels averaged in three
    groups as R, G, B, each stretched to its own range. Shows layout and motion, not colours."""
    x = latent[0].detach().float()
    groups = torch.stack([part.mean(dim=0) for part in x.tensor_split(3, dim=0)], dim=-1)  # (T, h, w, 3)
    low, high = groups.amin(dim=(0, 1, 2)), groups.amax(dim=(0, 1, 2))
    rgb = (groups - low) / (high - low).clamp_min(1e-6) * 255
    return rgb.to(torch.uint8).cpu().numpy()
