"""Training clips for RIVER: a folder of videos, or HDF5 shards in the official layout.

Official HDF5 layout (one shard per 100000 videos): `<root>/<split>/shard_0001.hdf5` holding a
group `len` (one scalar dataset per video: its frame count), an empty group `videos`, and one
group per video ("0", "1", ...) with one LZF-compressed uint8 [S, S, 3] RGB dataset per frame.

A "video" is a video file (read with OpenCV) or a sub-folder of image files (sorted by name).
Frames are centre-cropped to a square and resized to S x S (`backends/core/video_io`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import h5py
import numpy as np
import torch

from ..core.jobs import CancelToken
from ..core.video_io import IMAGE_SUFFIXES, VIDEO_SUFFIXES, center_crop_resize, read_clip

SHARD_SIZE = 100_000
SPLITS = ("train", "val", "test")


def list_videos(folder: str | Path) -> list[Path]:
    """Video files and image-sequence sub-folders directly inside ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"video folder not found: {folder}")
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.is_file() and entry.suffix.lower() in VIDEO_SUFFIXES:
            found.append(entry)
        elif entry.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in entry.iterdir()):
            found.append(entry)
    return found


def clip_span(frames_per_sample: int, skip_frames: int) -> int:
    return (skip_frames + 1) * (frames_per_sample - 1) + 1


def _to_clip(frames: np.ndarray) -> torch.Tensor:
    """uint8 [T, H, W, 3] -> float32 [T, 3, H, W] in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


class _ClipSampler(torch.utils.data.Dataset):
    """Random clips of ``frames_per_sample`` frames (stride ``skip_frames + 1``) from each video."""

    def __init__(self, lengths: list[int], frames_per_sample: int, skip_frames: int):
        self.frames_per_sample, self.stride = frames_per_sample, skip_frames + 1
        span = clip_span(frames_per_sample, skip_frames)
        # Videos too short for one clip are left out.
        self.videos = [i for i, length in enumerate(lengths) if length >= span]
        self.lengths = lengths
        self.span = span

    def __len__(self) -> int:
        return len(self.videos)

    def frame_indices(self, item: int) -> tuple[int, list[int]]:
        video = self.videos[item]
        start = int(torch.randint(0, self.lengths[video] - self.span + 1, ()))
        return video, list(range(start, start + self.span, self.stride))


class VideoFolderDataset(_ClipSampler):
    """Clips from a folder of videos, decoded once into memory at ``image_size`` (convert large
    collections to HDF5 instead)."""

    def __init__(self, folder: str | Path, frames_per_sample: int, image_size: int, skip_frames: int = 0):
        self.frames = [np.stack([center_crop_resize(f, image_size, image_size) for f in read_clip(p).frames]) for p in list_videos(folder)]
        super().__init__([len(f) for f in self.frames], frames_per_sample, skip_frames)

    def __getitem__(self, item: int) -> torch.Tensor:
        video, indices = self.frame_indices(item)
        return _to_clip(self.frames[video][indices])


def hdf5_shards(path: str | Path, split: str = "train") -> list[Path]:
    """Shards of the official layout: a shard file, a split folder, or a root with split folders."""
    path = Path(path)
    if path.is_file():
        return [path]
    if (path / split).is_dir():
        path = path / split
    shards = sorted(path.glob("shard_*.hdf5"))
    if not shards:
        raise ValueError(f"no shard_*.hdf5 files in {path}")
    return shards


class HDF5Dataset(_ClipSampler):
    """Clips from HDF5 shards in the official layout (files opened lazily, once per worker)."""

    def __init__(self, path: str | Path, frames_per_sample: int, image_size: int | None = None,
                 skip_frames: int = 0, split: str = "train"):
        self.image_size = image_size
        self.entries: list[tuple[Path, str]] = []
        lengths = []
        for shard in hdf5_shards(path, split):
            with h5py.File(shard, "r") as file:
                for key in sorted(file["len"].keys(), key=int):
                    self.entries.append((shard, key))
                    lengths.append(int(file["len"][key][()]))
        self._files: dict[Path, h5py.File] = {}
        super().__init__(lengths, frames_per_sample, skip_frames)

    def _file(self, shard: Path) -> h5py.File:
        if shard not in self._files:
            self._files[shard] = h5py.File(shard, "r")
        return self._files[shard]

    def __getstate__(self):  # open handles do not cross into DataLoader workers
        return {**self.__dict__, "_files": {}}

    def __getitem__(self, item: int) -> torch.Tensor:
        video, indices = self.frame_indices(item)
        shard, key = self.entries[video]
        group = self._file(shard)[key]
        frames = [group[str(i)][()] for i in indices]
        if self.image_size is not None:
            frames = [center_crop_resize(f, self.image_size, self.image_size) for f in frames]
        return _to_clip(np.stack(frames))


def convert_videos_to_hdf5(source: str | Path, output_dir: str | Path, image_size: int, split: str = "train",
                           cancel: CancelToken | None = None,
                           on_video: Callable[[int, int], None] | None = None) -> list[Path]:
    """Write every video under ``source`` into `<output_dir>/<split>/shard_0001.hdf5` (official layout).

    Unreadable videos are skipped, as in the official converter. Returns the shard paths.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    videos = list_videos(source)
    if not videos:
        raise ValueError(f"no videos or image folders found in {source}")
    split_dir = Path(output_dir) / split
    split_dir.mkdir(parents=True, exist_ok=True)
    shards: list[Path] = []
    file = None
    written = 0
    try:
        for position, video in enumerate(videos):
            if cancel is not None:
                cancel.raise_if_cancelled()
            try:
                frames = [center_crop_resize(f, image_size, image_size) for f in read_clip(video).frames]
            except (ValueError, cv2.error):
                continue
            if written % SHARD_SIZE == 0:
                if file is not None:
                    file.close()
                shards.append(split_dir / f"shard_{len(shards) + 1:04d}.hdf5")
                file = h5py.File(shards[-1], "w")
                file.create_group("len")
                file.create_group("videos")
            key = str(written % SHARD_SIZE)
            file["len"].create_dataset(key, data=len(frames))
            group = file.create_group(key)
            for index, frame in enumerate(frames):
                group.create_dataset(str(index), data=frame, dtype=np.uint8, compression="lzf")
            written += 1
            if on_video is not None:
                on_video(position + 1, len(videos))
    finally:
        if file is not None:
            file.close()
    return shards


