"""Procedural bouncing-balls clips: the data of the embedded default RIVER model.

1-3 discs (radius 4-8 px) of any RGB colour with at least one channel >= 80, on a black square
canvas, each moving at a constant speed of 0.5-5 px per frame in any direction and bouncing
elastically off the walls (balls pass through each other; later balls are drawn on top).
Positions are sub-pixel and discs are anti-aliased, so slow motion is still visible. Pure numpy,
fully seeded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

RADIUS_RANGE = (4.0, 8.0)
SPEED_RANGE = (0.5, 5.0)  # pixels per frame
MIN_BRIGHTEST_CHANNEL = 80  # a disc is at least this bright in one channel (the background is black)


@dataclass(frozen=True)
class Balls:
    """The discs of one clip: centres per frame (x, y), radii and RGB colours (0-255)."""

    positions: np.ndarray  # [T, n, 2]
    radius: np.ndarray  # [n]
    colour: np.ndarray  # [n, 3] float32


def random_colours(count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` uniform RGB colours, redrawn until one channel is at least `MIN_BRIGHTEST_CHANNEL`."""
    colours = rng.integers(0, 256, size=(count, 3))
    while (dark := colours.max(axis=1) < MIN_BRIGHTEST_CHANNEL).any():
        colours[dark] = rng.integers(0, 256, size=(int(dark.sum()), 3))
    return colours.astype(np.float32)


def random_balls(num_frames: int, rng: np.random.Generator, size: int = 64, max_balls: int = 3) -> Balls:
    """Draw 1-``max_balls`` discs and follow them for ``num_frames`` frames."""
    count = int(rng.integers(1, max_balls + 1))
    radius = rng.uniform(*RADIUS_RANGE, size=count)
    position = rng.uniform(radius[:, None], size - radius[:, None], size=(count, 2))  # (x, y)
    angle = rng.uniform(0, 2 * np.pi, size=count)
    speed = rng.uniform(*SPEED_RANGE, size=count)
    velocity = np.stack([np.cos(angle), np.sin(angle)], axis=1) * speed[:, None]
    return follow_balls(position, velocity, radius, random_colours(count, rng), num_frames, size)


def follow_balls(position: np.ndarray, velocity: np.ndarray, radius: np.ndarray, colour: np.ndarray,
                 num_frames: int, size: int = 64) -> Balls:
    """Discs starting at ``position`` (x, y) [n, 2] with ``velocity`` in px/frame, for ``num_frames``."""
    positions = []
    for _ in range(num_frames):
        positions.append(position)
        position, velocity = advance_balls(position, velocity, radius, size)
    return Balls(np.stack(positions), np.asarray(radius, dtype=np.float64), np.asarray(colour, dtype=np.float32))


def render_balls(balls: Balls, size: int = 64) -> np.ndarray:
    """uint8 [T, size, size, 3]: anti-aliased discs on black, later balls on top."""
    centres = (np.arange(size) + 0.5).astype(np.float32)
    frames = np.zeros((len(balls.positions), size, size, 3), dtype=np.float32)
    for canvas, position in zip(frames, balls.positions):
        for (x, y), radius, colour in zip(position, balls.radius, balls.colour):
            dx, dy = centres[None, :] - x, centres[:, None] - y
            coverage = np.clip(radius + 0.5 - np.sqrt(dx * dx + dy * dy), 0.0, 1.0)[..., None]
            canvas[:] = canvas * (1 - coverage) + colour * coverage
    return np.round(frames).astype(np.uint8)


def bouncing_balls(num_frames: int, rng: np.random.Generator, size: int = 64, max_balls: int = 3) -> np.ndarray:
    """One clip, uint8 [num_frames, size, size, 3]."""
    return render_balls(random_balls(num_frames, rng, size, max_balls), size)


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
