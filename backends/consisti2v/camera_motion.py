"""Synthetic camera motion for FrameInit: the first frame panned or zoomed over the clip.

FrameInit then takes its low frequencies from this video instead of the static one, which
steers the result towards the motion. The first frame of the motion video becomes the
conditioning frame. Pans look through a window zoomed in by ``1 + amount``; zooms scale the
window from 1 to ``1 / (1 + amount)`` (in) or back (out).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .settings import CAMERA_MOTIONS

DEFAULT_AMOUNT = 0.25


def camera_motion_video(image: torch.Tensor, motion: str, frames: int, amount: float = DEFAULT_AMOUNT) -> torch.Tensor:
    """``image`` (B, 3, H, W) -> (B, 3, frames, H, W), bilinear, borders never revealed."""
    if motion not in CAMERA_MOTIONS or motion == "none":
        raise ValueError(f"camera_motion={motion!r}: expected one of {', '.join(CAMERA_MOTIONS[1:])}")
    progress = torch.linspace(0.0, 1.0, frames, dtype=torch.float32)
    zoomed = 1.0 / (1.0 + amount)
    if motion.startswith("pan"):
        scale = torch.full_like(progress, zoomed)
        shift = progress * (1.0 - zoomed) * (-1.0 if motion == "pan_left" else 1.0)
    else:
        scale = 1.0 + (zoomed - 1.0) * (progress if motion == "zoom_in" else 1.0 - progress)
        shift = torch.zeros_like(progress)
    theta = torch.zeros(frames, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1], theta[:, 0, 2] = scale, scale, shift
    batch, channels, height, width = image.shape
    grid = F.affine_grid(theta.to(image.device, image.dtype), (frames, channels, height, width), align_corners=False)
    video = torch.stack([
        F.grid_sample(picture[None].expand(frames, -1, -1, -1), grid, mode="bilinear", padding_mode="border",
                      align_corners=False)
        for picture in image
    ])
    return video.transpose(1, 2)
