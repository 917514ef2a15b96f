"""Training clips: a caption each, 16 frames at a frame step (or a target fps), and
aspect-preserving buckets at the preset's size. Frames are uint8 (F, H, W, 3)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.video_io import VideoError, center_crop_resize, read_video

SIZE_MULTIPLE = 64  # SD1.5's UNet halves the 1/8 latents three times


@dataclass(frozen=True)
class TrainingClip:
    name: str  # the file's name, never its server path
    caption: str
    frames: np.ndarray  # (F, H, W, 3) uint8

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)"""
        return self.frames.shape[2], self.frames.shape[1]


def caption_for(path: str | Path, prompt: str) -> str:
    """A ``<clip>.txt`` beside the clip overrides the prompt."""
    text_file = Path(path).with_suffix(".txt")
    if text_file.is_file() and text_file.read_text().strip():
        return text_file.read_text().strip()
    return prompt.strip()


def bucket_size(width: int, height: int, target: int, bucketing: bool) -> tuple[int, int]:
    """(width, height) to train at: a ``target`` square, or with bucketing the clip's aspect ratio
    with the long side at ``target`` and the short side snapped down to a multiple of 64 (at least
    ``min(256, target)``)."""
    if not bucketing or width == height:
        return target, target
    short = min(width, height) * target / max(width, height)
    short = max(min(256, target), int(short) // SIZE_MULTIPLE * SIZE_MULTIPLE)
    return (target, short) if width > height else (short, target)


def frame_step_for(source_fps: float, target_fps: float, max_step: int = 3) -> int:
    """The frame step that plays the source at about ``target_fps``, capped at ``max_step``."""
    return max(1, min(max_step, round(source_fps / target_fps)))


def sample_frames(frames: np.ndarray, count: int, step: int, name: str, start: int = 0) -> np.ndarray:
    """``count`` frames ``step`` apart from ``start``; a clear error when the clip is too short."""
    picked = frames[start::step][:count]
    if len(picked) < count:
        needed = start + (count - 1) * step + 1
        raise ValueError(f"video {name} is too short: {len(frames)} frames, but {count} frames at frame_step {step} "
                         f"need {needed}; lower frame_step or use a longer clip")
    return picked


def load_clip(path: str | Path, prompt: str, frames: int, frame_step: int, target_fps: float, size: int,
              bucketing: bool) -> TrainingClip:
    """One clip, ready to encode. ``target_fps`` > 0 picks the frame step from the clip's rate."""
    path = Path(path)
    try:
        video = read_video(path)
    except VideoError as error:
        raise ValueError(f"video: {error}") from error
    caption = caption_for(path, prompt)
    if not caption:
        raise ValueError(f"prompt is empty: describe what {path.name} shows (or put a {path.stem}.txt beside it)")
    step = frame_step_for(video.fps, target_fps) if target_fps > 0 else frame_step
    picked = sample_frames(video.frames, frames, step, path.name)
    width, height = bucket_size(video.size[0], video.size[1], size, bucketing)
    resized = np.stack([center_crop_resize(frame, width, height) for frame in picked])
    return TrainingClip(path.name, caption, resized)
