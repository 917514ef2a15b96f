"""The pyramid flow-matching schedule (Jin et al. 2024, "Pyramidal Flow Matching") as pure functions.

Three spatial stages share one flow: stage ``s`` runs at 1/2**(S-1-s) of the full latent size over a
window of the global timestep grid. Entering a stage, the latent is upsampled (nearest) and
renoised ``x = alpha·x_up + beta·n`` with zero-sum 2x2 block noise; each stage then runs Euler
steps on stage-local ratios 1 -> 0.001 -> 0. Numbers follow the official
``PyramidFlowMatchEulerDiscreteScheduler`` (global grid in float32, stage arithmetic in float64).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

NUM_TRAIN_TIMESTEPS = 1000
STAGE_RANGE = (0.0, 1 / 3, 2 / 3, 1.0)
GAMMA = 1 / 3


@dataclass(frozen=True)
class PyramidSchedule:
    """Per-stage numbers: original and corrected start sigmas, end sigmas, timestep windows."""

    ori_start_sigmas: tuple[float, ...]
    start_sigmas: tuple[float, ...]
    end_sigmas: tuple[float, ...]
    timestep_ratios: tuple[tuple[float, float], ...]
    gamma: float

    @property
    def num_stages(self) -> int:
        return len(self.start_sigmas)


def global_timesteps(num_train_timesteps: int = NUM_TRAIN_TIMESTEPS, shift: float = 1.0) -> torch.Tensor:
    """The float32 grid T = 1000, 999, …, 1 (optionally shift-warped), as the official scheduler builds it."""
    timesteps = torch.from_numpy(np.linspace(1, num_train_timesteps, num_train_timesteps, dtype=np.float32)[::-1].copy())
    sigmas = timesteps / num_train_timesteps
    sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
    return sigmas * num_train_timesteps


def pyramid_schedule(
    stage_range=STAGE_RANGE, gamma: float = GAMMA, num_train_timesteps: int = NUM_TRAIN_TIMESTEPS, shift: float = 1.0
) -> PyramidSchedule:
    """Stage sigmas (start corrected by the renoise jump) and each stage's share of the timestep grid."""
    sigmas = global_timesteps(num_train_timesteps, shift) / num_train_timesteps
    stages = len(stage_range) - 1
    ori_starts, starts, ends = [], [], []
    for s in range(stages):
        start_index = max(int(stage_range[s] * num_train_timesteps), 0)
        end_index = min(int(stage_range[s + 1] * num_train_timesteps), num_train_timesteps)
        start = sigmas[start_index].item()
        end = sigmas[end_index].item() if end_index < num_train_timesteps else 0.0
        ori_starts.append(start)
        if s > 0:
            alpha, _ = renoise_coefficients(start, gamma)
            start = 1 - alpha * (1 - start)
        starts.append(start)
        ends.append(end)
    distances = [a - b for a, b in zip(starts, ends)]
    total = sum(distances)
    ratios = []
    for s in range(stages):
        lo = 0.0 if s == 0 else sum(distances[:s]) / total
        hi = 1.0 if s == stages - 1 else sum(distances[: s + 1]) / total
        ratios.append((lo, hi))
    return PyramidSchedule(tuple(ori_starts), tuple(starts), tuple(ends), tuple(ratios), gamma)


def renoise_coefficients(ori_start_sigma: float, gamma: float = GAMMA) -> tuple[float, float]:
    """(alpha, beta) of the corrective renoise when a stage that originally starts at ``ori_start_sigma`` begins."""
    signal = 1 - ori_start_sigma
    alpha = 1 / (math.sqrt(1 + 1 / gamma) * (1 - signal) + signal)
    beta = alpha * (1 - signal) / math.sqrt(gamma)
    return alpha, beta


