"""Stage 2: train RIVER's vector field on your own clips, with a frozen autoencoder.

The official recipe: the flow-matching objective of `objective.py`, AdamW (betas 0.9/0.999) over
all `Model` parameters (the frozen autoencoder never gets gradients, hence no optimizer state),
linear warm-up then polynomial (power 0.5) decay to 1e-7. The run folder holds `config.yaml`
(official layout) and `model.pth` (official container: `model`, `optimizer`, `lr_scheduler`,
`global_step`), so it is both resumable and loadable as a model.

    python -m backends.river.train_river --config my.yaml --data CLIPS --autoencoder runs/ae/autoencoder.pth \\
        --output-dir runs/river
    accelerate launch --multi_gpu --num_processes 4 -m backends.river.train_river ...   # several GPUs
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch
import yaml

from ..core.checkpoints import atomic_save, load_checkpoint, load_state_dict_strict, select_prefix
from ..core.jobs import Artifact, CancelToken, Event, JobCancelled, Log, Metric, Preview, Result, StepTimer
from .data import open_clip_dataset
from .loading import CONFIG_NAME, load_river_checkpoint, read_autoencoder_state, read_model_state
from .model import Model, load_config
from .objective import draw_flow_matching, flow_matching_loss, polynomial_warmup_scheduler
from .sampling import SamplerSettings, generate_frames
from .train_common import endless_batches, make_accelerator, mean_across_processes, side_by_side

CHECKPOINT_NAME = "model.pth"
PREVIEW_SAMPLER = SamplerSettings("euler", 4, 0.0)


@dataclass
class RiverTrainSettings:
    output_dir: str
    config: dict  # full config in the official YAML layout (`model`, `training`, optional `data`)
    data: object  # a clip Dataset ([T, 3, H, W] in [-1, 1]) or a path `open_clip_dataset` understands
    autoencoder: str | None = None  # AE weights: our autoencoder.pth, official vqvae.ckpt / vqvae.pth
    init_from: str | None = None  # start from an existing RIVER checkpoint (e.g. a released model.pth)
    max_steps: int | None = None  # default: training.optimizer.num_training_steps
    log_every: int = 10
    preview_every: int = 250
    save_every: int = 500
    preview_frames: int = 6
    preview_sampler: SamplerSettings = field(default_factory=lambda: PREVIEW_SAMPLER)
    # Flow Studio extension (off = official): rescale a fresh autoencoder's latents to unit standard
    # deviation, the scale of the flow's noise. Exact reparametrisation, see `rescale_latents`.
    normalize_latents: bool = False
    seed: int = 0
    resume: bool = True
    device: str | None = None
    num_workers: int = 0

    def check(self) -> None:
        for block in ("model", "training"):
            if block not in self.config:
                raise ValueError(f"config needs a '{block}' block (official YAML layout)")
        for name in ("log_every", "preview_every", "save_every", "preview_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {self.max_steps}")
        if self.autoencoder is None and self.init_from is None and not self.resume:
            raise ValueError("autoencoder is required: give trained autoencoder weights (or init_from a RIVER checkpoint)")
        self.preview_sampler.check()


def _with_autoencoder_block(config: dict, autoencoder_path: str | None) -> dict:
    """Our `autoencoder.pth` carries its own `autoencoder:` block; use it so configs need not repeat it."""
    config = copy.deepcopy(config)
    if autoencoder_path is not None:
        stored = load_checkpoint(autoencoder_path)
        if isinstance(stored, dict) and isinstance(stored.get("config"), dict):
            config["model"]["autoencoder"] = stored["config"]
    return config


def train_river(settings: RiverTrainSettings, cancel: CancelToken | None = None) -> Iterator[Event]:
    """Generator of job events; returns after ``max_steps`` or raises `JobCancelled` after saving."""
    # 1. Check inputs and prepare the run folder
    settings.check()
    cancel = cancel or CancelToken()
    output_dir = Path(settings.output_dir)
    checkpoint_path = output_dir / CHECKPOINT_NAME
    resuming = settings.resume and checkpoint_path.is_file()
    if resuming:  # the run fixes the model; the training block (e.g. a longer schedule) may change
        config = {**load_config(output_dir / CONFIG_NAME), "training": copy.deepcopy(settings.config["training"])}
    else:
        config = _with_autoencoder_block(settings.config, settings.autoencoder)
    training = config["training"]
    optimizer_config = training["optimizer"]
    max_steps = settings.max_steps or int(optimizer_config["num_training_steps"])
    accelerator = make_accelerator(settings.device)
    torch.manual_seed(settings.seed)

    # 2. Model: autoencoder weights, a whole earlier checkpoint to start from, or both (its regressor
    #    with a new autoencoder, e.g. one fine-tuned from its own)
    if settings.init_from is not None and not resuming and settings.autoencoder is None:
        model = load_river_checkpoint(settings.init_from, config)
    else:
        model = Model(config["model"])
        if not resuming:
            load_state_dict_strict(model.ae, read_autoencoder_state(settings.autoencoder, model.ae), "autoencoder")
        if settings.init_from is not None and not resuming:
            regressor_state = select_prefix(read_model_state(settings.init_from), "vector_field_regressor.")
            load_state_dict_strict(model.vector_field_regressor, regressor_state, "RIVER vector field regressor")
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=float(optimizer_config["learning_rate"]),
        weight_decay=float(optimizer_config["weight_decay"]), betas=(0.9, 0.999),
    )
    scheduler = polynomial_warmup_scheduler(
        optimizer, int(optimizer_config["num_warmup_steps"]), int(optimizer_config["num_training_steps"])
    )
    start_step = 0
    if resuming:
        previous = load_checkpoint(checkpoint_path)
        load_state_dict_strict(model, read_model_state(checkpoint_path), "RIVER model")
        optimizer.load_state_dict(previous["optimizer"])
        scheduler.load_state_dict(previous["lr_scheduler"])
        start_step = int(previous["global_step"]) + 1  # the official loop counter at save time
    model.to(accelerator.device).train()
    regressor, optimizer = accelerator.prepare(model.vector_field_regressor, optimizer)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / CONFIG_NAME).write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        if resuming:
            yield Log(f"resuming vector-field training at step {start_step}")

    # 3. Data
    num_observations = int(training["num_observations"])
    image_size = int(config.get("data", {}).get("crop_size") or model.image_size[0])
    dataset = open_clip_dataset(settings.data, num_observations, image_size,
                                int(config.get("data", {}).get("skip_frames", 0)))
    batch_size = int(training["batching"]["batch_size"])
    batches = endless_batches(dataset, batch_size, settings.seed + start_step, accelerator, settings.num_workers)
    generator = torch.Generator().manual_seed(settings.seed * 7919 + accelerator.process_index + start_step)
    # A fresh autoencoder's latents can be rescaled to the noise's unit scale (opt-in, not official).
    if settings.normalize_latents and not resuming and settings.init_from is None:
        latents = model.encode(torch.cat([next(batches) for _ in range(4)]).to(accelerator.device))
        std = float(mean_across_processes(latents.var()).sqrt())
        model.ae.rescale_latents(1.0 / std)
        if accelerator.is_main_process:
            yield Log(f"latents rescaled by {1.0 / std:.4g} to unit standard deviation")
    preview_clip = dataset[0][None].to(accelerator.device)
    condition_frames = max(1, int(training.get("condition_frames", 2)))

    def save(step: int) -> Artifact:
        atomic_save(
            {"optimizer": optimizer.state_dict(), "lr_scheduler": scheduler.state_dict(),
             "model": model.state_dict(), "global_step": step},
            checkpoint_path,
        )
        return Artifact(str(checkpoint_path), "checkpoint", f"RIVER step {step + 1}")

    def preview(step: int) -> Preview:
        model.eval()
        context = preview_clip[:, :condition_frames]
        count = min(settings.preview_frames, preview_clip.shape[1] - condition_frames)
        frames = generate_frames(model, context, max(count, 1), settings.preview_sampler,
                                 torch.Generator().manual_seed(settings.seed))[0]
        model.train()
        truth = torch.cat([model.decode(model.encode(context))[0], preview_clip[0, condition_frames:condition_frames + count]])
        return Preview(side_by_side(truth[: len(frames)], frames), step, "ground truth | prediction")

    # 4. Training loop
    timer = StepTimer(max(max_steps - start_step, 1), "vector field")
    running, counted = 0.0, 0
    step = start_step - 1
    try:
        for step in range(start_step, max_steps):
            cancel.raise_if_cancelled()
            clips = next(batches).to(accelerator.device)
            draws = draw_flow_matching(len(clips), clips.shape[1], model.latent_shape, generator)
            loss, _ = flow_matching_loss(model, clips, draws, regressor)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            optimizer.step()
            scheduler.step()
            running, counted = running + loss.item(), counted + 1
            if not accelerator.is_main_process:
                continue
            progress = timer.tick()
            if (step + 1) % settings.log_every == 0 or step + 1 == max_steps:
                yield progress
                yield Metric("loss", step + 1, running / counted)
                yield Metric("lr", step + 1, scheduler.get_last_lr()[0])
                running, counted = 0.0, 0
            if (step + 1) % settings.preview_every == 0:
                yield preview(step + 1)
            if (step + 1) % settings.save_every == 0 or step + 1 == max_steps:
                yield save(step)
    except JobCancelled:
        if accelerator.is_main_process and step >= start_step:
            yield save(step)
        raise

    # 5. A last preview and the result
    if accelerator.is_main_process:
        yield preview(max_steps)
        yield Result(str(checkpoint_path), str(output_dir / CONFIG_NAME), settings.seed,
                     {"steps": max_steps, "model_folder": str(output_dir)})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train RIVER's vector field (stage 2).")
    parser.add_argument("--config", required=True, help="YAML in the official layout")
    parser.add_argument("--data", required=True, help="video folder, or HDF5 shard/folder (official layout)")
    parser.add_argument("--autoencoder", help="autoencoder weights (autoencoder.pth, vqvae.ckpt, vqvae.pth)")
    parser.add_argument("--init-from", help="start from this RIVER checkpoint (e.g. a released model.pth)")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--num-workers", type=int, default=0)
    args = parser.parse_args(argv)
    settings = RiverTrainSettings(
        args.output_dir, load_config(args.config), args.data, args.autoencoder, args.init_from,
        max_steps=args.steps, seed=args.seed, device=args.device, num_workers=args.num_workers,
    )
    from ..core.console import print_events

    print_events(train_river(settings))


if __name__ == "__main__":
    main()
