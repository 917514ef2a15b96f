"""The picture a video starts from: read, centre-cropped to the output's aspect ratio and
resized, exactly as the tab's preview shows it. Light to import: no torch here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.video_io import IMAGE_SUFFIXES, VideoError, center_crop_resize, read_images


@dataclass(frozen=True)
class FirstFrame:
    pixels: np.ndarray  # (height, width, 3) uint8 RGB: what the model gets
    source_size: tuple[int, int]  # (width, height) of the file as read
    notes: tuple[str, ...] = ()


def prepare_first_frame(path: str | Path | None, width: int, height: int) -> FirstFrame:
    """``path`` cropped to ``width``:``height`` around its centre and resized; notes say when the
    picture was upscaled or lost much of its area to the crop. ``VideoError`` for no or a non-image file."""
    if not str(path or "").strip():
        raise VideoError("image is missing: upload the picture the video should start from")
    if Path(path).suffix.lower() not in IMAGE_SUFFIXES:
        raise VideoError(f"{Path(path).name} is not an image ({', '.join(IMAGE_SUFFIXES)})")
    frame = read_images([path]).frames[0]
    source_h, source_w = frame.shape[:2]
    scale = max(width / source_w, height / source_h)
    kept = min(1.0, width / (source_w * scale)) * min(1.0, height / (source_h * scale))
    notes = []
    if scale > 1:
        notes.append(f"the image is {source_w}×{source_h}, smaller than {width}×{height}: it was upscaled, "
                     "expect a soft video")
    if kept < 0.75:
        notes.append(f"the image's aspect ratio differs from {width}×{height}: only its centre "
                     f"({kept:.0%} of it) is used, as the preview shows")
    return FirstFrame(center_crop_resize(frame, width, height), (source_w, source_h), tuple(notes))
