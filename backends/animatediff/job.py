"""One AnimateDiff + FreeNoise text-to-video run, as a job that yields events."""

from __future__ import annotations

import time
from typing import Iterator

import torch

from ..core.ip_adapter import configure_ip_adapter
from ..core.jobs import CancelToken, Event, Log, Preview, Result, StepTimer, run_in_thread
from ..core.loras import apply_loras
from ..core.outputs import sidecar_record
from ..core.previews import latents_to_rgb
from ..core.runtime import Runtime
from ..core.settings import checked
from .pipeline import ENGINE, configure_free_noise, decode_latents, denoise, load_animatediff
from .settings import LongVideoSettings


def run(settings: LongVideoSettings, *, cancel: CancelToken, runtime: Runtime) -> Iterator[Event]:
    # 1. Check inputs (limits come from the preset, demo mode has its own)
    preset, settings = checked(settings, ENGINE, runtime.demo)
    yield Log(f"seed {settings.seed}")
    started = time.time()

    def work(emit) -> None:
        # 2. Load models (first use only; later jobs reuse the cached pipeline)
        pipe = load_animatediff(runtime, emit)
        cancel.raise_if_cancelled()

        # 3. FreeNoise windows for long videos, then LoRAs at their weights; no IP-Adapter (the
        #    flow-guided tab may have left one on the shared pipeline, and it would want an image)
        configure_free_noise(pipe, settings.frames, settings.context_length, settings.context_stride, runtime.policy.attention)
        apply_loras(pipe, settings.loras, runtime.loras_dir, runtime.sources)
        configure_ip_adapter(pipe, runtime.policy)

        # 4. Denoising loop: the pipeline's step callback reports progress, previews, and stops
        timer = StepTimer(settings.steps, "denoising")

        def on_step_end(pipe, index, timestep, tensors):
            emit(timer.tick(index + 1))
            emit(Preview(latents_to_rgb(tensors["latents"]), index + 1, f"step {index + 1}/{settings.steps}"))
            cancel.raise_if_cancelled()
            return {}

        latents = denoise(pipe, settings, on_step_end)

        # 5. Decode with the VAE, a chunk of frames at a time
        frames = decode_latents(pipe, latents, emit, cancel)

        # 6. Save the video and its sidecar
        record = sidecar_record(
            ENGINE,
            settings,
            settings.seed,
            models=runtime.sources.describe(preset.models),
            device=runtime.policy.device,
            dtype=str(pipe.unet.dtype).removeprefix("torch."),
            started=started,
            demo=runtime.demo,
        )
        saved = runtime.outputs.save_video(ENGINE, frames, settings.fps, record, tag=settings.seed)
        emit(Result(str(saved.path), str(saved.sidecar), settings.seed, {"frames": len(frames)}))

    yield from run_in_thread(work, cancel)
