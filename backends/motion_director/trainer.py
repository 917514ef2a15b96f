"""MotionDirector's dual-path training loop on cached latents, with checkpoints, resume and
sample videos.

Each step draws one noise and one timestep for a clip's latents, then
1. (skipped with probability p) the spatial path: spatial LoRA on, temporal LoRA off; the UNet
   sees ONE random frame; MSE to that frame's noise; the spatial optimiser steps;
2. the temporal path: temporal LoRA on, the spatial LoRA injected at scale 1 (0 when the spatial
   path was skipped) but frozen; the whole clip; MSE + the appearance-debiased loss; the temporal
   optimiser steps.
Several processes (``accelerate launch``) train data-parallel: LoRA gradients are averaged
across them before each optimiser step, and only the main process writes files.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..core.checkpoints import atomic_save, load_checkpoint
from ..core.jobs import Artifact, Event, JobCancelled, Log, Metric, Preview, Progress, StepTimer
from ..core.video_io import side_by_side, write_mp4
from .data import TrainingClip
from .losses import spatial_loss, temporal_loss
from .lora import (SPATIAL, TEMPORAL, LoraLayerWeights, add_motion_director_loras, lora_parameters, read_adapter,
                   set_path, write_adapter)
from .models import TrainingModels

CHECKPOINT_FILE = "checkpoint.pt"
LOSS_SERIES = ("spatial", "temporal", "debiased")


@dataclass(frozen=True)
class TrainConfig:
    """The resolved numbers of one run (settings + quality preset + engine constants)."""

    steps: int
    rank: int
    lr_spatial: float
    lr_temporal: float
    weight_decay: float
    optimizer: str = "adamw"
    spatial_skip_probability: float = 0.2
    debias_beta: float = 1.0
    lora_dropout: float = 0.1
    temporal_feed_forward: bool = True
    gradient_checkpointing: bool = True
    mixed_precision: str = "fp16"
    checkpoint_every: int = 100
    validation_every: int = 50
    validation_prompt: str = ""
    sample_size: tuple[int, int] = (512, 512)  # (width, height)
    sample_frames: int = 16
    sample_steps: int = 25
    guidance: float = 9.0
    spatial_scale: float = 0.5
    temporal_scale: float = 1.0
    negative_prompt: str = ""
    fps: int = 8
    seed: int = 42


@dataclass
class EncodedClip:
    name: str
    caption: str
    latents: torch.Tensor  # (1, C, F, h, w), scaled by the VAE's scaling factor
    text: torch.Tensor  # (1, tokens, dim)


@dataclass
class StepDraws:
    """The random choices of one step."""

    noise: torch.Tensor
    timestep: torch.Tensor
    frame: int  # the spatial path's frame
    anchor: int  # the debiased loss's anchor frame
    skip_spatial: bool


@dataclass
class Processes:
    """This process's place among data-parallel training processes (one without ``accelerate``)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def average_gradients(self, parameters: list[torch.nn.Parameter]) -> None:
        if self.world == 1:
            return
        for parameter in parameters:
            if parameter.grad is not None:
                torch.distributed.all_reduce(parameter.grad)
                parameter.grad /= self.world


