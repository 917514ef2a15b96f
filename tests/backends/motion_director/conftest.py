"""Tiny MotionDirector set-ups: training models on the tiny SD1.5 + motion adapter (+ a tiny
domain adapter), the example clip, and a short real training run whose files the tests read."""

from pathlib import Path

import pytest
import torch

from backends.core.presets import load_preset
from backends.core.sources import ModelSources
from backends.motion_director.data import load_clip
from backends.motion_director.example import EXAMPLE_CLIP
from backends.motion_director.files import save_trained_loras
from backends.motion_director.models import load_training_models
from backends.motion_director.tiny import build_tiny_domain_adapter
from backends.motion_director.trainer import MotionDirectorTrainer, TrainConfig, encode_clips

SIZE, FRAMES = 64, 8


@pytest.fixture(scope="session")
def tiny_sources(tiny_weights, tmp_path_factory) -> ModelSources:
    adapter = tmp_path_factory.mktemp("domain_adapter")
    build_tiny_domain_adapter(adapter)
    return ModelSources(overrides={**tiny_weights, "guoyww/animatediff": adapter}, offline=True)


@pytest.fixture
def make_models(tiny_sources):
    """Fresh training models (training changes the UNet)."""
    preset = load_preset("motion_director")
    return lambda domain_adapter=True: load_training_models(tiny_sources, preset, torch.device("cpu"), torch.float32,
                                                            domain_adapter, lambda event: None)


@pytest.fixture(scope="session")
def tiny_clip():
    return load_clip(EXAMPLE_CLIP, "a red ball rolling", FRAMES, 2, 0, SIZE, bucketing=False)


def tiny_config(**changes) -> TrainConfig:
    values = dict(steps=4, rank=4, lr_spatial=1e-2, lr_temporal=1e-2, weight_decay=0.01, lora_dropout=0.0,
                  validation_every=1000, checkpoint_every=1000, sample_size=(SIZE, SIZE), sample_frames=FRAMES,
                  sample_steps=2)
    return TrainConfig(**{**values, **changes})


def make_trainer(models, clip, folder: Path, events: list, check=lambda: None, **config) -> MotionDirectorTrainer:
    clips = encode_clips(models, [clip], torch.Generator().manual_seed(0))
    return MotionDirectorTrainer(models, tiny_config(**config), clips, folder, events.append, check)


@pytest.fixture(scope="session")
def trained_run(tiny_sources, tiny_clip, tmp_path_factory):
    """A real (tiny) training run and the three files it wrote: (trainer, files)."""
    preset = load_preset("motion_director")
    models = load_training_models(tiny_sources, preset, torch.device("cpu"), torch.float32, True, lambda e: None)
    folder = tmp_path_factory.mktemp("run")
    trainer = make_trainer(models, tiny_clip, folder, [], steps=3, lr_spatial=5e-2, lr_temporal=5e-2)
    trainer.train()
    files = save_trained_loras(folder, "tiny", trainer.adapter_weights(), steps=3, resolution=(SIZE, SIZE),
                               base_model="stable-diffusion-v1-5/stable-diffusion-v1-5",
                               motion_module="guoyww/animatediff-motion-adapter-v1-5-3", prompt=tiny_clip.caption,
                               lr_spatial=5e-2)
    return trainer, files
