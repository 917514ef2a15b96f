"""One MotionDirector training run as an app job: clips in, a temporal (motion) LoRA and a
spatial (appearance) LoRA out, in ``outputs/loras/<name>/`` with sample videos and a JSON of
the run. Stop keeps a checkpoint; ``resume`` continues it (step count, optimisers, loss curve)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from ..core.jobs import JobContext, Log, Result
from ..core.outputs import settings_dict, software_versions
from ..core.presets import EnginePreset
from ..core.settings import checked
from .data import TrainingClip, bucket_size, load_clip
from .files import save_trained_loras
from .models import load_training_models
from .settings import ENGINE, MotionLoraSettings, file_names, run_folder
from .trainer import CHECKPOINT_FILE, MotionDirectorTrainer, TrainConfig, current_processes, encode_clips



def quality(preset: EnginePreset, settings: MotionLoraSettings, demo: bool) -> dict:
    """The quality preset's numbers (demo mode has its own), with the Advanced overrides."""
    table = preset.extra["demo"]["quality"] if demo else preset.quality
    level = dict(table[settings.preset])
    if settings.rank:
        level["rank"] = settings.rank
    if settings.size:
        level["size"] = settings.size
    return level


def train_config(settings: MotionLoraSettings, preset: EnginePreset, level: dict, first_clip: TrainingClip,
                 demo: bool) -> TrainConfig:
    training = preset.extra["training"]
    validation = {**preset.extra["validation"], **(preset.extra["demo"].get("validation", {}) if demo else {})}
    return TrainConfig(
        steps=settings.steps, rank=level["rank"], lr_spatial=settings.lr_spatial, lr_temporal=settings.lr_temporal,
        weight_decay=training["weight_decay"], optimizer=settings.optimizer,
        spatial_skip_probability=training["spatial_skip_probability"], debias_beta=training["debias_beta"],
        lora_dropout=training["lora_dropout"], temporal_feed_forward=settings.temporal_feed_forward,
        gradient_checkpointing=settings.gradient_checkpointing, mixed_precision=settings.mixed_precision,
        checkpoint_every=settings.checkpoint_every, validation_every=settings.validation_every,
        validation_prompt=settings.validation_prompt.strip() or first_clip.caption,
        sample_size=bucket_size(*first_clip.size, level["sample_size"], level["bucketing"]),
        sample_frames=settings.frames, sample_steps=validation["steps"], guidance=validation["guidance"],
        spatial_scale=validation["spatial_scale"], temporal_scale=validation["temporal_scale"],
        negative_prompt=validation["negative_prompt"], fps=validation["fps"], seed=settings.seed,
    )


def run_record(settings: MotionLoraSettings, config: TrainConfig, trainer: MotionDirectorTrainer,
               preset: EnginePreset, files: dict[str, Path], clips: list[TrainingClip], started: float) -> dict:
    return {
        "engine": ENGINE, "settings": settings_dict(settings), "training": settings_dict(config),
        "models": {role: preset.models[role].id for role in ("base", "motion_adapter")}
                  | ({"domain_adapter": preset.models["domain_adapter"].id} if settings.domain_adapter else {}),
        "clips": [{"name": clip.name, "caption": clip.caption, "size": list(clip.size)} for clip in clips],
        "steps_done": trainer.state.step, "files": {kind: path.name for kind, path in files.items()},
        "samples": [f"samples/{path.name}" for path in trainer.samples], "losses": trainer.state.history,
        "recommended_weights": {"temporal": 1.0, "spatial": 0.5}, "versions": software_versions(),
        "elapsed_s": round(time.time() - started, 1),
    }


def run(settings: MotionLoraSettings, ctx: JobContext) -> Result:
    runtime, emit = ctx.runtime, ctx.emit
    started = time.time()
    # 1. Check inputs, the run folder, and read the clips (before any model loads)
    preset, settings = checked(settings, ENGINE, runtime.demo)
    folder = run_folder(runtime.outputs.root, settings.name)
    has_checkpoint = (folder / CHECKPOINT_FILE).is_file()
    if has_checkpoint and not settings.resume:
        raise ValueError(f"name {settings.name!r} is taken by an earlier run: resume it, or choose another name")
    if settings.resume and not has_checkpoint:
        emit(Log(f"no checkpoint of {settings.name!r} yet: starting a new run"))
    level = quality(preset, settings, runtime.demo)
    clips = [load_clip(path, settings.prompt, settings.frames, settings.frame_step, settings.target_fps,
                       level["size"], level["bucketing"]) for path in settings.videos]
    config = train_config(settings, preset, level, clips[0], runtime.demo)
    emit(Log(f"{len(clips)} clip(s) at {'/'.join(f'{w}x{h}' for w, h in (c.size for c in clips))}, "
             f"{settings.frames} frames; rank {config.rank}, {config.steps} steps"))

    # 2. Load the models (one device per process; several with `accelerate launch`)
    processes, process_device = current_processes()
    device = process_device or torch.device(runtime.policy.device)
    on_gpu = device.type == "cuda" and settings.mixed_precision != "no"
    dtype = runtime.policy.dtype(settings.mixed_precision) if on_gpu else torch.float32
    models = load_training_models(runtime.sources, preset, device, dtype, settings.domain_adapter, emit)
    ctx.check()

    # 3. Cache the latents, show what the model will see, then train
    encoded = encode_clips(models, clips, torch.Generator().manual_seed(settings.seed))

    def save_files(trainer: MotionDirectorTrainer) -> None:
        files = save_trained_loras(folder, settings.name, trainer.adapter_weights(), steps=trainer.state.step,
                                   resolution=clips[0].size, base_model=preset.models["base"].repo,
                                   motion_module=preset.models["motion_adapter"].repo, prompt=config.validation_prompt,
                                   lr_spatial=settings.lr_spatial)
        record = run_record(settings, config, trainer, preset, files, clips, started)
        (folder / file_names(settings.name)["settings"]).write_text(json.dumps(record, indent=2, default=str))

    trainer = MotionDirectorTrainer(models, config, encoded, folder, emit, ctx.check, save_files, processes,
                                    (preset.extra["training"]["lion_lr_factor"],
                                     preset.extra["training"]["lion_weight_decay_factor"]))
    clips_video = trainer.show_training_clips()
    trainer.train(resume=settings.resume and has_checkpoint)

    # 4. The files are written with the last checkpoint; report them
    names = file_names(settings.name)
    shown = trainer.samples[-1] if trainer.samples else clips_video
    emit(Log(f"LoRAs saved in {folder}: {names['temporal']} (AnimateDiff MotionLoRA), {names['temporal_diffusers']} "
             f"(diffusers), {names['spatial']} (kohya)"))
    return Result(str(shown), str(folder / names["settings"]), settings.seed,
                  {"folder": str(folder), "steps": trainer.state.step,
                   "files": {kind: str(folder / name) for kind, name in names.items()}})
