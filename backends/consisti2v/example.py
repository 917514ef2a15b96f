"""The tab's example picture, drawn by code: a lake at sunset (256×256 PNG, a few kB).

    python -m backends.consisti2v.example   # rewrites assets/examples/consisti2v_lake.png
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

EXAMPLE_IMAGE = Path(__file__).resolve().parents[2] / "assets" / "examples" / "consisti2v_lake.png"
EXAMPLE_PROMPT = "gentle waves on a lake at sunset, the sun sinking slowly"


def lake_at_sunset(size: int = 256) -> np.ndarray:
    """uint8 RGB (size, size, 3): sky gradient, sun, hills, water with the sun's reflection."""
    y = np.linspace(0.0, 1.0, size)[:, None, None]
    sky = (1 - y) * np.array([255, 140, 60]) + y * np.array([120, 60, 140])
    image = np.broadcast_to(sky, (size, size, 3)).copy()
    horizon = int(size * 0.6)
    cv2.circle(image, (size // 2, int(size * 0.45)), size // 10, (255, 220, 120), -1, cv2.LINE_AA)
    x = np.arange(size)
    hills = (horizon - size * 0.08 - size * 0.05 * np.sin(x / size * 7.0)).astype(int)
    for column, top in zip(x, hills):
        image[top:horizon, column] = (60, 40, 70)
    water = np.linspace(0.0, 1.0, size - horizon)[:, None, None]
    image[horizon:] = (1 - water) * np.array([200, 110, 90]) + water * np.array([40, 40, 90])
    rows = np.arange(horizon, size)
    for row in rows[::3]:  # the sun's broken reflection
        half = int(size * 0.06 * (1 - (row - horizon) / (size - horizon)) + 2)
        image[row, size // 2 - half : size // 2 + half] = (250, 200, 120)
    return image.clip(0, 255).astype(np.uint8)


def write_example_image(path: Path = EXAMPLE_IMAGE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(lake_at_sunset(), cv2.COLOR_RGB2BGR))
    return path


if __name__ == "__main__":
    print(write_example_image())
