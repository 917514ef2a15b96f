"""Scoring predictions against the true continuation: PSNR per predicted frame, for a model and
for the "repeat the last context frame" baseline, on fresh bouncing-balls clips."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .bouncing_balls import bouncing_balls, clip_tensor
from .model import Model
from .sampling import SamplerSettings, generate_frames

# Seeds of evaluation clips; training used 1-3 (see train_embedded), so these clips are fresh.
EVALUATION_SEED = 2024


def psnr(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of frames in [-1, 1] over the last three dims (C, H, W); peak = the full range."""
    mse = ((prediction.clamp(-1, 1) - target) ** 2).mean(dim=(-3, -2, -1))
    return 10 * torch.log10(4.0 / mse.clamp_min(1e-10))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSIM (Wang et al., 2004; 11x11 Gaussian window, sigma 1.5) of frames in [-1, 1] over (C, H, W),
    computed on [0, 1] intensities per channel and averaged."""
    lead = prediction.shape[:-3]
    channels = prediction.shape[-3]
    x = ((prediction.clamp(-1, 1) + 1) / 2).reshape(-1, *prediction.shape[-3:])
    y = ((target + 1) / 2).reshape(-1, *target.shape[-3:])
    window = _gaussian_window().to(x)[None, None].repeat(channels, 1, 1, 1)

    def blur(image: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv2d(image, window, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y, cov = blur(x * x) - mu_x**2, blur(y * y) - mu_y**2, blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return index.mean(dim=(-3, -2, -1)).reshape(lead)


@dataclass
class PredictionScores:
    model_psnr: np.ndarray  # [predicted frames], mean over clips
    repeat_last_psnr: np.ndarray

    @property
    def model_mean(self) -> float:
        return float(self.model_psnr.mean())

    @property
    def repeat_last_mean(self) -> float:
        return float(self.repeat_last_psnr.mean())


def fresh_clips(num_clips: int, num_frames: int, seed: int = EVALUATION_SEED) -> torch.Tensor:
    """[num_clips, num_frames, 3, 64, 64] bouncing-balls clips in [-1, 1]."""
    return torch.stack([clip_tensor(bouncing_balls(num_frames, np.random.default_rng([seed, i]))) for i in range(num_clips)])


@torch.no_grad()
def score_predictions(model: Model, clips: torch.Tensor, context_frames: int, settings: SamplerSettings,
                      seed: int = 0) -> PredictionScores:
    """Predict clips[:, context_frames:] from clips[:, :context_frames] (all clips in one batch)."""
    context, truth = clips[:, :context_frames], clips[:, context_frames:]
    frames = generate_frames(model, context, truth.shape[1], settings, torch.Generator().manual_seed(seed))
    predicted = frames[:, context_frames:]
    repeated = context[:, -1:].expand_as(truth)
    return PredictionScores(psnr(predicted, truth).mean(0).numpy(), psnr(repeated, truth).mean(0).numpy())
