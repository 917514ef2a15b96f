"""MotionDirector's losses as small pure functions on (B, C, F, H, W) tensors."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def debias(x: torch.Tensor, anchor: int, beta: float = 1.0) -> torch.Tensor:
    """``alpha * x - beta * x[:, :, anchor]`` with ``alpha = sqrt(beta**2 + 1)``: every frame
    minus the anchor frame, scaled so unit-variance noise keeps unit variance."""
    alpha = math.sqrt(beta**2 + 1)
    return alpha * x - beta * x[:, :, anchor : anchor + 1]


def appearance_debiased_loss(pred: torch.Tensor, target: torch.Tensor, anchor: int, beta: float = 1.0) -> torch.Tensor:
    """MSE between the debiased prediction and the debiased noise (MotionDirector, Eq. 4)."""
    return F.mse_loss(debias(pred.float(), anchor, beta), debias(target.float(), anchor, beta))


def temporal_loss(pred: torch.Tensor, target: torch.Tensor, anchor: int, beta: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(total, debiased part) of the temporal path's loss: plain MSE plus the debiased term."""
    debiased = appearance_debiased_loss(pred, target, anchor, beta)
    return F.mse_loss(pred.float(), target.float()) + debiased, debiased


def spatial_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The spatial path's loss: MSE on the one frame it saw."""
    return F.mse_loss(pred.float(), target.float())
