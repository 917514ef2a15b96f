"""What the autoencoder and vector-field trainers share: devices (via `accelerate` when present),
an endless stream of batches and frames for previews (checkpoints: ``core.checkpoints.atomic_save``).

Multi-GPU: start either trainer's CLI under `accelerate launch --multi_gpu --num_processes N -m ...`;
`accelerate` then wraps the model in DistributedDataParallel and shards the batches. Without
`accelerate`, or with one process, training runs on a single device (GPU if available, else CPU).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from ..core.video_io import side_by_side as frames_side_by_side


class SingleDevice:
    """The subset of `accelerate.Accelerator` the trainers use, for one device without accelerate."""

    process_index, is_main_process = 0, True

    def __init__(self, device: str | None = None):
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))

    def prepare(self, *objects):
        return objects if len(objects) > 1 else objects[0]

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def unwrap_model(self, model: torch.nn.Module) -> torch.nn.Module:
        return model


def make_accelerator(device: str | None = None):
    """An `accelerate.Accelerator` for the default device, "cpu" or "cuda" when the package is
    installed; otherwise (or for a specific device such as "cuda:1") one plain device."""
    if device in (None, "cpu", "cuda"):
        try:
            from accelerate import Accelerator
        except ImportError:
            return SingleDevice(device)
        return Accelerator(cpu=device == "cpu")
    return SingleDevice(device)


def endless_batches(dataset: torch.utils.data.Dataset, batch_size: int, seed: int, accelerator,
                    num_workers: int = 0) -> Iterator[torch.Tensor]:
    """Shuffled batches forever (a new permutation each pass), sharded across processes."""
    if len(dataset) == 0:
        raise ValueError("the training data holds no usable clips")
    generator = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=True, drop_last=len(dataset) >= batch_size,
        num_workers=num_workers, generator=generator, persistent_workers=num_workers > 0,
    )
    loader = accelerator.prepare(loader)
    while True:
        yield from loader


def mean_across_processes(value: torch.Tensor) -> torch.Tensor:
    """The mean of ``value`` over all training processes (itself when there is one)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        value = value.clone()
        torch.distributed.all_reduce(value)
        value /= torch.distributed.get_world_size()
    return value


def to_uint8_frames(frames: torch.Tensor) -> np.ndarray:
    """[F, 3, H, W] in [-1, 1] -> uint8 [F, H, W, 3]."""
    return ((frames.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def side_by_side(*rows: torch.Tensor) -> np.ndarray:
    """Frame-wise horizontal concatenation of equally long [F, 3, H, W] sequences, as uint8 [F, H, W*k, 3]."""
    return frames_side_by_side([to_uint8_frames(row) for row in rows], gap=0)
