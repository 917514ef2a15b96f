"""Predicting future frames with a RIVER `Model`.

Each new frame's latent is integrated from noise (or, with a warm start w, from a mix of noise
and the last latent) to t = 1. The regressor sees the last latent as *reference* and, at every
single function evaluation, a freshly drawn random earlier latent as *conditioning* -- this is
how RIVER covers a long past at the cost of one frame per evaluation. Predicted latents are
appended unquantised; frames are decoded (which quantises) only for display.

All randomness (noise and conditioning indices) comes from one CPU ``torch.Generator``, so a
seed reproduces a run on any device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch

from ..core.jobs import CancelToken
from .model import Model
from .samplers import SAMPLERS, nfe_per_frame, time_grid


@dataclass(frozen=True)
class SamplerSettings:
    """Which ODE sampler, how many steps, and the warm start w in [0, 1)."""

    sampler: str = "rk4"
    steps: int = 100
    warm_start: float = 0.0

    def check(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {self.sampler!r}")
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if not 0.0 <= self.warm_start < 1.0:
            raise ValueError(f"warm_start must be in [0, 1), got {self.warm_start}")
        if nfe_per_frame(self.sampler, self.steps, self.warm_start) == 0:
            raise ValueError(f"{self.steps} steps with warm start {self.warm_start} leave no step to integrate")

    @property
    def steps_per_frame(self) -> int:
        return len(time_grid(self.sampler, self.steps, self.warm_start)) - 1

    @property
    def nfe_per_frame(self) -> int:
        return nfe_per_frame(self.sampler, self.steps, self.warm_start)


OFFICIAL_SAMPLER = SamplerSettings("rk4", 100, 0.0)


def conditioned_field(model: Model, latents: torch.Tensor, generator: torch.Generator | None):
    """dy/dt for the next frame given past ``latents`` [b, n, c, h, w] (n >= 2).

    Reference = the last latent; conditioning = a uniformly drawn earlier one, redrawn per call.
    """
    b, n = latents.shape[:2]
    reference = latents[:, -1]
    rows = torch.arange(b, device=latents.device)

    def field(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        chosen = torch.randint(0, n - 1, (b,), generator=generator).to(latents.device)
        conditioning = latents[rows, chosen]
        return model.vector_field_regressor(y, reference, conditioning, (n - 1) - chosen, t.to(y).expand(b))

    return field


def warm_start_state(noise: torch.Tensor, last_latent: torch.Tensor, warm_start: float, sigma: float) -> torch.Tensor:
    """y0 = (1 - (1 - sigma) w) noise + w last_latent: the flow path at t = w towards the last frame."""
    return (1 - (1 - sigma) * warm_start) * noise + warm_start * last_latent


@torch.no_grad()
def predict_latents(model: Model, context_latents: torch.Tensor, num_frames: int,
                    settings: SamplerSettings = OFFICIAL_SAMPLER, generator: torch.Generator | None = None,
                    noise: torch.Tensor | None = None, callback=None) -> Iterator[torch.Tensor]:
    """Yield each predicted latent [b, c, h, w] in turn.

    ``context_latents`` [b, n, c, h, w]; ``noise`` [num_frames, b, c, h, w] replaces the noise draws
    (tests inject the official run's noise); ``callback`` goes to the ODE sampler.
    """
    latents = context_latents
    if latents.shape[1] == 1:
        latents = latents.repeat(1, 2, 1, 1, 1)  # one context frame: it serves as its own past
    sample = SAMPLERS[settings.sampler]
    grid = time_grid(settings.sampler, settings.steps, settings.warm_start).to(latents.device)
    for frame in range(num_frames):
        if noise is not None:
            eps = noise[frame].to(latents)
        else:
            eps = torch.randn(latents[:, -1].shape, generator=generator).to(latents)
        y0 = warm_start_state(eps, latents[:, -1], settings.warm_start, model.sigma)
        predicted = sample(conditioned_field(model, latents, generator), y0, grid, callback)
        latents = torch.cat([latents, predicted[:, None]], dim=1)
        yield predicted


@torch.no_grad()
def generate_frames(model: Model, observations: torch.Tensor, num_frames: int,
                    settings: SamplerSettings = OFFICIAL_SAMPLER, generator: torch.Generator | None = None,
                    noise: torch.Tensor | None = None) -> torch.Tensor:
    """Like the official `generate_frames`: [b, n, 3, H, W] -> decoded context + predictions
    [b, n + num_frames, 3, H, W]; the context frames come back through the autoencoder too."""
    context = model.encode(observations)
    predicted = list(predict_latents(model, context, num_frames, settings, generator, noise))
    return model.decode(torch.cat([context, torch.stack(predicted, dim=1)], dim=1))


@torch.no_grad()
def stream_frames(model: Model, context_frames: torch.Tensor, num_frames: int,
                  settings: SamplerSettings = OFFICIAL_SAMPLER, num_samples: int = 1, seed: int = 0,
                  cancel: CancelToken | None = None, on_step=None) -> Iterator[tuple[int, torch.Tensor]]:
    """Predict ``num_frames`` after ``context_frames`` [n, 3, H, W] (in [-1, 1]) for ``num_samples``
    independent samples in one batch; yield ``(k, frames [num_samples, 3, H, W])`` for k = 0, 1, ...
    as soon as each predicted frame is decoded.

    ``seed`` fixes noise and conditioning draws; ``cancel`` is checked after every ODE step and
    raises `JobCancelled`; ``on_step(frame, step, steps)`` reports progress inside a frame.
    """
    settings.check()
    if context_frames.ndim != 4 or context_frames.shape[1] != 3:
        raise ValueError(f"context_frames must be [n, 3, H, W], got {tuple(context_frames.shape)}")
    if num_frames < 1 or num_samples < 1:
        raise ValueError(f"num_frames and num_samples must be >= 1, got {num_frames} and {num_samples}")
    generator = torch.Generator().manual_seed(seed)
    steps_per_frame = settings.steps_per_frame
    steps_done = 0

    def callback(state: dict) -> None:
        nonlocal steps_done
        steps_done += 1
        if cancel is not None:
            cancel.raise_if_cancelled()
        if on_step is not None:
            on_step((steps_done - 1) // steps_per_frame, state["i"] + 1, steps_per_frame)

    parameter = next(model.parameters())
    context = model.encode(context_frames.to(parameter))[None].repeat(num_samples, 1, 1, 1, 1)
    predictions = predict_latents(model, context, num_frames, settings, generator, callback=callback)
    for frame, latent in enumerate(predictions):
        yield frame, model.decode(latent)
