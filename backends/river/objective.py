"""RIVER's training objective and learning-rate schedule.

Flow matching with the optimal-transport path of Lipman et al. (2023): for a target latent x1,
noise eps and t ~ U[0, 1), x_t = (1 - (1 - sigma) t) eps + t x1 and the regressed velocity is
u = (x1 - (1 - sigma) x_t) / (1 - (1 - sigma) t) (= x1 - (1 - sigma) eps). The regressor is told
the frame right before the target (reference) and one uniformly drawn earlier frame
(conditioning), plus their index distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from .model import Model

LR_END = 1e-7
LR_POWER = 0.5


@dataclass
class FlowMatchingDraws:
    """The random choices of one training step (injectable so tests can replay official draws)."""

    target_indices: torch.Tensor  # [b] in {2..N-1}
    conditioning_indices: torch.Tensor  # [b] in {0..target-2}
    timestamps: torch.Tensor  # [b] in [0, 1)
    noise: torch.Tensor  # [b, c, h, w]

    @property
    def reference_indices(self) -> torch.Tensor:
        return self.target_indices - 1


def draw_flow_matching(batch: int, num_observations: int, latent_shape, generator: torch.Generator | None = None
                       ) -> FlowMatchingDraws:
    """Target uniform in {2..N-1}, reference = target - 1, conditioning uniform in {0..target-2}."""
    if num_observations < 3:
        raise ValueError(f"training clips need at least 3 frames, got {num_observations}")
    target = torch.randint(2, num_observations, (batch,), generator=generator)
    conditioning = (torch.rand(batch, generator=generator) * (target - 1)).long()
    timestamps = torch.rand(batch, generator=generator)
    noise = torch.randn(batch, *latent_shape, generator=generator)
    return FlowMatchingDraws(target, conditioning, timestamps, noise)


def flow_path(x1: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, sigma: float) -> torch.Tensor:
    """x_t = (1 - (1 - sigma) t) eps + t x1."""
    t = t.view(-1, *[1] * (x1.ndim - 1))
    return (1 - (1 - sigma) * t) * noise + t * x1


def target_velocity(x1: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, sigma: float) -> torch.Tensor:
    """u = (x1 - (1 - sigma) x_t) / (1 - (1 - sigma) t), the conditional flow's velocity at x_t."""
    t = t.view(-1, *[1] * (x1.ndim - 1))
    return (x1 - (1 - sigma) * x_t) / (1 - (1 - sigma) * t)


def flow_matching_loss(model: Model, observations: torch.Tensor, draws: FlowMatchingDraws,
                       regressor: torch.nn.Module | None = None) -> tuple[torch.Tensor, dict]:
    """MSE between predicted and target velocities for clips ``observations`` [b, N, 3, H, W].

    ``regressor`` is the module that is trained (the model's own vector field, or its
    DistributedDataParallel wrapper). Returns the loss and the intermediate tensors (named like
    the official code's).
    """
    regressor = regressor if regressor is not None else model.vector_field_regressor
    device = observations.device
    rows = torch.arange(observations.shape[0], device=device)
    target_indices = draws.target_indices.to(device)
    reference_indices = draws.reference_indices.to(device)
    conditioning_indices = draws.conditioning_indices.to(device)
    # Only three frames per clip are needed; the frozen autoencoder encodes them without gradients.
    frames = torch.stack(
        [observations[rows, target_indices], observations[rows, reference_indices], observations[rows, conditioning_indices]],
        dim=1,
    )
    target_latents, reference_latents, conditioning_latents = model.encode(frames).unbind(1)
    timestamps = draws.timestamps.to(device)
    input_latents = flow_path(target_latents, draws.noise.to(target_latents), timestamps, model.sigma)
    target_vectors = target_velocity(target_latents, input_latents, timestamps, model.sigma)
    index_distances = reference_indices - conditioning_indices
    reconstructed_vectors = regressor(
        input_latents, reference_latents, conditioning_latents, index_distances, timestamps
    )
    loss = F.mse_loss(reconstructed_vectors, target_vectors)
    return loss, dict(
        target_latents=target_latents, reference_latents=reference_latents, conditioning_latents=conditioning_latents,
        input_latents=input_latents, index_distances=index_distances, target_vectors=target_vectors,
        reconstructed_vectors=reconstructed_vectors,
    )


def polynomial_warmup_factor(step: int, num_warmup_steps: int, num_training_steps: int, base_lr: float,
                             lr_end: float = LR_END, power: float = LR_POWER) -> float:
    """LR multiplier: linear warm-up from 0, then (1 - progress)^power decay to ``lr_end``, then flat."""
    if step < num_warmup_steps:
        return step / max(1, num_warmup_steps)
    if step > num_training_steps:
        return lr_end / base_lr
    remaining = 1 - (step - num_warmup_steps) / (num_training_steps - num_warmup_steps)
    return ((base_lr - lr_end) * remaining**power + lr_end) / base_lr


def polynomial_warmup_scheduler(optimizer: torch.optim.Optimizer, num_warmup_steps: int, num_training_steps: int,
                                lr_end: float = LR_END, power: float = LR_POWER) -> torch.optim.lr_scheduler.LambdaLR:
    """RIVER's schedule (the shape of transformers' polynomial decay with warm-up) as a LambdaLR."""
    base_lr = optimizer.defaults["lr"]
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: polynomial_warmup_factor(step, num_warmup_steps, num_training_steps, base_lr, lr_end, power),
    )
