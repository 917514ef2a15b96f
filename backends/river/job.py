"""The frame-prediction job: context frames of a video in, predicted continuations out.

`predict_video` emits `Progress` (one per ODE step, with ETA) and a `Preview` per predicted frame
(one tile per sample, enlarged for display, as soon as the frame is decoded) while it runs, and
returns a `FramePrediction` with every frame as uint8 and, when the video is longer than the
context, PSNR / SSIM per predicted frame against the true continuation. Writing videos and sidecars is
the shared runtime's part.

    prediction = predict_video(model, frames, settings, emit, cancel)
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from ..core.jobs import Artifact, CancelToken, Event, JobContext, Log, Metric, Preview, Result, StepTimer
from ..core.outputs import sidecar_record
from ..core.presets import load_preset
from ..core.previews import enlarged
from ..core.runtime import Runtime
from ..core.settings import checked
from ..core.video_io import VideoError, captioned, center_crop_resize, read_clip, read_images, side_by_side, write_mp4
from .evaluate import psnr, ssim
from .catalog import TRAINED_MODELS, available_models  # noqa: F401 (the app's model list)
from .loading import load_model
from .model import Model
from .sampling import SamplerSettings, stream_frames
from .settings import EMBEDDED_MODEL, ENGINE, FramePredictionSettings
from .train_common import to_uint8_frames

PREDICTED = (255, 150, 40)  # the frame colour of predicted frames in comparison videos
DISPLAY_SIDE = 192  # small frames are enlarged (nearest) to at least this for the preview and the comparison


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
    resized = np.stack([center_crop_resize(frame, height, height) for frame in frames])
    return torch.from_numpy(resized).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def predict_video(model: Model, video: np.ndarray, settings: FramePredictionSettings,
                  emit: Callable[[Event], None] = lambda event: None, cancel: CancelToken | None = None) -> FramePrediction:
    """Predict ``settings.predict_frames`` frames after the first ``context_frames`` of ``video``."""
    # 1. Check inputs
    settings.check_for(len(video))
    sampler = settings.sampler_settings

    # 2. Frames at the model's size: the context, and the true continuation if the video has one
    clip = prepare_frames(video[: settings.context_frames + settings.predict_frames], model.image_size)
    context, truth = clip[: settings.context_frames], clip[settings.context_frames:]

    # 3. Predict, streaming progress per ODE step and each decoded frame (Stop between ODE steps)
    predicted: list[torch.Tensor] = []
    timer = StepTimer(settings.predict_frames * sampler.steps_per_frame, "predicting")
    stream = stream_frames(model, context, settings.predict_frames, sampler, settings.samples, settings.seed,
                           cancel, lambda frame, step, steps: emit(timer.tick()))
    for index, frames in stream:
        predicted.append(frames.cpu())
        emit(Preview(enlarged(to_uint8_frames(frames), DISPLAY_SIDE), index + 1,  # one tile per sample
                     f"frame {index + 1}/{settings.predict_frames}"))

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



# -- the app's frame-prediction job: input, model, prediction, outputs ---------------------------

def cached_model(runtime: Runtime, name: str, emit=lambda event: None) -> tuple[Model, SamplerSettings]:
    """(model, its default sampler) for a name from ``available_models``: a release is fetched on
    first use; the model stays cached until another engine needs the memory."""
    entries = available_models(runtime)
    entry = next((e for e in entries if e.name == name), None)
    if entry is None:
        raise ValueError(f"model must be one of {', '.join(e.name for e in entries)}, got {name!r}")

    def load() -> tuple[Model, SamplerSettings]:
        folder = None
        if entry.kind == "release":
            preset = load_preset(ENGINE)
            folder = runtime.sources.resolve(preset.models[entry.name.removeprefix("river_")], preset.label, emit)
            emit(Log(f"loading {entry.location}"))
        return load_model(entry, folder, runtime.policy.device)

    # A model trained again under the same name is a new model: its files' times are in the key.
    stamp = max((p.stat().st_mtime for p in Path(entry.location).glob("*") if p.is_file()), default=0)
    return runtime.models.get(f"river:{entry.kind}:{entry.location}:{stamp}", load)


def load_default(runtime: Runtime) -> tuple[Model, SamplerSettings]:
    """The embedded model, for ZeroGPU's start-up placement."""
    return cached_model(runtime, EMBEDDED_MODEL)


def read_input(settings: FramePredictionSettings) -> np.ndarray:
    """The frames from the start frame on: context plus, when the clip has it, the true continuation."""
    needed = settings.start_frame + settings.context_frames + settings.predict_frames
    if settings.images:
        frames = read_images(list(settings.images)).frames
    else:
        frames = read_clip(settings.input, max_frames=needed).frames
    frames = frames[settings.start_frame : needed]
    if len(frames) < settings.context_frames:
        raise VideoError(f"the input has {len(frames)} frames from frame {settings.start_frame} on; "
                         f"{settings.context_frames} context frames are needed")
    return frames


