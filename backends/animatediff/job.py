"""One AnimateDiff + FreeNoise text-to-video run, as a job."""

from __future__ import annotations

import time

from ..core.ip_adapter import configure_ip_adapter
from ..core.jobs import JobContext, Log, Preview, Result, StepTimer
from ..core.loras import apply_loras
from ..core.model_cache import exclusive
from ..core.outputs import sidecar_record
from ..core.previews import latents_to_rgb
from ..core.settings import checked
from .pipeline import ENGINE, configure_free_noise, decode_latents, denoise, load_animatediff, step_callback
from .settings import LongVideoSettings


def run(settings: LongVideoSettings, ctx: JobContext) -> Result:
    runtime = ctx.runtime
    # 1. Check inputs (limits come from the preset, demo mode has its own)
    preset, settings = checked(settings, ENGINE, runtime.demo)
    ctx.emit(Log(f"seed {settings.seed}"))
    started = time.time()

    # 2. Load models (first use only; later jobs reuse the cached pipeline)
    pipe = load_animatediff(runtime, ctx.emit)
    ctx.check()

    # The pipeline is shared (the flow-guided tab uses it too) and its FreeNoise / LoRA state is
    # per job: one job at a time on it.
    with exclusive(pipe):
        # 3. FreeNoise windows for long videos, then LoRAs at their weights; no IP-Adapter (the
        #    flow-guided tab may have left one on the shared pipeline, and it would want an image)
        configure_free_noise(pipe, settings.frames, settings.context_length, settings.context_stride, runtime.policy.attention)
        apply_loras(pipe, settings.loras, runtime.loras_dir, runtime.sources)
        configure_ip_adapter(pipe, runtime.policy)

        # 4. Denoising loop: the step callback reports progress and previews; Stop interrupts the
        #    pipeline at the step boundary, which still offloads its models
        timer = StepTimer(settings.steps, "denoising")

        def on_step(step: int, latents) -> None:
            ctx.emit(timer.tick(step))
            ctx.emit(Preview(latents_to_rgb(latents), step, f"step {step}/{settings.steps}"))

        latents = denoise(pipe, settings, step_callback(ctx, on_step))
        ctx.check()

        # 5. Decode with the VAE, a chunk of frames at a time
        frames = decode_latents(pipe, latents, ctx)

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
    return Result(str(saved.path), str(saved.sidecar), settings.seed, {"frames": len(frames)})
