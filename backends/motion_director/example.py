"""The tab's example training clip, drawn by code: a red ball rolling left to right over a sky
and a meadow (one clear motion), 48 frames of 192x128 at 24 fps.

Regenerate it with ``python -m backends.motion_director.example``."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..core.video_io import write_mp4

EXAMPLE_CLIP = Path(__file__).resolve().parents[2] / "assets" / "examples" / "motion_lora_rolling_ball.mp4"
EXAMPLE_PROMPT = "a red ball rolling across a green meadow under a blue sky"


def rolling_ball_frames(count: int = 48, width: int = 192, height: int = 128) -> np.ndarray:
    rows = np.linspace(0, 1, height)[:, None, None]
    sky = (1 - rows) * np.array([120, 170, 250]) + rows * np.array([200, 225, 255])
    background = np.broadcast_to(sky, (height, width, 3)).copy()
    background[int(height * 0.65):] = (70, 150, 60)
    frames = []
    radius = height // 7
    for index in range(count):
        frame = background.astype(np.uint8).copy()
        x = int(radius + (width - 2 * radius) * index / (count - 1))
        y = int(height * 0.65) - radius
        cv2.circle(frame, (x, y), radius, (220, 40, 40), -1, cv2.LINE_AA)
        angle = -index * 0.35  # a stripe shows the roll
        end = (int(x + radius * np.cos(angle)), int(y + radius * np.sin(angle)))
        cv2.line(frame, (x, y), end, (255, 235, 235), 2, cv2.LINE_AA)
        frames.append(frame)
    return np.stack(frames)


def write_example_clip(path: Path = EXAMPLE_CLIP) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_mp4(rolling_ball_frames(), path, fps=24)


if __name__ == "__main__":
    print(write_example_clip())
