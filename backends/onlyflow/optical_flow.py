"""Optical flow for OnlyFlow: N+1 frames in, N flows out, plus the colour-wheel picture of it.

OnlyFlow was trained on RAFT-large flow (torchvision, 14 refinement updates, frames scaled to
[-1, 1], raw pixel displacements at the working resolution). That is what we use when
torchvision and its RAFT weights are already on this machine; otherwise OpenCV's DIS flow
(offline, CPU, same units and sign convention). The estimator's ``name`` says which ran.

Layouts: frames are uint8 (N+1, H, W, 3) RGB; flow is float32 (N, 2, H, W), flow[i] the
displacement from frame i to frame i+1, channel 0 = x (right), 1 = y (down). An estimator
called with ``on_pairs`` reports the number of frame pairs done as it goes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from backends.core.checkpoints import load_checkpoint


PairsDone = Callable[[int], None]  # called with the number of frame pairs whose flow is done


def check_frames(frames: np.ndarray) -> None:
    """Raise ``ValueError`` unless ``frames`` is uint8 (N+1, H, W, 3) with at least two frames."""
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        raise ValueError(
            f"frames must be a uint8 numpy array, got {type(frames).__name__} {getattr(frames, 'dtype', '')}"
        )
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must have shape (frames, height, width, 3), got {frames.shape}")
    if frames.shape[0] < 2:
        raise ValueError(f"optical flow needs at least 2 frames, got {frames.shape[0]}")
    if min(frames.shape[1:3]) < 8:
        raise ValueError(f"frames of {frames.shape[2]}x{frames.shape[1]} pixels are too small for optical flow")


class DisFlowEstimator:
    """OpenCV Dense Inverse Search flow (Kroeger et al. 2016) on grey frames: fast, offline."""

    name = "opencv_dis"

    def __init__(self, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM):
        self.preset = preset

    def __call__(self, frames: np.ndarray, on_pairs: PairsDone | None = None) -> np.ndarray:
        check_frames(frames)
        dis = cv2.DISOpticalFlow_create(self.preset)
        grey = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames]
        flows = []
        for i in range(len(grey) - 1):
            flows.append(dis.calc(grey[i], grey[i + 1], None))
            if on_pairs:
                on_pairs(i + 1)
        return np.stack(flows).transpose(0, 3, 1, 2).astype(np.float32, copy=False)


def raft_weights_file() -> Path | None:
    """torchvision's RAFT-large weights if torchvision is installed and the file is in the torch hub cache."""
    try:
        from torchvision.models.optical_flow import Raft_Large_Weights
    except ImportError:
        return None
    path = Path(torch.hub.get_dir()) / "checkpoints" / Raft_Large_Weights.DEFAULT.url.rsplit("/", 1)[-1]
    return path if path.is_file() else None


class RaftFlowEstimator:
    """torchvision RAFT-large (Teed & Deng 2020), as OnlyFlow was trained with."""

    name = "raft_large"
    num_flow_updates = 14

    def __init__(
        self, model: torch.nn.Module | None = None, device: str | torch.device = "cpu", pairs_per_batch: int = 4
    ):
        """``model`` defaults to ``raft_large`` with the cached weights (see ``raft_weights_file``)."""
        if model is None:
            from torchvision.models.optical_flow import raft_large

            weights = raft_weights_file()
            if weights is None:
                raise FileNotFoundError("RAFT-large weights are not in the torch hub cache")
            model = raft_large(weights=None, progress=False)
            model.load_state_dict(load_checkpoint(weights))
        self.model = model.eval().to(device)
        self.device = torch.device(device)
        self.pairs_per_batch = pairs_per_batch

    @torch.no_grad()
    def __call__(self, frames: np.ndarray, on_pairs: PairsDone | None = None) -> np.ndarray:
        check_frames(frames)
        if frames.shape[1] % 8 or frames.shape[2] % 8:
            raise ValueError(f"RAFT needs sizes divisible by 8, got {frames.shape[2]}x{frames.shape[1]}")
        images = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)  # [-1, 1]
        flows = []
        for start in range(0, len(images) - 1, self.pairs_per_batch):
            end = min(start + self.pairs_per_batch, len(images) - 1)
            first = images[start:end].to(self.device)
            second = images[start + 1 : end + 1].to(self.device)
            flows.append(self.model(first, second, num_flow_updates=self.num_flow_updates)[-1].float().cpu())
            if on_pairs:
                on_pairs(end)
        return torch.cat(flows).numpy()


def flow_estimator(device: str | torch.device = "cpu") -> DisFlowEstimator | RaftFlowEstimator:
    """RAFT-large when it can run offline here, else DIS."""
    return RaftFlowEstimator(device=device) if raft_weights_file() is not None else DisFlowEstimator()


def _colour_wheel() -> np.ndarray:
    """The Middlebury flow colour wheel (Baker et al. 2011): 55 hues from red through yellow,
    green, cyan, blue and magenta, more steps where the eye tells hues apart better."""
    corners = [(1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 1, 1), (0, 0, 1), (1, 0, 1), (1, 0, 0)]
    steps = [15, 6, 4, 11, 13, 6]
    return np.concatenate([np.linspace(corners[i], corners[i + 1], n, endpoint=False) for i, n in enumerate(steps)])


def flow_to_color(flow: np.ndarray, max_radius: float | None = None) -> np.ndarray:
    """Colour-wheel pictures of flow (N, 2, H, W) -> uint8 (N, H, W, 3): hue is the direction,
    saturation the speed relative to ``max_radius`` (default: the clip's fastest motion, so
    frames of one clip share a scale)."""
    u, v = flow[:, 0].astype(np.float64), flow[:, 1].astype(np.float64)
    radius = np.hypot(u, v)
    scale = max_radius if max_radius is not None else float(radius.max())
    radius = radius / max(scale, 1e-8)
    wheel = _colour_wheel()
    # Direction -> fractional wheel position: rightward motion is red, downward yellow, leftward cyan, upward violet.
    position = (np.arctan2(-v, -u) / np.pi + 1.0) / 2.0 * (len(wheel) - 1)
    lower = np.floor(position).astype(int)
    upper = (lower + 1) % len(wheel)
    fraction = (position - lower)[..., None]
    colour = (1 - fraction) * wheel[lower] + fraction * wheel[upper]
    inside = (radius <= 1)[..., None]
    colour = np.where(inside, 1 - radius[..., None] * (1 - colour), colour * 0.75)  # beyond the scale: darker
    return np.round(colour * 255).astype(np.uint8)