def comparison_video(prediction: FramePrediction) -> np.ndarray:
    """[truth |] sample 1 | sample 2 ... ; predicted frames framed in orange, small frames enlarged."""
    samples = len(prediction.frames)
    columns = []
    if prediction.ground_truth is not None:
        truth = np.zeros_like(prediction.frames[0])  # black where the clip has no more frames
        truth[: prediction.context_frames] = prediction.frames[0, : prediction.context_frames]
        truth[prediction.context_frames : prediction.context_frames + len(prediction.ground_truth)] = prediction.ground_truth
        columns.append(("truth", truth))
    columns += [(f"sample {i + 1}", prediction.frames[i]) for i in range(samples)]
    panels = []
    for _, frames in columns:
        frames = enlarged(frames, DISPLAY_SIDE).copy()
        frames[prediction.context_frames :, :2], frames[prediction.context_frames :, -2:] = PREDICTED, PREDICTED
        frames[prediction.context_frames :, :, :2], frames[prediction.context_frames :, :, -2:] = PREDICTED, PREDICTED
        panels.append(frames)
    return side_by_side(captioned(panels, [label for label, _ in columns]))


def repeat_last_psnr(prediction: FramePrediction) -> list[float]:
    """PSNR of the 'repeat the last context frame' baseline against the true continuation."""
    if prediction.ground_truth is None:
        return []
    last = torch.from_numpy(prediction.frames[0, prediction.context_frames - 1]).float() / 127.5 - 1
    truth = torch.from_numpy(prediction.ground_truth).float() / 127.5 - 1
    return psnr(last.permute(2, 0, 1)[None], truth.permute(0, 3, 1, 2)).tolist()


def run(settings: FramePredictionSettings, ctx: JobContext) -> Result:
    runtime, emit = ctx.runtime, ctx.emit
    # 1. Check inputs; read the clip (context + the true continuation if there is one)
    preset, settings = checked(settings, ENGINE, runtime.demo)
    emit(Log(f"seed {settings.seed}"))
    started = time.time()
    frames = read_input(settings)

    # 2. Load the model (a release is fetched on first use)
    model, default = cached_model(runtime, settings.model, emit)
    ctx.check()
    emit(Log(f"{settings.model}: {model.image_size[0]}x{model.image_size[1]} frames, "
             f"{settings.sampler_settings.nfe_per_frame} network evaluations per frame "
             f"(this model's default: {default.sampler}, {default.steps} steps)"))

    # 3. Predict, streaming each decoded frame
    prediction = predict_video(model, frames, settings, emit, ctx.cancel)

    # 4. Scores against the true continuation, then the video and its sidecar
    baseline = repeat_last_psnr(prediction)
    for index, (p, s, b) in enumerate(zip(prediction.psnr, prediction.ssim, baseline)):
        emit(Metric("psnr", index + 1, p))
        emit(Metric("ssim", index + 1, s))
        emit(Metric("psnr_repeat_last", index + 1, b))
    record = sidecar_record(
        ENGINE, settings, settings.seed, models={"river": settings.model}, device=runtime.policy.device,
        dtype="float32", started=started, demo=runtime.demo, psnr=prediction.psnr, ssim=prediction.ssim,
        psnr_repeat_last=baseline, nfe_per_frame=prediction.nfe_per_frame, model_size=list(model.image_size),
    )
    with runtime.outputs.claim(ENGINE, tag=settings.seed) as stem:
        files = write_companions(stem, prediction, settings)
        emit(Artifact(files[".compare.mp4"], "video", "Comparison: truth | samples (predicted frames framed)"))
        saved = runtime.outputs.finish_video(stem, prediction.frames[0], settings.fps,
                                             {**record, "files": sorted(Path(p).name for p in files.values())})
    return Result(str(saved.path), str(saved.sidecar), settings.seed,
                  {"psnr": prediction.psnr, "ssim": prediction.ssim, "psnr_repeat_last": baseline, "files": files})


def write_companions(stem: Path, prediction: FramePrediction, settings: FramePredictionSettings) -> dict[str, str]:
    """The files beside the main video (sample 1, context + predicted frames at the model's size):
    the labelled comparison, samples 2.., and optionally every frame as PNG. Keys are the name
    each takes beside a chosen output file (``out.mp4`` -> ``out.compare.mp4``, ``out-2.mp4``, ``out.frames``)."""
    def beside(suffix: str) -> Path:
        return stem.with_name(stem.name + suffix)

    files = {".compare.mp4": str(write_mp4(comparison_video(prediction), beside(".compare.mp4"), settings.fps))}
    for number, sample in enumerate(prediction.frames[1:], start=2):
        files[f"-{number}.mp4"] = str(write_mp4(sample, beside(f".sample{number}.mp4"), settings.fps))
    if settings.save_frames:
        folder = beside(".frames")
        for number, sample in enumerate(prediction.frames, start=1):
            sample_folder = folder / f"sample{number}" if len(prediction.frames) > 1 else folder
            sample_folder.mkdir(parents=True, exist_ok=True)
            for index, frame in enumerate(sample):
                cv2.imwrite(str(sample_folder / f"{index:03d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        files[".frames"] = str(folder)
    return files
