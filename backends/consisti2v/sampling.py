"""ConsistI2V's sampler as small pure functions: pyoco-mixed noise, FrameInit, guided DDIM.

The DDIM schedule is the official inference YAML's (linear betas 0.00085→0.012, leading
spacing, steps_offset 1), not SD2.1's scaled_linear nor the checkpoint's scheduler folder.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from diffusers import DDIMScheduler

from .settings import FILTERS

DDIM_CONFIG = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "linear",
    "steps_offset": 1,
    "clip_sample": False,
    "set_alpha_to_one": True,
    "prediction_type": "epsilon",
    "timestep_spacing": "leading",
    "rescale_betas_zero_snr": False,
}


def ddim_scheduler() -> DDIMScheduler:
    return DDIMScheduler(**DDIM_CONFIG)


def pyoco_mixed_noise(shape, generator: torch.Generator, alpha: float = 1.0, device=None, dtype=torch.float32) -> torch.Tensor:
    """PYoCo's mixed noise (Ge et al. 2023): one draw shared by all frames plus one per frame,
    weighted √(α²/(1+α²)) and √(1/(1+α²)). ``shape`` is (B, C, T, H, W); draws come from
    ``generator`` (on its own device) in that order."""
    batch, channels, frames, height, width = shape
    shared = torch.randn((batch, channels, 1, height, width), generator=generator, device=generator.device, dtype=dtype)
    independent = torch.randn(tuple(shape), generator=generator, device=generator.device, dtype=dtype)
    noise = shared * math.sqrt(alpha**2 / (1 + alpha**2)) + independent * math.sqrt(1 / (1 + alpha**2))
    return noise.to(device) if device is not None else noise


BUTTERWORTH_ORDER = 4


def low_pass_filter(kind: str, frames: int, height: int, width: int, d_s: float = 0.25, d_t: float = 0.25) -> torch.Tensor:
    """FreeInit's low-pass masks (T, H, W) on the fftshift-ed index grid, float32: ``gaussian``
    (ConsistI2V's default), ``butterworth`` (order 4), ``ideal`` and ``box`` (FreeInit's
    definitions, the ideal one's radius test ``d² ≤ 2·d_s`` included)."""
    if kind not in FILTERS:
        raise ValueError(f"filter={kind!r}: expected one of {', '.join(FILTERS)}")
    if d_s <= 0 or d_t <= 0:
        return torch.zeros(frames, height, width)
    if kind == "box":
        mask = torch.zeros(frames, height, width)
        s, t = round(int(height // 2) * d_s), round(frames // 2 * d_t)
        cf, ch, cw = frames // 2, height // 2, width // 2
        mask[cf - t : cf + t, ch - s : ch + s, cw - s : cw + s] = 1.0
        return mask
    axis = lambda n: 2 * torch.arange(n, dtype=torch.float64) / n - 1  # noqa: E731
    t, h, w = torch.meshgrid((d_s / d_t) * axis(frames), axis(height), axis(width), indexing="ij")
    d_square = t**2 + h**2 + w**2
    if kind == "gaussian":
        mask = torch.exp(-d_square / (2 * d_s**2))
    elif kind == "butterworth":
        mask = 1 / (1 + (d_square / d_s**2) ** BUTTERWORTH_ORDER)
    else:
        mask = (d_square <= d_s * 2).to(torch.float64)
    return mask.to(torch.float32)


def frequency_mix(low: torch.Tensor, high: torch.Tensor, low_pass: torch.Tensor) -> torch.Tensor:
    """The low frequencies of ``low`` and the high ones of ``high`` (3-D FFT over frames, height, width)."""
    dims = (-3, -2, -1)
    spectrum = lambda x: torch.fft.fftshift(torch.fft.fftn(x.float(), dim=dims), dim=dims)  # noqa: E731
    mixed = spectrum(low) * low_pass + spectrum(high) * (1 - low_pass)
    return torch.fft.ifftn(torch.fft.ifftshift(mixed, dim=dims), dim=dims).real


def frame_init(static_video: torch.Tensor, noise: torch.Tensor, scheduler: DDIMScheduler, noise_level: int,
               low_pass: torch.Tensor) -> torch.Tensor:
    """FrameInit: noise the static (or camera-motion) video to ``noise_level``, keep its low
    frequencies and take the high ones from ``noise``. (B, C, T, H, W) in and out, float32."""
    noised = scheduler.add_noise(static_video, noise, torch.tensor([noise_level]))
    return frequency_mix(noised, noise, low_pass.to(noise.device))


@dataclass(frozen=True)
class Guidance:
    """Text guidance ``text`` (CFG when > 1) and image guidance ``image`` (three branches when > 1)."""

    text: float = 7.5
    image: float = 1.0

    @property
    def branches(self) -> int:
        return 3 if self.image > 1 else 2 if self.text > 1 else 1


def guided_noise(unet, latents, timestep, frame_stride, cond, uncond, first_frame, noisy_first_frame,
                 guidance: Guidance) -> torch.Tensor:
    """One guided noise prediction. ``first_frame`` / ``noisy_first_frame`` are (B, C, 1, H, W).

    - one branch: cond text, clean first frame;
    - text CFG: ε_u + s_txt(ε_c − ε_u), both with the clean first frame;
    - dual: ε_u (uncond text, noisy first frame), ε_i (uncond, clean), ε_b (cond, clean),
      ε_u + s_img(ε_i − ε_u) + s_txt(ε_b − ε_i).
    """
    if guidance.branches == 1:
        return unet(latents, timestep, cond, first_frame, frame_stride)
    if guidance.branches == 2:
        texts, frames = (uncond, cond), (first_frame, first_frame)
    else:
        texts, frames = (uncond, uncond, cond), (noisy_first_frame, first_frame, first_frame)
    predictions = unet(latents.repeat(len(texts), 1, 1, 1, 1), timestep, torch.cat(texts), torch.cat(frames), frame_stride)
    predictions = predictions.chunk(len(texts))
    if guidance.branches == 2:
        uncond_eps, cond_eps = predictions
        return uncond_eps + guidance.text * (cond_eps - uncond_eps)
    uncond_eps, image_eps, both_eps = predictions
    return uncond_eps + guidance.image * (image_eps - uncond_eps) + guidance.text * (both_eps - image_eps)


def sample_ddim(unet, latents, scheduler: DDIMScheduler, frame_stride: int, cond, uncond, first_frame,
                noisy_first_frame, guidance: Guidance,
                callback: Callable[[int, int, torch.Tensor], None] | None = None) -> torch.Tensor:
    """The guided DDIM loop (eta 0) over ``scheduler.timesteps``; ``callback(i, t, latents)`` after each step."""
    for i, t in enumerate(scheduler.timesteps):
        eps = guided_noise(unet, latents, t, frame_stride, cond, uncond, first_frame, noisy_first_frame, guidance)
        latents = scheduler.step(eps, t, latents, eta=0.0).prev_sample
        if callback is not None:
            callback(i, int(t), latents)
    return latents


@dataclass(frozen=True)
class FrameInitOptions:
    """FrameInit's settings: the noise level of the static video and the low-pass filter."""

    noise_level: int = 850
    filter: str = "gaussian"
    d_s: float = 0.25
    d_t: float = 0.25


def generate_chunk(unet, scheduler: DDIMScheduler, steps: int, first_frame: torch.Tensor, cond, uncond,
                   generator: torch.Generator, guidance: Guidance, frame_stride: int = 3,
                   frameinit: FrameInitOptions | None = FrameInitOptions(), static_video: torch.Tensor | None = None,
                   noise_alpha: float = 1.0, callback=None) -> torch.Tensor:
    """One ConsistI2V video in latents: (B, C, T, H, W), the clean ``first_frame`` (B, C, H, W)
    followed by T−1 denoised frames (T = the UNet's ``n_frames``).

    Noise is pyoco-mixed over all T slots. With FrameInit, its low frequencies come from
    ``static_video`` (default: the first frame repeated; a camera-motion video otherwise).
    Slot 0 of the result is the "noisy first frame" of the dual-guidance branch; slots 1… are denoised.
    """
    batch, channels, height, width = first_frame.shape
    shape = (batch, channels, unet.config.n_frames, height, width)
    noise = pyoco_mixed_noise(shape, generator, noise_alpha, device=first_frame.device) * scheduler.init_noise_sigma
    if frameinit is not None:
        if static_video is None:
            static_video = first_frame[:, :, None].expand(shape)
        low_pass = low_pass_filter(frameinit.filter, *shape[2:], d_s=frameinit.d_s, d_t=frameinit.d_t)
        noise = frame_init(static_video.float(), noise, scheduler, frameinit.noise_level, low_pass)
    noise = noise.to(first_frame.dtype)
    noisy_first_frame, latents = noise[:, :, :1], noise[:, :, 1:]
    scheduler.set_timesteps(steps, device=first_frame.device)
    latents = sample_ddim(unet, latents, scheduler, frame_stride, cond, uncond, first_frame[:, :, None],
                          noisy_first_frame, guidance, callback)
    return torch.cat((first_frame[:, :, None], latents), dim=2)


def chunk_frames(frames_per_chunk: int, chunks: int) -> int:
    """Frames of an autoregressive video: each chunk after the first adds ``frames_per_chunk − 1``."""
    return frames_per_chunk * chunks - chunks + 1
