"""One Pyramid Flow run as a job: encode the prompt, generate unit by unit, and after every
unit push a playable video of everything so far; Stop keeps what is finished."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..core.jobs import Artifact, JobCancelled, JobContext, Log, Preview, Result, StepTimer
from ..core.outputs import sidecar_record
from ..core.settings import checked
from ..core.video_io import center_crop_resize, write_mp4
from .sampling import UnitSteps
from .settings import FPS, PyramidFlowSettings, recommended_guidance, resolution_sizes, weights_needed

STAGES = 3


def read_image(path: str, width: int, height: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError) as error:
        raise ValueError(f"image {Path(path).name!r} cannot be read as a picture ({error})") from None
    return center_crop_resize(rgb, width, height)


def encode_text(runtime, root: Path, settings: PyramidFlowSettings, dtype):
    """Prompt + suffix and the negative prompt; the text encoders are freed right after."""
    from .text_encoders import encode_prompts, load_text_encoders

    encoders = load_text_encoders(root, settings.variant, dtype, runtime.policy.device)
    text = encode_prompts(encoders, settings.prompt + settings.prompt_suffix, settings.negative_prompt)
    del encoders
    return text


def load_generator_models(runtime, root: Path, settings: PyramidFlowSettings, dtype):
    from .loading import load_models

    key = f"pyramid_flow:{settings.variant}:{settings.resolution}:{dtype}"
    return runtime.models.get(key, lambda: load_models(root, settings.variant, settings.resolution, dtype, runtime.policy.device))


def run(settings: PyramidFlowSettings, ctx: JobContext) -> Result:
    from .pipeline import GenerationPlan, generate, latent_preview

    runtime, emit = ctx.runtime, ctx.emit
    # 1. Check inputs (limits from the preset; demo mode has its own) and derive the plan
    preset, settings = checked(settings, settings.engine, runtime.demo)
    width, height = resolution_sizes(runtime.demo)[settings.resolution]
    guidance, video_guidance = settings.guidance_scales(recommended_guidance())
    image_path = Path(settings.image) if settings.image_to_video else None  # checked before the job (a path field)
    image = read_image(image_path, width, height) if image_path else None
    plan = GenerationPlan(
        width, height, settings.units, UnitSteps((settings.image_steps,) * STAGES, guidance),
        UnitSteps((settings.video_steps,) * STAGES, video_guidance), settings.vae_tile,
    )
    emit(Log(f"seed {settings.seed} · {settings.units} units → {settings.frames} frames at {width}x{height}, {FPS} fps"))
    started = time.time()

    with runtime.outputs.claim(settings.engine, settings.seed) as stem:
        # 2. Weights, text conditioning (encoders freed after), the DiT and VAE (cached)
        ref = weights_needed(settings, preset)[0]
        root = runtime.sources.resolve(ref, preset.label, emit)
        dtype = runtime.policy.dtype("bf16")
        emit(Log("encoding the prompt"))
        text = encode_text(runtime, root, settings, dtype)
        ctx.check()
        emit(Log(f"loading the {settings.variant} {settings.resolution} DiT and the causal VAE"))
        models = load_generator_models(runtime, root, settings, dtype)
        ctx.check()

        # 3. Generate: progress over units x stages x steps, a preview per step, a video per unit
        timer = StepTimer(plan.total_steps(settings.image_to_video), "units x stages x steps")
        parts: list[Path] = []
        latest: dict = {}

        def on_step(unit, stage, step, latent):
            emit(timer.tick())
            emit(Preview(latent_preview(latent), timer.done, f"unit {unit + 1}/{plan.units} · stage {stage + 1}/{STAGES} · step {step + 1}"))
            ctx.check()

        def on_unit(unit, frames):
            latest["frames"] = frames
            part = stem.with_suffix(f".unit{unit + 1:02d}.mp4")
            write_mp4(frames, part, FPS)
            parts.append(part)
            emit(Artifact(str(part), "video", f"so far: {unit + 1}/{plan.units} units · {len(frames)} frames"))
            for old in parts[:-2]:  # the browser may still be loading the previous one
                old.unlink(missing_ok=True)
            ctx.check()

        stopped = False
        try:
            frames = generate(models, text, plan, settings.seed, on_unit, on_step, image)
        except JobCancelled:
            if "frames" not in latest:
                raise
            frames, stopped = latest["frames"], True
            emit(Log(f"stopped: keeping the {len(frames)} frames finished so far"))
        for part in parts:
            part.unlink(missing_ok=True)

        # 4. Save the video and its sidecar
        extra = {"width": width, "height": height, "units_planned": plan.units, "stopped": stopped,
                 "guidance_used": [guidance, video_guidance]}
        record = sidecar_record(
            settings.engine, settings, settings.seed, models=runtime.sources.describe({ref.role: ref}),
            device=runtime.policy.device, dtype=str(dtype).removeprefix("torch."), started=started, demo=runtime.demo, **extra,
        )
        saved = runtime.outputs.finish_video(stem, frames, FPS, record)
        # the unit videos are gone: the "so far" view now shows the finished video
        emit(Artifact(str(saved.path), "video", f"so far: all {len(frames)} frames"))
        return Result(str(saved.path), str(saved.sidecar), settings.seed, {"frames": len(frames), "stopped": stopped})
