"""The frame-prediction job: context frames of a video in, predicted continuations out.

`predict_video` is a generator: while it runs it yields `Progress` (one per ODE step, with ETA)
and a `Preview` per predicted frame (all samples side by side, as soon as the frame is decoded);
its *return value* is a `FramePrediction` with every frame as uint8 and, when the video is longer
than the context, PSNR / SSIM per predicted frame against the true continuation. Writing videos
and sidecars is the shared runtime's part.

    prediction = yield from predict_video(model, frames, settings, cancel)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Generator

import numpy as np
import torch

from ..core.jobs import CancelToken, Event, Preview, StepTimer, run_in_thread
from .data import square_resize
from .evaluate import psnr, ssim
from .model import Model
from .sampling import SamplerSettings, stream_frames
from .train_common import to_uint8_frames


@dataclass(frozen=True)
class FramePredictionSettings:
    context_frames: int = 2
    predict_frames: int = 8
    sampler: str = "euler"
    steps: int = 8
    warm_start: float = 0.0
    samples: int = 1
    seed: int = 0

    @property
    def sampler_settings(self) -> SamplerSettings:
        return SamplerSettings(self.sampler, self.steps, self.warm_start)

    def check_inputs(self, video_frames: int) -> None:
        """Raise `ValueError` naming the first bad argument (``video_frames``: frames available)."""
        if self.context_frames < 1:
            raise ValueError(f"context_frames must be at least 1, got {self.context_frames}")
        if self.context_frames > video_frames:
            raise ValueError(f"context_frames is {self.context_frames} but the video has only {video_frames} frames")
        if self.predict_frames < 1:
            raise ValueError(f"predict_frames must be at least 1, got {self.predict_frames}")
        if self.samples < 1:
            raise ValueError(f"samples must be at least 1, got {self.samples}")
        self.sampler_settings.check()


@dataclass
class FramePrediction:
    """``frames``: uint8 [samples, context + predicted, H, W, 3] (context as given, resized)."""

    frames: np.ndarray
    context_frames: int
    ground_truth: np.ndarray | None  # uint8 [k, H, W, 3]: the true continuation, k <= predicted
    psnr: list[float] = field(default_factory=list)  # per predicted frame with ground truth, mean over samples
    ssim: list[float] = field(default_factory=list)
    nfe_per_frame: int = 0
    settings: dict = field(default_factory=dict)


def prepare_frames(frames: np.ndarray, image_size: tuple[int, int]) -> torch.Tensor:
    """uint8 [T, H, W, 3] of any size -> [T, 3, h, w] in [-1, 1] at the model's frame size (centre crop)."""
    height, width = image_size
    if height != width:
        raise ValueError(f"only square models are supported, this one takes {height}x{width} frames")
    resized = np.stack([square_resize(frame, height) for frame in frames])
    return torch.from_numpy(resized).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def predict_video(model: Model, video: np.ndarray, settings: FramePredictionSettings,
                  cancel: CancelToken | None = None) -> Generator[Event, None, FramePrediction]:
    """Predict ``settings.predict_frames`` frames after the first ``context_frames`` of ``video``."""
    # 1. Check inputs
    settings.check_inputs(len(video))
    cancel = cancel or CancelToken()
    sampler = settings.sampler_settings

    # 2. Frames at the model's size: the context, and the true continuation if the video has one
    clip = prepare_frames(video[: settings.context_frames + settings.predict_frames], model.image_size)
    context, truth = clip[: settings.context_frames], clip[settings.context_frames:]

    # 3. Predict in a worker thread, streaming progress per ODE step and each decoded frame
    predicted: list[torch.Tensor] = []
    timer = StepTimer(settings.predict_frames * sampler.steps_per_frame, "predicting")

    def work(emit) -> None:
        def on_step(frame: int, step: int, steps: int) -> None:
            emit(timer.tick())

        stream = stream_frames(model, context, settings.predict_frames, sampler, settings.samples, settings.seed,
                               cancel, on_step)
        for index, frames in stream:
            predicted.append(frames.cpu())
            emit(Preview(np.concatenate(list(to_uint8_frames(frames)), axis=1)[None], index + 1,
                         f"frame {index + 1}/{settings.predict_frames}"))

    yield from run_in_thread(work, cancel)

    # 4. Assemble, and score against the true continuation
    prediction = torch.stack(predicted, dim=1)  # [samples, predicted, 3, H, W]
    frames = torch.cat([context[None].expand(settings.samples, -1, -1, -1, -1), prediction], dim=1)
    result = FramePrediction(
        frames=np.stack([to_uint8_frames(sample) for sample in frames]),
        context_frames=settings.context_frames,
        ground_truth=to_uint8_frames(truth) if len(truth) else None,
        nfe_per_frame=sampler.nfe_per_frame,
        settings=asdict(settings),
    )
    if len(truth):
        scored = prediction[:, : len(truth)]
        result.psnr = psnr(scored, truth[None]).mean(0).tolist()
        result.ssim = ssim(scored, truth[None].expand_as(scored)).mean(0).tolist()
    return result

