"""One image-to-video run as a job: the picture cropped as the preview shows, ConsistI2V's
chunks denoised one after another (each finished chunk written and shown while the next
renders), the whole video saved with its sidecar."""

from __future__ import annotations

import time

import numpy as np
import torch

from ..core.paths import describe_input
from ..core.jobs import Artifact, JobContext, Log, Preview, Result, StepTimer
from ..core.model_cache import exclusive
from ..core.outputs import sidecar_record
from ..core.previews import latents_to_rgb
from ..core.settings import checked
from ..core.video_io import write_mp4
from .first_frame import prepare_first_frame
from .pipeline import SamplingOptions, load_consisti2v
from .sampling import FrameInitOptions, Guidance
from .settings import ENGINE, STREAM_LABEL, ImageToVideoSettings


def load(runtime):
    """The pipeline, for ZeroGPU's start-up placement."""
    return load_consisti2v(runtime)


def sampling_options(settings: ImageToVideoSettings) -> SamplingOptions:
    frameinit = FrameInitOptions(settings.frameinit_noise_level, settings.frameinit_filter, settings.frameinit_d_s,
                                 settings.frameinit_d_t) if settings.frameinit else None
    return SamplingOptions(settings.steps, Guidance(settings.guidance_text, settings.guidance_image),
                           settings.frame_stride, frameinit, settings.camera_motion)


def run(settings: ImageToVideoSettings, ctx: JobContext) -> Result:
    runtime, emit = ctx.runtime, ctx.emit
    # 1. Check inputs (limits come from the preset, demo mode has its own), then read the picture
    preset, settings = checked(settings, ENGINE, runtime.demo)
    emit(Log(f"seed {settings.seed}"))
    started = time.time()
    first = prepare_first_frame(settings.image, settings.width, settings.height)
    for note in first.notes:
        emit(Log(note, "warning"))

    with runtime.outputs.claim(ENGINE, settings.seed) as stem:
        # 2. Load models
        pipe = load_consisti2v(runtime, emit)
        ctx.check()

        # 3. Denoise chunk by chunk: previews every step, each finished chunk as a playable video
        timer = StepTimer(settings.steps * settings.chunks, "denoising")
        frames: list[np.ndarray] = []

        def on_step(chunk, step, total, latents):
            ctx.check()
            emit(timer.tick())
            emit(Preview(latents_to_rgb(latents), step, f"chunk {chunk + 1}/{settings.chunks} · step {step}/{total}"))

        def on_chunk(chunk, latents, decoded):
            frames.append(decoded)
            if chunk + 1 < settings.chunks:
                done = np.concatenate(frames)
                path = write_mp4(done, stem.with_suffix(f".chunk{chunk + 1}.mp4"), settings.fps)
                emit(Artifact(str(path), "video", f"{STREAM_LABEL} 1-{chunk + 1} of {settings.chunks} ({len(done)} frames)"))
            ctx.check()

        with exclusive(pipe):
            pipe(first.pixels, settings.prompt, settings.negative_prompt, sampling_options(settings), settings.chunks,
                 torch.Generator().manual_seed(settings.seed), on_step, on_chunk)
            dtype = str(pipe.unet.dtype).removeprefix("torch.")

        # 4. Save the video and its sidecar
        video = np.concatenate(frames)
        record = sidecar_record(
            ENGINE, settings, settings.seed, models=runtime.sources.describe(preset.models),
            device=runtime.policy.device, dtype=dtype, started=started, demo=runtime.demo,
            input_image=describe_input(settings.image), input_size=list(first.source_size), notes=list(first.notes),
        )
        saved = runtime.outputs.finish_video(stem, video, settings.fps, record)
        return Result(str(saved.path), str(saved.sidecar), settings.seed, {"frames": len(video)})
