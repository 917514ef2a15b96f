"""Cheap previews of latents while a job runs: a per-model linear map from latent channels to
RGB instead of a VAE decode, and a contact sheet that shows every frame at once."""

from __future__ import annotations

from typing import TYPE_CHECKING

import math

import numpy as np
if TYPE_CHECKING:  # torch loads on first use, not when the app starts
    import torch

# Least-squares fits of latent channels -> RGB in [-1, 1] for known latent spaces
# (the "latent RGB factors" that ComfyUI, FramePack and Wan2GP previews use).
LATENT_RGB = {
    "sd15": (
        [
            [0.3512, 0.2297, 0.3227],
            [0.3250, 0.4974, 0.2350],
            [-0.2829, 0.1762, 0.2721],
            [-0.2120, -0.2616, -0.7177],
        ],
        [0.0, 0.0, 0.0],
    ),
}


def latents_to_rgb(latents: torch.Tensor, space: str = "sd15") -> np.ndarray:
    """(C, F, h, w) or (B, C, F, h, w) latents (first video used) -> uint8 frames (F, h, w, 3)."""
    import torch

    if latents.ndim == 5:
        latents = latents[0]
    if latents.ndim != 4:
        raise ValueError(f"latents must be (C, F, h, w) or (B, C, F, h, w), got {tuple(latents.shape)}")
    factors, bias = LATENT_RGB[space]
    if latents.shape[0] != len(factors):
        raise ValueError(f"{space} previews expect {len(factors)} latent channels, got {latents.shape[0]}")
    with torch.no_grad():
        # Map on the latents' own device (microseconds on a GPU); only uint8 pixels travel back.
        x = latents.detach().float().permute(1, 2, 3, 0)  # (F, h, w, C)
        matrix = torch.tensor(factors, dtype=torch.float32, device=x.device)
        rgb = torch.addmm(torch.tensor(bias, device=x.device), x.reshape(-1, x.shape[-1]), matrix)
        pixels = ((rgb + 1.0) * 127.5).clamp_(0, 255).to(torch.uint8)
        return pixels.reshape(*x.shape[:3], 3).cpu().numpy()


def enlarged(frames: np.ndarray, min_side: int) -> np.ndarray:
    """Frames (F, H, W, 3) enlarged by the smallest whole factor (nearest: pixels stay crisp) that
    makes their longer side at least ``min_side``; frames already that large come back as they are."""
    scale = max(1, math.ceil(min_side / max(frames.shape[1:3])))
    return frames.repeat(scale, axis=1).repeat(scale, axis=2) if scale > 1 else frames


def contact_sheet(frames: np.ndarray, columns: int | None = None, gap: int = 2, min_tile: int = 64) -> np.ndarray:
    """Tile frames (F, H, W, 3) into one image, row by row; small tiles are enlarged (nearest)."""
    frames = enlarged(frames, min_tile)
    count, height, width, _ = frames.shape
    columns = columns or math.ceil(math.sqrt(count * height / width))
    rows = math.ceil(count / columns)
    sheet = np.zeros((rows * (height + gap) - gap, columns * (width + gap) - gap, 3), np.uint8)
    for index, frame in enumerate(frames):
        row, column = divmod(index, columns)
        y, x = row * (height + gap), column * (width + gap)
        sheet[y : y + height, x : x + width] = frame
    return sheet
