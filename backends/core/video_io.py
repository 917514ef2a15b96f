"""Reading and writing video: any common container in, browser-playable H.264 MP4 out.

Frames are always uint8 RGB arrays of shape (N, H, W, 3). Reading samples to a target fps
and frame count and resizes while it reads, so a 4K upload never sits in memory at full size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".gif", ".mpg", ".mpeg", ".ts")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
DEFAULT_MAX_SIDE = 1024  # longest side kept when no size is asked for


class VideoError(ValueError):
    """The file is not a video we can read, or holds nothing usable."""


@dataclass(frozen=True)
class Video:
    frames: np.ndarray  # (N, H, W, 3) uint8 RGB
    fps: float

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)"""
        return self.frames.shape[2], self.frames.shape[1]


def center_crop_resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Crop the centre to the target aspect ratio, then resize (area filter when shrinking)."""
    h, w = frame.shape[:2]
    scale = max(width / w, height / h)
    crop_w, crop_h = min(w, round(width / scale)), min(h, round(height / scale))
    x0, y0 = (w - crop_w) // 2, (h - crop_h) // 2
    crop = frame[y0 : y0 + crop_h, x0 : x0 + crop_w]
    if crop.shape[1] == width and crop.shape[0] == height:
        return np.ascontiguousarray(crop)
    shrinking = crop_w > width or crop_h > height
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def fit_within(frame: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink so the longest side is at most ``max_side``, keeping the aspect ratio."""
    h, w = frame.shape[:2]
    if max(h, w) <= max_side:
        return frame
    scale = max_side / max(h, w)
    return cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def sample_times(source_fps: float, target_fps: float | None) -> Iterable[bool]:
    """For each source frame in order, whether to keep it to play back at ``target_fps``.

    Keeps the first frame at or after each target time step; with no target, keeps all.
    """
    if not target_fps or target_fps >= source_fps:
        while True:
            yield True
    next_time, index = 0.0, 0
    step = 1.0 / target_fps
    while True:
        time = index / source_fps
        keep = time + 1e-9 >= next_time
        while next_time <= time + 1e-9:
            next_time += step
        index += 1
        yield keep


def read_video(
    path: str | Path,
    fps: float | None = None,
    max_frames: int | None = None,
    size: tuple[int, int] | None = None,
    max_side: int = DEFAULT_MAX_SIDE,
    start_frame: int = 0,
) -> Video:
    """Read a video file, resampled to ``fps`` (if lower than the source's), at most
    ``max_frames`` frames, centre-cropped and resized to ``size`` = (width, height) if given,
    else shrunk to ``max_side``."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"video file not found: {path.name}")
    if path.stat().st_size == 0:
        raise VideoError(f"{path.name} is empty (0 bytes)")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise VideoError(f"{path.name} is not a video this app can read (tried OpenCV/FFmpeg)")
    source_fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    if not (0 < source_fps < 1000):
        source_fps = 25.0  # containers without a rate (some GIFs, raw streams)
    frames: list[np.ndarray] = []
    keep = sample_times(source_fps, fps)
    index = 0
    try:
        while max_frames is None or len(frames) < max_frames:
            ok, bgr = capture.read()
            if not ok:
                break
            index += 1
            if index <= start_frame or not next(keep):
                continue
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            frames.append(center_crop_resize(rgb, *size) if size else fit_within(rgb, max_side))
    finally:
        capture.release()
    if not frames:
        raise VideoError(f"{path.name} holds no readable video frames (is it corrupt, or audio only?)")
    return Video(np.stack(frames), float(fps if fps and fps < source_fps else source_fps))


def read_images(paths: Sequence[str | Path], size: tuple[int, int] | None = None, fps: float = 8.0) -> Video:
    """A sequence of image files as a video, in the given order; sizes follow the first image."""
    if not paths:
        raise VideoError("no images given")
    frames = []
    for path in paths:
        if not Path(path).is_file():
            raise VideoError(f"image file not found: {Path(path).name}")
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise VideoError(f"{Path(path).name} is not an image this app can read")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if size is None:
            rgb = fit_within(rgb, DEFAULT_MAX_SIDE)
            size = (rgb.shape[1], rgb.shape[0])
        frames.append(center_crop_resize(rgb, *size))
    return Video(np.stack(frames), fps)


def read_clip(path: str | Path, max_frames: int | None = None) -> Video:
    """A video file, or a folder of image files taken in name order."""
    path = Path(path)
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise VideoError(f"the folder {path.name} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        return read_images(images[:max_frames])
    return read_video(path, max_frames=max_frames)


def _as_uint8_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames must have shape (N, H, W, 3) with N >= 1, got {frames.shape}")
    if frames.dtype != np.uint8:
        frames = (np.clip(frames, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    return frames


def write_mp4(frames: np.ndarray, path: str | Path, fps: float, crf: int = 18) -> Path:
    """H.264, yuv420p, faststart: plays in every browser. Odd sizes are padded to even."""
    import imageio_ffmpeg

    frames = _as_uint8_frames(frames)
    n, h, w, _ = frames.shape
    pad_h, pad_w = h % 2, w % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    path = Path(path)
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (w + pad_w, h + pad_h),
        fps=float(fps),
        codec="libx264",
        pix_fmt_in="rgb24",
        pix_fmt_out="yuv420p",
        macro_block_size=1,
        output_params=["-crf", str(crf), "-movflags", "+faststart"],
        ffmpeg_log_level="error",
    )
    writer.send(None)  # start the encoder
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    return path


def write_gif(frames: np.ndarray, path: str | Path, fps: float) -> Path:
    from PIL import Image

    frames = _as_uint8_frames(frames)
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    return Path(path)


def probe_video(path: str | Path) -> tuple[int, float, int, int]:
    """(frame count, fps, width, height) as the container reports them."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise VideoError(f"{Path(path).name} is not a video this app can read")
    try:
        return (
            int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
            float(capture.get(cv2.CAP_PROP_FPS)),
            int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
    finally:
        capture.release()


def side_by_side(videos: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """Place clips of equal frame count and height next to each other, separated by a dark gap."""
    count = min(len(v) for v in videos)
    height = max(v.shape[1] for v in videos)
    columns = []
    for i, clip in enumerate(videos):
        clip = clip[:count]
        if clip.shape[1] != height:
            width = round(clip.shape[2] * height / clip.shape[1])
            clip = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in clip])
        columns.append(clip)
        if i < len(videos) - 1:
            columns.append(np.zeros((count, height, gap, 3), np.uint8))
    return np.concatenate(columns, axis=2)


