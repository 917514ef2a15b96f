"""Text/image-to-video with Pyramid Flow, streamed: every finished unit is decoded at once.

The models are loaded by ``loading.load_models``; ``generate`` draws the noise, runs
``sampling.sample_units`` and pushes each unit's latent through a ``StreamingDecoder`` (exactly
the full chunked decode, one unit at a time), calling ``on_unit`` with all frames so far and the
``GenerationState`` a later run can go on from (``resume``), with the very result of a run that
was never interrupted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from backends.core.offload import Placement
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
    placement: Placement  # where they run, and how they are offloaded between calls

    @property
    def latent_channels(self) -> int:
        return self.dit.config.latent_channels

    @property
    def device(self) -> torch.device:
        return self.placement.device


@dataclass
class GenerationState:
    """A run after its last finished unit: what it needs to go on exactly as if never stopped."""

    noise: torch.Tensor  # the Gaussian (1, C, units, H, W) the run started from, as drawn
    clean: list[torch.Tensor]  # the normalised latents of the finished units, unit 0 first
    rng: torch.Tensor  # the generator's state after the last finished unit (block noise comes next)

    def to_dict(self) -> dict:
        return {"noise": self.noise.cpu(), "clean": torch.cat(self.clean, dim=2).cpu(), "rng": self.rng}

    @classmethod
    def from_dict(cls, data: dict) -> "GenerationState":
        return cls(data["noise"], list(data["clean"].split(1, dim=2)), data["rng"])


@dataclass(frozen=True)
class GenerationPlan:
    width: int
    height: int
    units: int
    first: UnitSteps
    video: UnitSteps
    tile: int | None  # VAE decode tile (px); None = no tiling

    def total_steps(self, image_to_video: bool, units_done: int = 0) -> int:
        """Steps of the units after the first ``units_done`` (the picture of image-to-video has none)."""
        first = 0 if image_to_video or units_done else sum(self.first.steps)
        return first + (self.units - max(units_done, 1)) * sum(self.video.steps)


def encode_image(models: PyramidFlowModels, image: np.ndarray, generator: torch.Generator) -> torch.Tensor:
    """An (H, W, 3) uint8 image -> the normalised posterior SAMPLE of its latent (unit 0 of i2v)."""
    vae = models.vae
    pixels = torch.from_numpy(image).permute(2, 0, 1)[None, :, None].float() / 127.5 - 1
    mean, logvar = vae.encode(pixels.to(models.device, vae.dtype), tile=I2V_ENCODE_TILE)
    noise = torch.randn(mean.shape, generator=generator).to(mean)
    return LATENT_NORMS[models.variant].normalize_image(mean + (0.5 * logvar).exp() * noise)


@torch.no_grad()
def generate(
    models: PyramidFlowModels,
    text: TextConditioning,
    plan: GenerationPlan,
    seed: int,
    on_unit: Callable[[int, np.ndarray, GenerationState], None],
    on_step: StepCallback | None = None,
    image: np.ndarray | None = None,
    resume: GenerationState | None = None,
) -> np.ndarray:
    """All frames (T, H, W, 3) uint8; ``on_unit(unit, frames_so_far, state)`` after each decoded
    unit. ``resume``: go on after the units of a state (their frames are decoded again first)."""
    dit, vae, device = models.dit, models.vae, models.device
    generator = torch.Generator().manual_seed(seed)
    if resume is None:
        scale = vae.config.downsample_scale
        shape = (1, models.latent_channels, plan.units, plan.height // scale, plan.width // scale)
        image_latent = None if image is None else encode_image(models, image, generator).to(device, dit.dtype)
        noise, clean = torch.randn(shape, generator=generator), []
    else:
        noise, clean = resume.noise, [c.to(device) for c in resume.clean]
        image_latent = clean[0] if image is not None else None
        generator.set_state(resume.rng)
    text = TextConditioning(*(t.to(device) for t in (text.embeds, text.mask, text.pooled)))
    norm, stream, frames = LATENT_NORMS[models.variant], StreamingDecoder(vae, plan.tile), []

    def decode(unit: int, latent: torch.Tensor) -> None:
        latent = norm.denormalize(latent.float(), starts_video=unit == 0)
        frames.append(to_uint8(stream.push(latent.to(vae.dtype))))

    for unit, latent in enumerate(clean):  # a resumed run: the frames so far, and the decoder's state
        decode(unit, latent)
    if clean:
        on_unit(len(clean) - 1, np.concatenate(frames), resume)
    units = sample_units(
        dit, noise.to(device, dit.dtype), text, plan.first, plan.video, sched.pyramid_schedule(),
        block_noise_sampler(generator), on_step, image_latent, history=clean,
    )
    for unit, stages in enumerate(units, start=len(clean)):
        clean.append(stages[-1])
        decode(unit, stages[-1])
        on_unit(unit, np.concatenate(frames), GenerationState(noise, list(clean), generator.get_state()))
    return np.concatenate(frames)


def latent_preview(latent: torch.Tensor) -> np.ndarray:
    """A cheap look at a (1, C, T, h, w) latent without the VAE: the channels averaged in three
    groups as R, G, B, each stretched to its own range. Shows layout and motion, not colours."""
    x = latent[0].detach().float()
    groups = torch.stack([part.mean(dim=0) for part in x.tensor_split(3, dim=0)], dim=-1)  # (T, h, w, 3)
    low, high = groups.amin(dim=(0, 1, 2)), groups.amax(dim=(0, 1, 2))
    rgb = (groups - low) / (high - low).clamp_min(1e-6) * 255
    return rgb.to(torch.uint8).cpu().numpy()
