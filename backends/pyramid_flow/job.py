"""One Pyramid Flow run as a job: encode the prompt, generate unit by unit, and after every
unit push a playable video of everything so far; Stop keeps what is finished. When a ZeroGPU
call's time is up (``CallEnded``) the state after the last finished unit is saved, and the next
call (``resume``) goes on from it to the very video an uninterrupted run makes."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..core.checkpoints import atomic_save, load_checkpoint
from ..core.devices import DevicePolicy
from ..core.jobs import Artifact, CallEnded, JobCancelled, JobContext, Log, Preview, Result, StepTimer
from ..core.outputs import sidecar_record
from ..core.settings import checked
from ..core.video_io import center_crop_resize, write_mp4
from .sampling import UnitSteps
from .settings import FPS, STAGES, PyramidFlowSettings, recommended_guidance, resolution_sizes, weights_needed


def offload_mode(setting: str, policy: DevicePolicy) -> str:
    """The CPU offload of a run: ``auto`` is the policy's (``--offload``, else model offload on
    CUDA cards under 24 GB); off the GPU and on ZeroGPU there is none."""
    if policy.device != "cuda" or policy.zero_gpu:
        return "none"
    return policy.offload if setting == "auto" else setting


def check_card(policy: DevicePolicy) -> None:
    """Refuse, before anything loads, a CUDA card without fast bf16 or fp16: in fp32 the models
    need twice the memory (and such cards run half precision too slowly to help)."""
    card = policy.card
    if policy.device == "cuda" and card is not None and not card.half_precision:
        raise ValueError(
            f"Pyramid Flow needs a GPU with bf16 or fp16 arithmetic (compute capability 7.0 or newer, or a P100); "
            f"this card ({card.name}, compute capability {card.capability[0]}.{card.capability[1]}) has neither, "
            "and in fp32 the models do not fit its memory. Use a newer GPU.")


def read_image(path: str, width: int, height: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError) as error:
        raise ValueError(f"image {Path(path).name!r} cannot be read as a picture ({error})") from None
    return center_crop_resize(rgb, width, height)


def encode_text(runtime, root: Path, settings: PyramidFlowSettings, dtype, offload: str):
    """Prompt + suffix and the negative prompt; the text encoders are freed right after."""
    from .text_encoders import encode_prompts, load_text_encoders

    encoders = load_text_encoders(root, settings.variant, dtype, runtime.policy.device, offload)
    text = encode_prompts(encoders, settings.prompt + settings.prompt_suffix, settings.negative_prompt)
    encoders.placement.release()
    del encoders
    return text


def load_generator_models(runtime, root: Path, settings: PyramidFlowSettings, dtype, offload: str):
    from .loading import load_models

    key = f"pyramid_flow:{settings.variant}:{settings.resolution}:{dtype}:{offload}"
    return runtime.models.get(key, lambda: load_models(root, settings.variant, settings.resolution, dtype,
                                                       runtime.policy.device, offload))


def read_resume(path: Path, settings: PyramidFlowSettings, emit):
    """(text conditioning, generation state) saved by an earlier call of this very run, or None."""
    from .pipeline import GenerationState
    from .sampling import TextConditioning

    if not settings.resume or not path.is_file():
        if settings.resume:
            emit(Log("no saved state of this run: starting from the first unit"))
        return None
    saved = load_checkpoint(path)
    state = GenerationState.from_dict(saved)
    emit(Log(f"resuming after unit {len(state.clean)} of {settings.units} (saved when the last GPU call ended)"))
    return TextConditioning(*saved["text"]), state


def save_resume(path: Path, text, state, frames: np.ndarray, emit) -> None:
    """The state after the last finished unit, and its frames as the video shown until the next call."""
    atomic_save({**state.to_dict(), "text": [t.cpu() for t in (text.embeds, text.mask, text.pooled)]}, path)
    video = write_mp4(frames, path.with_suffix(".mp4"), FPS)
    emit(Artifact(str(video), "video", f"so far: {len(state.clean)} units · {len(frames)} frames (the next GPU call goes on)"))


def run(settings: PyramidFlowSettings, ctx: JobContext) -> Result:
    from .pipeline import GenerationPlan, generate, latent_preview

    runtime, emit = ctx.runtime, ctx.emit
    # 1. Check inputs (limits from the preset; demo mode has its own), the card, and derive the plan
    preset, settings = checked(settings, settings.engine, runtime.demo)
    check_card(runtime.policy)
    offload = offload_mode(settings.cpu_offload, runtime.policy)
    width, height = resolution_sizes(runtime.demo)[settings.resolution]
    guidance, video_guidance = settings.guidance_scales(recommended_guidance())
    image_path = Path(settings.image) if settings.image_to_video else None  # checked before the job (a path field)
    image = read_image(image_path, width, height) if image_path else None
    plan = GenerationPlan(
        width, height, settings.units, UnitSteps((settings.image_steps,) * STAGES, guidance),
        UnitSteps((settings.video_steps,) * STAGES, video_guidance), settings.vae_tile,
    )
    emit(Log(f"seed {settings.seed} · {settings.units} units → {settings.frames} frames at {width}x{height}, {FPS} fps"
             + (f" · {offload} CPU offload" if offload != "none" else "")))
    started = time.time()
    resume_path = runtime.outputs.resume_path(settings.engine, settings)
    resumed = read_resume(resume_path, settings, emit)

    with runtime.outputs.claim(settings.engine, settings.seed) as stem:
        # 2. Weights, text conditioning (encoders freed after), the DiT and VAE (cached)
        ref = weights_needed(settings, preset)[0]
        root = runtime.sources.resolve(ref, preset.label, emit)
        dtype = runtime.policy.dtype("bf16")
        if resumed is None:
            emit(Log("encoding the prompt"))
            text, state = encode_text(runtime, root, settings, dtype, offload), None
        else:
            text, state = resumed
        ctx.check()
        emit(Log(f"loading the {settings.variant} {settings.resolution} DiT and the causal VAE"))
        models = load_generator_models(runtime, root, settings, dtype, offload)
        ctx.check()

        # 3. Generate: progress over units x stages x steps, a preview per step, a video per unit
        done = len(state.clean) if state else 0
        timer = StepTimer(plan.total_steps(settings.image_to_video, done), "units x stages x steps")
        parts: list[Path] = []
        latest: dict = {}  # the frames so far and the state after them

        def on_step(unit, stage, step, latent):
            emit(timer.tick())
            emit(Preview(latent_preview(latent), timer.done, f"unit {unit + 1}/{plan.units} · stage {stage + 1}/{STAGES} · step {step + 1}"))
            ctx.check()

        def on_unit(unit, frames, snapshot):
            latest.update(frames=frames, state=snapshot)
            part = stem.with_suffix(f".unit{unit + 1:02d}.mp4")
            write_mp4(frames, part, FPS)
            parts.append(part)
            emit(Artifact(str(part), "video", f"so far: {unit + 1}/{plan.units} units · {len(frames)} frames"))
            for old in parts[:-2]:  # the browser may still be loading the previous one
                old.unlink(missing_ok=True)
            ctx.check()

        stopped = False
        try:
            frames = generate(models, text, plan, settings.seed, on_unit, on_step, image, state)
        except CallEnded:  # this GPU call's time is up: the next one goes on from the last finished unit
            if latest:
                save_resume(resume_path, text, latest["state"], latest["frames"], emit)
            raise
        except JobCancelled:
            if "frames" not in latest:
                raise
            frames, stopped = latest["frames"], True
            emit(Log(f"stopped: keeping the {len(frames)} frames finished so far"))
        finally:
            models.placement.release()
        for part in (*parts, resume_path, resume_path.with_suffix(".mp4")):
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
