"""Pyramid Flow's autoregressive sampler (the official ``generate`` / ``generate_i2v``), unit by unit.

Unit 0 is latent frame 0 (the image); unit u ≥ 1 is latent frame u, conditioned on the clean
history at decreasing resolution. Each unit runs the stages of the pyramid schedule: renoise
into the next stage, then Euler steps with classifier-free guidance batched as
[negative ; positive]. ``sample_units`` yields every finished unit so the caller can decode and
stream it while the next one renders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from backends.pyramid_flow import scheduler as sched


@dataclass(frozen=True)
class TextConditioning:
    """T5 states (B, L, D), their 0/1 mask (B, L) and the pooled CLIP vector (B, P); rows [negative ; positive]."""

    embeds: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor

    def positive(self) -> "TextConditioning":
        return TextConditioning(self.embeds[-1:], self.mask[-1:], self.pooled[-1:])


@dataclass(frozen=True)
class UnitSteps:
    """Steps per stage and the guidance scale of one kind of unit (first frame or video)."""

    steps: Sequence[int]
    guidance: float


BlockNoise = Callable[[int, int, tuple], torch.Tensor]  # (unit, stage, shape) -> block noise
StepCallback = Callable[[int, int, int, torch.Tensor], None]  # (unit, stage, step, latent) after each step


def block_noise_sampler(generator: torch.Generator | None, gamma: float = sched.GAMMA) -> BlockNoise:
    return lambda unit, stage, shape: sched.sample_block_noise(shape, gamma, generator)


def denoise_unit(
    dit,
    latent: torch.Tensor,
    history: list[list[torch.Tensor]],
    text: TextConditioning,
    plan: UnitSteps,
    schedule: sched.PyramidSchedule,
    block_noise: Callable[[int, tuple], torch.Tensor],
    on_step: Callable[[int, int, torch.Tensor], None] | None = None,
) -> list[torch.Tensor]:
    """Run one unit through every stage; ``history[s]`` are the stage's history clips (batch 1).
    Returns the latent at the end of each stage (the last one is the unit's output)."""
    guided = plan.guidance > 1
    cond = text if guided else text.positive()
    rows = cond.embeds.shape[0]
    outputs = []
    for stage in range(schedule.num_stages):
        timesteps, ratios = sched.stage_timesteps(schedule, stage, plan.steps[stage])
        if stage > 0:
            alpha, beta = sched.renoise_coefficients(schedule.ori_start_sigmas[stage], schedule.gamma)
            shape = (*latent.shape[:3], 2 * latent.shape[3], 2 * latent.shape[4])
            latent = sched.renoise(latent, block_noise(stage, shape).to(latent), alpha, beta)
        clips = [h.expand(rows, *h.shape[1:]) for h in history[stage]]
        for step, t in enumerate(timesteps):
            x = latent.expand(rows, *latent.shape[1:])
            timestep = t.to(latent.dtype).expand(rows).to(latent.device)
            v = dit([*clips, x], timestep, cond.embeds, cond.mask, cond.pooled)
            if guided:
                uncond, positive = v.chunk(2)
                v = uncond + plan.guidance * (positive - uncond)
            latent = sched.euler_step(latent, v, ratios[step].item(), ratios[step + 1].item()).to(latent.dtype)
            if on_step is not None:
                on_step(stage, step, latent)
        outputs.append(latent)
    return outputs


def stage_histories(clean: list[torch.Tensor], num_stages: int) -> list[list[torch.Tensor]]:
    """History clips of every stage from the clean unit latents so far."""
    pyramid = sched.latent_pyramid(torch.cat(clean, dim=2), num_stages)
    return [sched.history_for_stage(pyramid, s) for s in range(num_stages)]


def sample_units(
    dit,
    noise: torch.Tensor,
    text: TextConditioning,
    first: UnitSteps,
    video: UnitSteps,
    schedule: sched.PyramidSchedule,
    block_noise: BlockNoise,
    on_step: StepCallback | None = None,
    image_latent: torch.Tensor | None = None,
    history: Sequence[torch.Tensor] = (),
) -> Iterator[list[torch.Tensor]]:
    """Yield each unit's per-stage latents (normalised latent space), unit 0 first.

    ``noise`` is the full-size Gaussian (1, C, T, H, W), T = number of units. Text-to-video
    generates all T units. Image-to-video (``image_latent``, the normalised posterior sample of the
    image) yields it as unit 0 and generates units 1..T−1 from noise slices 0..T−2 with ``video``.
    ``history``: the clean latents of units finished earlier (a resumed run; for image-to-video
    the image first); only the units after them are generated.
    """
    starts = sched.shrink_noise(noise, schedule.num_stages)
    clean = list(history)
    if image_latent is not None and not clean:
        clean.append(image_latent)
        yield [image_latent]
    for unit in range(len(clean), noise.shape[2]):
        index = unit - 1 if image_latent is not None else unit
        start = starts[:, :, index : index + 1]
        history = stage_histories(clean, schedule.num_stages) if clean else [[] for _ in range(schedule.num_stages)]
        plan = first if unit == 0 else video
        callback = None if on_step is None else (lambda s, k, x, u=unit: on_step(u, s, k, x))
        outputs = denoise_unit(dit, start, history, text, plan, schedule, lambda s, shape, u=unit: block_noise(u, s, shape), callback)
        clean.append(outputs[-1])
        yield outputs
