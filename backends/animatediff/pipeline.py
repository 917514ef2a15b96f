"""Loading AnimateDiff (SD1.5 + motion adapter) the way diffusers does, and decoding its latents.

OnlyFlow and the motion-LoRA trainer build on the same pipeline, so they load it through here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..core.devices import place_pipeline
from ..core.jobs import Event, JobContext, Log, Progress, StepTimer
from ..core.presets import EnginePreset, load_preset
from ..core.runtime import Runtime

ENGINE = "animatediff"


def has_variant(folder: Path, variant: str | None) -> bool:
    """Whether a folder holds ``*.{variant}.safetensors`` files (local copies often do not)."""
    return bool(variant) and any(folder.rglob(f"*.{variant}.safetensors"))


def ddim_scheduler(pipe, preset: EnginePreset):
    from diffusers import DDIMScheduler

    return DDIMScheduler.from_config(pipe.scheduler.config, **preset.extra["scheduler"])


def load_animatediff(runtime: Runtime, emit: Callable[[Event], None] = lambda e: None, engine: str = ENGINE):
    """An ``AnimateDiffPipeline`` placed by the device policy; loaded once, then cached."""

    def load():
        from diffusers import AnimateDiffPipeline, MotionAdapter

        preset = load_preset(engine)
        dtype = runtime.policy.dtype(preset.extra.get("precision", "fp16"))
        base_ref, adapter_ref = preset.models["base"], preset.models["motion_adapter"]
        base = runtime.sources.resolve(base_ref, preset.label, emit)
        adapter_path = runtime.sources.resolve(adapter_ref, preset.label, emit)
        emit(Progress(0, 2, "loading models"))
        adapter = MotionAdapter.from_pretrained(
            adapter_path, dtype=dtype,
            variant=adapter_ref.variant if has_variant(adapter_path, adapter_ref.variant) else None,
        )
        emit(Progress(1, 2, "loading models"))
        pipe = AnimateDiffPipeline.from_pretrained(
            base, motion_adapter=adapter, dtype=dtype,
            variant=base_ref.variant if has_variant(base, base_ref.variant) else None,
        )
        pipe.scheduler = ddim_scheduler(pipe, preset)
        pipe.set_progress_bar_config(disable=True)
        place_pipeline(pipe, runtime.policy)
        emit(Progress(2, 2, "loading models"))
        emit(Log(f"loaded {base_ref.repo} + {adapter_ref.repo} ({runtime.policy.device}, {str(dtype).removeprefix('torch.')})"))
        return pipe

    return runtime.models.get(engine, load)


def configure_free_noise(pipe, frames: int, context_length: int, context_stride: int, attention: str) -> None:
    """FreeNoise on above the context length, off otherwise. Toggling it rebuilds the motion
    modules' transformer blocks, so LoRAs are unloaded first (they are re-applied after)."""
    wanted = frames > context_length
    current = (pipe._free_noise_context_length, pipe._free_noise_context_stride) if pipe.free_noise_enabled else None
    if (current is not None) == wanted and (not wanted or current == (context_length, context_stride)):
        return
    if getattr(pipe, "_flowstudio_loras", ()):
        pipe.unload_lora_weights()
        pipe._flowstudio_loras = ()
    if wanted:
        pipe.enable_free_noise(context_length=context_length, context_stride=context_stride)
    else:
        disable_free_noise(pipe)
    if attention == "xformers":  # new blocks come with the default processors
        pipe.enable_xformers_memory_efficient_attention()


def disable_free_noise(pipe) -> None:
    """``pipe.disable_free_noise()`` without its crash on UNets whose mid block has no motion
    modules (AnimateDiff v3): diffusers 0.42 walks the mid block unconditionally."""
    pipe._free_noise_context_length = None
    for block in [*pipe.unet.down_blocks, pipe.unet.mid_block, *pipe.unet.up_blocks]:
        if hasattr(block, "motion_modules"):
            pipe._disable_free_noise_in_block(block)


def denoise(pipe, settings, on_step_end: Callable, **extra) -> torch.Tensor:
    """The pipeline's denoising loop for settings with the common text-to-video fields (prompt,
    negative_prompt, frames, width, height, steps, guidance, seed); returns the final latents.
    The seed drives a CPU generator, so a seed gives the same video on any device."""
    return pipe(
        prompt=settings.prompt,
        negative_prompt=settings.negative_prompt or None,
        num_frames=settings.frames,
        height=settings.height,
        width=settings.width,
        num_inference_steps=settings.steps,
        guidance_scale=settings.guidance,
        generator=torch.Generator("cpu").manual_seed(settings.seed),
        output_type="latent",
        callback_on_step_end=on_step_end,
        **extra,
    ).frames


def step_callback(ctx: JobContext, on_step: Callable[[int, torch.Tensor], None]) -> Callable:
    """A ``callback_on_step_end`` for diffusers pipelines: at each step boundary, Stop sets the
    pipeline's own interrupt (its loop then ends and it still offloads its models, which an
    exception would skip), else ``on_step(step, latents)`` reports the finished step."""

    def on_step_end(pipe, index, timestep, tensors):
        if ctx.cancelled:
            pipe._interrupt = True
        else:
            on_step(index + 1, tensors["latents"])
        return {}

    return on_step_end


def decode_latents(pipe, latents: torch.Tensor, ctx: JobContext, chunk: int = 8) -> np.ndarray:
    """VAE-decode (B, C, F, h, w) latents of the first video into uint8 frames (F, H, W, 3),
    a chunk of frames at a time, reporting progress and honouring Stop between chunks."""
    vae = pipe.vae
    frames_latents = latents[0].permute(1, 0, 2, 3) / vae.config.scaling_factor
    device = pipe._execution_device
    timer = StepTimer(-(-len(frames_latents) // chunk), "decoding")
    decoded = []
    with torch.no_grad():
        for start in range(0, len(frames_latents), chunk):
            ctx.check()
            part = frames_latents[start : start + chunk].to(device=device, dtype=vae.dtype)
            images = vae.decode(part).sample.float()
            decoded.append(((images / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu())
            ctx.emit(timer.tick())
    return torch.cat(decoded).numpy()
