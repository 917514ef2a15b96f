"""Training RIVER on your own clips, as one app job: the autoencoder (trained here, or an official
one), then the vector field. The run folder is `outputs/river_models/<name>/`; once it holds a
checkpoint the model appears in the frame-prediction model list. Stop keeps the last checkpoint;
running again with the same name resumes."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import time
from pathlib import Path

from ..core.checkpoints import load_checkpoint
from ..core.jobs import JobContext, Log, Metric, Result, drain
from ..core.paths import inside
from ..core.presets import load_preset
from ..core.runtime import Runtime
from ..core.settings import checked
from ..core.outputs import settings_dict, software_versions
from .job import TRAINED_MODELS
from .loading import RELEASES
from .train_autoencoder import CHECKPOINT_NAME as AE_CHECKPOINT
from .train_autoencoder import SMALL_DDCONFIG, AutoencoderTrainSettings, train_autoencoder
from .train_embedded import EMBEDDED_CONFIG
from .train_river import RiverTrainSettings, train_river
from .settings import ENGINE, TRAIN_ENGINE, TRAINING_STAGES, RiverTrainingSettings

def river_config(settings: RiverTrainingSettings, autoencoder_block: dict | None, latent: tuple[int, int]) -> dict:
    """The official YAML layout for this run, from the embedded model's recipe."""
    config = copy.deepcopy(EMBEDDED_CONFIG)
    config["name"] = settings.name
    config["data"].update(input_size=settings.image_size, crop_size=settings.image_size,
                          frames_per_sample=settings.frames_per_sample)
    regressor = config["model"]["vector_field_regressor"]
    regressor.update(state_size=latent[0], state_res=[latent[1], latent[1]], inner_dim=settings.inner_dim)
    if autoencoder_block is not None:
        config["model"]["autoencoder"] = autoencoder_block
    training = config["training"]
    training["batching"]["batch_size"] = settings.batch_size
    training["optimizer"].update(learning_rate=settings.learning_rate, num_training_steps=settings.steps,
                                 num_warmup_steps=min(training["optimizer"]["num_warmup_steps"], settings.steps // 10))
    training["num_observations"] = settings.frames_per_sample
    return config


def latent_of(ddconfig: dict, image_size: int) -> tuple[int, int]:
    """(channels, side) of a taming VQ autoencoder's latents for square frames of ``image_size``."""
    return ddconfig["embed_dim"], image_size // 2 ** (len(ddconfig["ch_mult"]) - 1)


def autoencoder_source(settings: RiverTrainingSettings, runtime: Runtime, folder: Path, emit) -> tuple[str, dict | None, tuple[int, int]]:
    """(weights file, `autoencoder:` block or None when the file carries its own, latent (C, side))."""
    if settings.autoencoder == "train":
        return str(folder / "autoencoder" / AE_CHECKPOINT), None, latent_of(SMALL_DDCONFIG, settings.image_size)
    if settings.autoencoder in RELEASES:  # an official autoencoder: the `ae.*` part of the release's model.pth
        release = RELEASES[settings.autoencoder]
        preset = load_preset(ENGINE)
        path = runtime.sources.resolve(preset.models[release.name], preset.label, emit) / release.model_file
        regressor = release.model_config["vector_field_regressor"]
        factor = release.image_size // regressor["state_res"][0]
        return str(path), release.model_config["autoencoder"], (regressor["state_size"], settings.image_size // factor)
    path = runtime.accept_path("autoencoder", settings.autoencoder)
    stored = load_checkpoint(path) if path.is_file() else None
    block = stored.get("config") if isinstance(stored, dict) else None
    if not isinstance(block, dict) or "ddconfig" not in block:
        raise ValueError(f"autoencoder must be 'train', a release ({', '.join(RELEASES)}) or an {AE_CHECKPOINT} "
                         f"written by this app's autoencoder trainer, got {settings.autoencoder!r}")
    return str(path), None, latent_of(block["ddconfig"], settings.image_size)


def gather_clips(clips: tuple[str, ...], target: Path) -> Path:
    """Copies of ``clips`` in ``target`` (names kept, numbered when two are alike)."""
    target.mkdir(parents=True, exist_ok=True)
    for index, clip in enumerate(clips):
        name = Path(clip).name
        destination = target / (name if not (target / name).exists() else f"{index}_{name}")
        shutil.copyfile(clip, destination)
    return target


def staged(stage: str, emit):
    """``emit`` for one stage's events: its metrics are named after it ("autoencoder loss",
    "vector field loss"), so the two stages' curves stay apart."""
    def forward(event):
        emit(dataclasses.replace(event, name=f"{stage} {event.name}") if isinstance(event, Metric) else event)
    return forward


def run(settings: RiverTrainingSettings, ctx: JobContext) -> Result:
    runtime, emit = ctx.runtime, ctx.emit
    # 1. Check inputs and the run folder
    _, settings = checked(settings, TRAIN_ENGINE, runtime.demo)
    folder = inside(runtime.outputs.root / TRAINED_MODELS, settings.name)
    if settings.clips:  # uploaded clips join the run folder, which then holds everything it was trained on
        settings = dataclasses.replace(settings, data=str(gather_clips(settings.clips, folder / "clips")))
    if not Path(settings.data).exists():
        raise ValueError(f"data not found: {Path(settings.data).name}")
    started = time.time()
    weights, block, latent = autoencoder_source(settings, runtime, folder, emit)

    # 2. Stage 1: the autoencoder (skipped with an official one; resumes or returns when done)
    if settings.autoencoder == "train":
        stage_1 = staged(TRAINING_STAGES[0], emit)
        emit(Log(f"stage 1/2: autoencoder, {settings.autoencoder_steps} steps"))
        drain(train_autoencoder(AutoencoderTrainSettings(
            output_dir=str(folder / "autoencoder"), data=settings.data, image_size=settings.image_size,
            max_steps=settings.autoencoder_steps, batch_size=settings.batch_size, preview_every=settings.preview_every,
            save_every=settings.save_every, seed=settings.seed, resume=settings.resume,
            device=runtime.policy.device), ctx), lambda event: isinstance(event, Result) or stage_1(event))

    # 3. Stage 2: the vector field, into the run folder (loadable as a model from here on)
    emit(Log(f"stage 2/2: vector field, {settings.steps} steps"))
    config = river_config(settings, block, latent)
    results: list[Result] = []
    stage_2 = staged(TRAINING_STAGES[1], emit)
    drain(train_river(RiverTrainSettings(
        output_dir=str(folder), config=config, data=settings.data, autoencoder=weights, max_steps=settings.steps,
        preview_every=settings.preview_every, save_every=settings.save_every, seed=settings.seed,
        resume=settings.resume, device=runtime.policy.device), ctx),
        lambda event: results.append(event) if isinstance(event, Result) else stage_2(event))

    # 4. A sidecar next to the model: how it was trained
    sidecar = folder / "flowstudio.json"
    sidecar.write_text(json.dumps({
        "engine": TRAIN_ENGINE, "settings": settings_dict(settings), "versions": software_versions(),
        "elapsed_s": round(time.time() - started, 1), "steps": settings.steps,
    }, indent=2))
    return Result(results[-1].path, str(sidecar), settings.seed, {"model": settings.name, "model_folder": str(folder)})