def stage_timesteps(
    schedule: PyramidSchedule, stage: int, num_steps: int, num_train_timesteps: int = NUM_TRAIN_TIMESTEPS, shift: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(timesteps (n,), Euler ratios (n+1,)) in float64 for ``num_steps`` steps of ``stage``."""
    grid = global_timesteps(num_train_timesteps, shift)
    lo, hi = schedule.timestep_ratios[stage]
    t_max = grid[int(lo * num_train_timesteps)].item()
    t_min = grid[min(int(hi * num_train_timesteps), num_train_timesteps - 1)].item()
    t_last = np.linspace(t_max, t_min, num_train_timesteps + 1)[-2]
    timesteps = torch.from_numpy(np.linspace(t_max, t_last, num_steps))
    ratio_min = np.linspace(1, 0, num_train_timesteps + 1)[-2]
    ratios = torch.from_numpy(np.linspace(1.0, ratio_min, num_steps))
    return timesteps, torch.cat([ratios, torch.zeros(1, dtype=ratios.dtype)])


def euler_step(sample: torch.Tensor, velocity: torch.Tensor, ratio: float, ratio_next: float) -> torch.Tensor:
    """One flow Euler step x + (r_next − r)·v, computed in float32 and cast back to ``velocity``'s dtype."""
    return (sample.float() + (ratio_next - ratio) * velocity.float()).to(velocity.dtype)


def block_noise_covariance(gamma: float = GAMMA) -> torch.Tensor:
    """Covariance (1+gamma)·I − gamma·1 of the four values of one 2x2 block (singular: zero-sum blocks)."""
    return (1 + gamma) * torch.eye(4, dtype=torch.float64) - gamma * torch.ones(4, 4, dtype=torch.float64)


def sample_block_noise(shape, gamma: float = GAMMA, generator: torch.Generator | None = None, device=None, dtype=torch.float32):
    """Block noise of ``shape`` (B, C, T, H, W): per 2x2 block sqrt(1+gamma)·(z − mean z), z iid N(0, 1).

    Same distribution as the official per-block MultivariateNormal draw (covariance above).
    """
    batch, channels, frames, height, width = shape
    z = torch.randn(batch, channels, frames, height // 2, 2, width // 2, 2, generator=generator, device=device, dtype=torch.float32)
    z = (z - z.mean(dim=(4, 6), keepdim=True)) * math.sqrt(1 + gamma)
    return z.reshape(shape).to(dtype)


def renoise(latent: torch.Tensor, noise: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """Enter the next stage: nearest 2x upsample, then alpha·x + beta·block noise."""
    return alpha * upsample_nearest(latent) + beta * noise


def _per_frame(fn, x: torch.Tensor) -> torch.Tensor:
    batch, channels, frames = x.shape[:3]
    frames_2d = x.permute(0, 2, 1, 3, 4).reshape(batch * frames, channels, *x.shape[3:])
    out = fn(frames_2d)
    return out.reshape(batch, frames, channels, *out.shape[2:]).permute(0, 2, 1, 3, 4)


def upsample_nearest(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, C, T, 2H, 2W), nearest neighbour."""
    return _per_frame(lambda f: F.interpolate(f, size=(2 * f.shape[-2], 2 * f.shape[-1]), mode="nearest"), x)


def halve_bilinear(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, C, T, H//2, W//2), bilinear without antialias (the 2x2 mean)."""
    return _per_frame(lambda f: F.interpolate(f, size=(f.shape[-2] // 2, f.shape[-1] // 2), mode="bilinear"), x)


def shrink_noise(noise: torch.Tensor, num_stages: int) -> torch.Tensor:
    """Full-size Gaussian -> stage-0 size: halve (2x2 mean) and times 2, num_stages − 1 times (unit variance kept)."""
    for _ in range(num_stages - 1):
        noise = halve_bilinear(noise) * 2
    return noise


def latent_pyramid(clean: torch.Tensor, num_stages: int) -> list[torch.Tensor]:
    """Clean latents at every stage's resolution, stage 0 (smallest) first."""
    levels = [clean]
    for _ in range(num_stages - 1):
        levels.append(halve_bilinear(levels[-1]))
    return levels[::-1]


def history_for_stage(pyramid: list[torch.Tensor], stage: int, frames_per_unit: int = 1) -> list[torch.Tensor]:
    """The history clips of one stage, oldest first: the newest past unit at this stage's resolution,
    each step back one level lower, everything older than what reaches level 1 as one clip at level 0."""
    num_units = pyramid[0].shape[2] // frames_per_unit
    clips = [pyramid[stage][:, :, -frames_per_unit:]]
    level, back = stage, 1
    while back < num_units:
        level = max(level - 1, 0)
        if level == 0:
            break
        back += 1
        clips.append(pyramid[level][:, :, -back * frames_per_unit : -(back - 1) * frames_per_unit])
    if level == 0 and back < num_units:
        clips.append(pyramid[0][:, :, : -back * frames_per_unit])
    return clips[::-1]
