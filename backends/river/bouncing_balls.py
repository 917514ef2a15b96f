"""Procedural bouncing-balls clips: the data of the embedded default RIVER model.

1-3 coloured discs (radius 4-8 px) on a black square canvas, each moving at a constant velocity
and bouncing elastically off the walls (balls pass through each other). Positions are sub-pixel
and discs are anti-aliased, so slow motion is still visible. Pure numpy, fully seeded.
"""

from __future__ import annotations

import numpy as np
import torch

PALETTE = np.array(
    [[230, 40, 40], [40, 200, 60], [50, 90, 240], [240, 210, 40], [40, 210, 220], [220, 60, 220]],
    dtype=np.float32,
)
RADIUS_RANGE = (4.0, 8.0)
SPEED_RANGE = (1.0, 3.0)  # pixels per frame


def bouncing_balls(num_frames: int, rng: np.random.Generator, size: int = 64, max_balls: int = 3) -> np.ndarray:
    """One clip, uint8 [num_frames, size, size, 3]."""
    count = int(rng.integers(1, max_balls + 1))
    radius = rng.uniform(*RADIUS_RANGE, size=count)
    position = rng.uniform(radius[:, None], size - radius[:, None], size=(count, 2))  # (x, y)
    angle = rng.uniform(0, 2 * np.pi, size=count)
    speed = rng.uniform(*SPEED_RANGE, size=count)
    velocity = np.stack([np.cos(angle), np.sin(angle)], axis=1) * speed[:, None]
    colour = PALETTE[rng.choice(len(PALETTE), size=count, replace=count > len(PALETTE))]

    centres = (np.arange(size) + 0.5).astype(np.float32)
    frames = np.zeros((num_frames, size, size, 3), dtype=np.float32)
    for t in range(num_frames):
        canvas = frames[t]
        for i in range(count):
            dx = centres[None, :] - position[i, 0]
            dy = centres[:, None] - position[i, 1]
            coverage = np.clip(radius[i] + 0.5 - np.sqrt(dx * dx + dy * dy), 0.0, 1.0)[..., None]
            canvas[:] = canvas * (1 - coverage) + colour[i] * coverage  # later balls are drawn on top
        position, velocity = advance_balls(position, velocity, radius, size)
    return np.round(frames).astype(np.uint8)


def advance_balls(position: np.ndarray, velocity: np.ndarray, radius: np.ndarray, size: int):
    """One frame of constant-velocity motion with elastic reflection at the walls."""
    position = position + velocity
    velocity = velocity.copy()
    low, high = radius[:, None], size - radius[:, None]
    below, above = position < low, position > high
    position = np.where(below, 2 * low - position, position)
    position = np.where(above, 2 * high - position, position)
    velocity[below | above] *= -1
    return position, velocity


def clip_tensor(clip: np.ndarray) -> torch.Tensor:
    """uint8 [T, H, W, 3] -> float32 [T, 3, H, W] in [-1, 1] (RIVER's input range)."""
    return torch.from_numpy(clip).permute(0, 3, 1, 2).float() / 127.5 - 1.0


class BouncingBallsDataset(torch.utils.data.Dataset):
    """``length`` fixed clips; clip i is generated from seed (``seed``, i), so any index is reproducible."""

    def __init__(self, length: int, frames_per_sample: int, seed: int = 0, size: int = 64):
        self.length, self.frames_per_sample, self.seed, self.size = length, frames_per_sample, seed, size

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, index])
        return clip_tensor(bouncing_balls(self.frames_per_sample, rng, self.size))