CAPTION_FONT = cv2.FONT_HERSHEY_SIMPLEX
CAPTION_MARGIN = 3  # pixels of strip left free on each side of a caption line
CAPTION_SCALES = (0.3, 0.5)  # font scales: the smallest one still readable, the one of a roomy panel


def caption_layout(text: str, width: int) -> tuple[list[str], float]:
    """(lines, font scale) that fit ``text`` into a panel ``width`` pixels wide: one line as large as
    fits (up to the roomy scale); when even the smallest readable scale is too wide, the words are
    wrapped (a word wider than the panel is cut into pieces that fit)."""
    smallest, largest = CAPTION_SCALES
    room = max(1, width - 2 * CAPTION_MARGIN)

    def fits(line: str, scale: float = smallest) -> bool:
        return cv2.getTextSize(line, CAPTION_FONT, scale, 1)[0][0] <= room

    lines: list[str] = [text] if fits(text) else []
    for word in text.split() if not lines else ():
        while len(word) > 1 and not fits(word):  # a long word: the longest head that fits, then the rest
            head = next((n for n in range(len(word) - 1, 1, -1) if fits(word[:n])), 1)
            lines, word = [*lines, word[:head]], word[head:]
        if lines and fits(f"{lines[-1]} {word}"):
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    widest = max((cv2.getTextSize(line, CAPTION_FONT, 1.0, 1)[0][0] for line in lines), default=1)
    scale = min(largest, room / max(widest, 1))
    while scale > 0.05 and not all(fits(line, scale) for line in lines):  # text width is not quite linear
        scale -= 0.01
    return lines, scale


def caption_line_metrics(scale: float) -> tuple[int, int]:
    """(line height, descent below the baseline) of caption text at ``scale``."""
    (_, height), baseline = cv2.getTextSize("Ag", CAPTION_FONT, scale, 1)
    return height + baseline, baseline


def captioned(videos: Sequence[np.ndarray], texts: Sequence[str], height: int = 18) -> list[np.ndarray]:
    """Each clip with a dark strip on top carrying its text, fitted to the clip's width (see
    ``caption_layout``). The captions share one font size and one strip height (at least
    ``height``), so the clips stay aligned side by side."""
    layouts = [caption_layout(text, clip.shape[2]) for clip, text in zip(videos, texts, strict=True)]
    scale = min(scale for _, scale in layouts)
    line_height, descent = caption_line_metrics(scale)
    strip_height = max([height] + [2 + len(lines) * line_height for lines, _ in layouts])
    labelled = []
    for clip, (lines, _) in zip(videos, layouts):
        count, _, width, _ = clip.shape
        strip = np.zeros((strip_height, width, 3), np.uint8)
        top = (strip_height - len(lines) * line_height) // 2
        for index, line in enumerate(lines):  # centred (a player's label covers the top-left corner)
            x = (width - cv2.getTextSize(line, CAPTION_FONT, scale, 1)[0][0]) // 2
            y = top + (index + 1) * line_height - descent
            cv2.putText(strip, line, (x, y), CAPTION_FONT, scale, (235, 235, 235), 1, cv2.LINE_AA)
        labelled.append(np.concatenate([np.broadcast_to(strip, (count, strip_height, width, 3)), clip], axis=1))
    return labelled