def current_processes() -> tuple[Processes, torch.device | None]:
    """(processes, this process's device) under ``accelerate launch``; one process otherwise."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Processes(), None
    from accelerate import PartialState

    state = PartialState()
    return Processes(state.process_index, state.num_processes), state.device


@dataclass
class TrainState:
    step: int = 0
    history: list[dict] = field(default_factory=list)  # {"step", "spatial" (or None), "temporal", "debiased"}


def draw_step(latents: torch.Tensor, num_timesteps: int, skip_probability: float, generator: torch.Generator,
              shared: torch.Generator) -> StepDraws:
    """Noise, timestep and frames from this process's ``generator``; whether to skip the spatial path
    from ``shared`` (the same on every process, so all of them average the same gradients)."""
    frames = latents.shape[2]
    noise = torch.randn(latents.shape, generator=generator).to(latents.device, latents.dtype)
    timestep = torch.randint(0, num_timesteps, (1,), generator=generator)
    frame, anchor = (int(torch.randint(0, frames, (1,), generator=generator)) for _ in range(2))
    skip = bool(torch.rand(1, generator=shared) < skip_probability)
    return StepDraws(noise, timestep.to(latents.device), frame, anchor, skip)


def _optimise(unet, loss: torch.Tensor, adapter: str, optimizer, scaler, processes: Processes) -> None:
    scaler.scale(loss).backward()
    processes.average_gradients(lora_parameters(unet, adapter))
    scaler.step(optimizer)
    optimizer.zero_grad(set_to_none=True)


def spatial_step(unet, clip: EncodedClip, noisy: torch.Tensor, draws: StepDraws, optimizer, scaler,
                 autocast: Callable[[], contextlib.AbstractContextManager], processes: Processes = Processes()) -> float:
    """The spatial path: spatial LoRA on, temporal off; ONE frame; MSE to its noise."""
    set_path(unet, spatial_scale=1.0, temporal_scale=0.0, train=SPATIAL)
    frame = slice(draws.frame, draws.frame + 1)
    with autocast():  # one frame: the prompt once
        pred = unet(noisy[:, :, frame], draws.timestep, encoder_hidden_states=clip.text).sample
    loss = spatial_loss(pred, draws.noise[:, :, frame])
    _optimise(unet, loss, SPATIAL, optimizer, scaler, processes)
    return loss.item()


def temporal_step(unet, clip: EncodedClip, noisy: torch.Tensor, draws: StepDraws, optimizer, scaler,
                  autocast: Callable[[], contextlib.AbstractContextManager], debias_beta: float,
                  processes: Processes = Processes()) -> tuple[float, float]:
    """The temporal path: the whole clip, the spatial LoRA injected (scale 0 when its path was
    skipped) but frozen; MSE + appearance-debiased loss. Returns (loss, debiased part)."""
    set_path(unet, spatial_scale=0.0 if draws.skip_spatial else 1.0, temporal_scale=1.0, train=TEMPORAL)
    # UNetMotionModel wants the prompt once per frame, as AnimateDiffPipeline passes it
    text = clip.text.repeat_interleave(noisy.shape[2], dim=0)
    with autocast():
        pred = unet(noisy, draws.timestep, encoder_hidden_states=text).sample
    loss, debiased = temporal_loss(pred, draws.noise, draws.anchor, debias_beta)
    _optimise(unet, loss, TEMPORAL, optimizer, scaler, processes)
    return loss.item(), debiased.item()


def training_step(unet, clip: EncodedClip, draws: StepDraws, noise_scheduler, optimizers: dict, scaler,
                  autocast: Callable[[], contextlib.AbstractContextManager], debias_beta: float,
                  processes: Processes = Processes()) -> dict[str, float | None]:
    """One dual-path step; returns the losses (``spatial`` is None when that path was skipped)."""
    noisy = noise_scheduler.add_noise(clip.latents, draws.noise, draws.timestep)
    spatial = None
    if not draws.skip_spatial:
        spatial = spatial_step(unet, clip, noisy, draws, optimizers[SPATIAL], scaler, autocast, processes)
    temporal, debiased = temporal_step(unet, clip, noisy, draws, optimizers[TEMPORAL], scaler, autocast,
                                       debias_beta, processes)
    scaler.update()
    return {"spatial": spatial, "temporal": temporal, "debiased": debiased}


def make_optimizer(parameters: list[torch.nn.Parameter], lr: float, weight_decay: float, kind: str,
                   lion_lr_factor: float = 0.1, lion_weight_decay_factor: float = 10.0) -> torch.optim.Optimizer:
    """AdamW, or Lion (lr / 10, weight decay x 10) when asked and the ``lion-pytorch`` package is present."""
    if kind == "lion":
        try:
            from lion_pytorch import Lion
        except ImportError as error:
            raise ValueError("optimizer 'lion' needs the lion-pytorch package (pip install lion-pytorch)") from error
        return Lion(parameters, lr=lr * lion_lr_factor, weight_decay=weight_decay * lion_weight_decay_factor)
    return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)


def encode_clips(models: TrainingModels, clips: list[TrainingClip], generator: torch.Generator,
                 chunk: int = 8) -> list[EncodedClip]:
    """VAE latents (one sample of the posterior, kept for the whole run) and prompt embeddings."""
    vae = models.vae
    encoded = []
    with torch.no_grad():
        for clip in clips:
            pixels = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 127.5 - 1
            parts = [vae.encode(pixels[i : i + chunk].to(models.device, vae.dtype)).latent_dist.sample(generator)
                     for i in range(0, len(pixels), chunk)]
            latents = torch.cat(parts).permute(1, 0, 2, 3).unsqueeze(0) * vae.config.scaling_factor
            encoded.append(EncodedClip(clip.name, clip.caption, latents.float(), models.encode_prompt(clip.caption)))
    return encoded


def decode_clip(vae, latents: torch.Tensor, chunk: int = 8) -> np.ndarray:
    """(1, C, F, h, w) latents -> uint8 frames (F, H, W, 3)."""
    frames = latents[0].permute(1, 0, 2, 3) / vae.config.scaling_factor
    with torch.no_grad():
        images = torch.cat([vae.decode(frames[i : i + chunk].to(vae.dtype)).sample.float()
                            for i in range(0, len(frames), chunk)])
    return ((images / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


class MotionDirectorTrainer:
    """Trains the two LoRAs of ``models.unet`` on ``clips``; ``folder`` holds the checkpoint and
    samples. ``emit`` receives events; ``check`` raises ``JobCancelled`` when Stop was pressed."""

    def __init__(self, models: TrainingModels, config: TrainConfig, clips: list[EncodedClip], folder: Path,
                 emit: Callable[[Event], None], check: Callable[[], None],
                 save_files: Callable[["MotionDirectorTrainer"], None] = lambda trainer: None,
                 processes: Processes = Processes(), lion_factors: tuple[float, float] = (0.1, 10.0)):
        self.models, self.config, self.clips, self.folder = models, config, clips, Path(folder)
        self.emit, self.check, self.save_files, self.processes = emit, check, save_files, processes
        unet = models.unet
        add_motion_director_loras(unet, config.rank, config.lora_dropout, config.temporal_feed_forward)
        if config.gradient_checkpointing:
            unet.enable_gradient_checkpointing()
        self.optimizers = {adapter: make_optimizer(lora_parameters(unet, adapter), lr, config.weight_decay,
                                                   config.optimizer, *lion_factors)
                           for adapter, lr in ((SPATIAL, config.lr_spatial), (TEMPORAL, config.lr_temporal))}
        on_cuda = models.device.type == "cuda"
        self.autocast_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(config.mixed_precision) if on_cuda else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.autocast_dtype == torch.float16)
        self.generator = torch.Generator().manual_seed(config.seed + 1000 * processes.rank)
        self.shared_generator = torch.Generator().manual_seed(config.seed)
        self.state = TrainState()
        self.samples: list[Path] = []

    # -- checkpoints --------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.folder / CHECKPOINT_FILE

    def adapter_weights(self) -> dict[str, dict[str, LoraLayerWeights]]:
        return {adapter: read_adapter(self.models.unet, adapter) for adapter in (SPATIAL, TEMPORAL)}

    def save_checkpoint(self) -> None:
        """LoRA weights, optimiser and scaler states, step, loss history and random states, then
        the LoRA files (so the latest weights are usable at once)."""
        if not self.processes.main:
            return
        weights = {f"{adapter}|{module}|{part}": getattr(layer, part)
                   for adapter, layers in self.adapter_weights().items()
                   for module, layer in layers.items() for part in ("down", "up")}
        state = {
            "step": self.state.step, "history": self.state.history, "weights": weights,
            "optimizers": {adapter: opt.state_dict() for adapter, opt in self.optimizers.items()},
            "scaler": self.scaler.state_dict(), "rank": self.config.rank,
            "temporal_feed_forward": self.config.temporal_feed_forward,
            "generator": self.generator.get_state(), "shared_generator": self.shared_generator.get_state(),
            "samples": [path.name for path in self.samples],
        }
        atomic_save(state, self.checkpoint_path)
        self.save_files(self)

    def load_checkpoint(self) -> None:
        state = load_checkpoint(self.checkpoint_path)
        if (state["rank"], state["temporal_feed_forward"]) != (self.config.rank, self.config.temporal_feed_forward):
            raise ValueError(f"the checkpoint was trained with rank {state['rank']} and temporal_feed_forward "
                             f"{state['temporal_feed_forward']}; resume with the same settings")
        for adapter in (SPATIAL, TEMPORAL):
            layers: dict[str, dict[str, torch.Tensor]] = {}
            for key, tensor in state["weights"].items():
                owner, module, part = key.split("|")
                if owner == adapter:
                    layers.setdefault(module, {})[part] = tensor
            write_adapter(self.models.unet, adapter,
                          {module: LoraLayerWeights(t["down"], t["up"], 1.0) for module, t in layers.items()})
        for adapter, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][adapter])
        self.scaler.load_state_dict(state["scaler"])
        self.generator.set_state(state["generator"])
        self.shared_generator.set_state(state["shared_generator"])
        self.state = TrainState(state["step"], list(state["history"]))
        self.samples = [self.folder / "samples" / name for name in state.get("samples", [])]

    # -- the loop -----------------------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.models.device.type, dtype=self.autocast_dtype)

    def emit_losses(self, record: dict) -> None:
        for series in LOSS_SERIES:
            if record.get(series) is not None:
                self.emit(Metric(series, record["step"], record[series]))

    def train(self, resume: bool = False) -> TrainState:
        """Train up to ``config.steps``; on Stop (``JobCancelled``) save a checkpoint and re-raise."""
        if resume:
            self.load_checkpoint()
            self.emit(Log(f"resumed at step {self.state.step}"))
            for record in self.state.history:  # the curve continues where it stopped
                self.emit_losses(record)
        torch.manual_seed(self.config.seed + self.state.step + 1000 * self.processes.rank)  # LoRA dropout
        config, unet = self.config, self.models.unet
        start = self.state.step
        timer = StepTimer(max(1, config.steps - start), "training")
        try:
            while self.state.step < config.steps:
                self.check()
                unet.train()
                clip = self.clips[(self.state.step * self.processes.world + self.processes.rank) % len(self.clips)]
                draws = draw_step(clip.latents, self.models.noise_scheduler.config.num_train_timesteps,
                                  config.spatial_skip_probability, self.generator, self.shared_generator)
                losses = training_step(unet, clip, draws, self.models.noise_scheduler, self.optimizers, self.scaler,
                                       self.autocast, config.debias_beta, self.processes)
                self.state.step += 1
                record = {"step": self.state.step, **losses}
                self.state.history.append(record)
                self.emit_losses(record)
                progress = timer.tick()
                self.emit(Progress(self.state.step, config.steps, "training", progress.eta_s,
                                   progress.seconds_per_step))
                if self.state.step % config.checkpoint_every == 0:
                    self.save_checkpoint()
                if self.state.step % config.validation_every == 0 or self.state.step == config.steps:
                    self.sample()
        except JobCancelled:
            if self.state.step > 0:
                self.save_checkpoint()
                self.emit(Log(f"stopped at step {self.state.step}; checkpoint saved (resume continues from it)"))
            raise
        self.save_checkpoint()
        return self.state

    # -- samples ------------------------------------------------------------------------------
    def sample_pipeline(self):
        from diffusers import AnimateDiffPipeline

        m = self.models
        pipe = AnimateDiffPipeline(vae=m.vae, text_encoder=m.text_encoder, tokenizer=m.tokenizer, unet=m.unet,
                                   motion_adapter=None, scheduler=m.sample_scheduler)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def sample(self) -> Path | None:
        """A sample video at the validation settings, with the seed fixed so samples compare over time."""
        if not self.processes.main:
            return None
        config, unet = self.config, self.models.unet
        prompt = config.validation_prompt or self.clips[0].caption
        set_path(unet, config.spatial_scale, config.temporal_scale, train=None)
        unet.eval()
        pipe = self.sample_pipeline()
        total = config.sample_steps

        def on_step_end(pipe, index, timestep, tensors):
            self.emit(Progress(index + 1, total, f"sample at step {self.state.step}"))
            try:
                self.check()
            except JobCancelled:
                pipe._interrupt = True
            return {}

        with torch.no_grad(), self.autocast():
            latents = pipe(prompt=prompt, negative_prompt=config.negative_prompt or None,
                           num_frames=config.sample_frames, width=config.sample_size[0], height=config.sample_size[1],
                           num_inference_steps=total, guidance_scale=config.guidance, output_type="latent",
                           generator=torch.Generator("cpu").manual_seed(config.seed),
                           callback_on_step_end=on_step_end).frames
        self.check()
        frames = decode_clip(self.models.vae, latents)
        path = self.folder / "samples" / f"sample_step{self.state.step:05d}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_mp4(frames, path, config.fps)
        self.samples.append(path)
        label = f"sample at step {self.state.step}"
        self.emit(Preview(frames, self.state.step, label))
        self.emit(Artifact(str(path), "video", label))
        return path

    def show_training_clips(self) -> Path | None:
        """The decoded training clips, side by side: exactly what the model sees."""
        if not self.processes.main:
            return None
        clips = [decode_clip(self.models.vae, clip.latents) for clip in self.clips]
        frames = side_by_side(clips) if len(clips) > 1 else clips[0]
        path = self.folder / "training_clips.mp4"
        self.folder.mkdir(parents=True, exist_ok=True)
        write_mp4(frames, path, self.config.fps)
        self.emit(Preview(frames, 0, "training clips, as the model sees them (decoded latents)"))
        self.emit(Artifact(str(path), "video", "training clips (decoded latents)"))
        return path