def open_clip_dataset(data, frames_per_sample: int, image_size: int, skip_frames: int = 0, split: str = "train"):
    """A clip dataset from a Dataset (returned as is), an HDF5 shard/folder, or a video folder."""
    if isinstance(data, torch.utils.data.Dataset):
        return data
    path = Path(data)
    is_hdf5 = path.suffix == ".hdf5" or (path.is_dir() and (any(path.glob("shard_*.hdf5")) or any(path.glob("*/shard_*.hdf5"))))
    if is_hdf5:
        return HDF5Dataset(path, frames_per_sample, image_size, skip_frames, split)
    return VideoFolderDataset(path, frames_per_sample, image_size, skip_frames)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Convert a folder of videos to RIVER's HDF5 layout.")
    parser.add_argument("source", help="folder of video files and/or image-sequence folders")
    parser.add_argument("output_dir")
    parser.add_argument("--size", type=int, default=64, help="frames are centre-cropped and resized to size x size")
    parser.add_argument("--split", default="train", choices=SPLITS)
    args = parser.parse_args(argv)
    shards = convert_videos_to_hdf5(args.source, args.output_dir, args.size, args.split,
                                    on_video=lambda done, total: print(f"{done}/{total}", end="\r", flush=True))
    print("\n" + "\n".join(str(shard) for shard in shards))


if __name__ == "__main__":
    main()
