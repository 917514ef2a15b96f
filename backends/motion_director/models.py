"""The models a MotionDirector run trains on: diffusers' ``UNetMotionModel`` (SD1.5 UNet + the
AnimateDiff v3 motion adapter, the domain-adapter LoRA merged in when asked), the VAE and text
encoder (frozen), DDPM training noise and the DDIM sampler of the sample videos."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from ..animatediff.pipeline import has_variant
from ..core.checkpoints import load_checkpoint
from ..core.jobs import Event, Log, Progress
from ..core.presets import EnginePreset, load_preset
from ..core.sources import ModelSources
from .lora import merge_old_style_lora


@dataclass
class TrainingModels:
    unet: Any  # UNetMotionModel
    vae: Any
    text_encoder: Any
    tokenizer: Any
    noise_scheduler: Any  # DDPMScheduler
    sample_scheduler: Any  # DDIMScheduler
    device: torch.device
    dtype: torch.dtype  # of the frozen weights; LoRA weights are fp32

    def encode_prompt(self, prompt: str) -> torch.Tensor:
        ids = self.tokenizer(prompt, padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids
        with torch.no_grad():
            return self.text_encoder(ids.to(self.device))[0]


def load_training_models(sources: ModelSources, preset: EnginePreset, device: torch.device, dtype: torch.dtype,
                         domain_adapter: bool, emit: Callable[[Event], None]) -> TrainingModels:
    from diffusers import (AutoencoderKL, DDIMScheduler, DDPMScheduler, MotionAdapter, UNet2DConditionModel,
                           UNetMotionModel)
    from transformers import CLIPTextModel, CLIPTokenizer

    base_ref, adapter_ref = preset.models["base"], preset.models["motion_adapter"]
    base = sources.resolve(base_ref, preset.label, emit)
    adapter_path = sources.resolve(adapter_ref, preset.label, emit)
    variant = base_ref.variant if has_variant(base, base_ref.variant) else None
    emit(Progress(0, 3, "loading models"))
    unet_2d = UNet2DConditionModel.from_pretrained(base, subfolder="unet", variant=variant)
    adapter = MotionAdapter.from_pretrained(
        adapter_path, variant=adapter_ref.variant if has_variant(adapter_path, adapter_ref.variant) else None)
    unet = UNetMotionModel.from_unet2d(unet_2d, adapter)
    del unet_2d, adapter
    emit(Progress(1, 3, "loading models"))
    if domain_adapter:
        ref = preset.models["domain_adapter"]
        state = load_checkpoint(sources.resolve(ref, preset.label, emit))
        state = state.get("state_dict", state)
        scale = preset.extra["training"]["domain_adapter_scale"]
        merged = merge_old_style_lora(unet, state, scale)
        emit(Log(f"merged the v3 domain adapter ({merged} layers, scale {scale:g})"))
    vae = AutoencoderKL.from_pretrained(base, subfolder="vae", variant=variant, torch_dtype=dtype)
    text_encoder = CLIPTextModel.from_pretrained(base, subfolder="text_encoder", variant=variant, torch_dtype=dtype)
    tokenizer = CLIPTokenizer.from_pretrained(base, subfolder="tokenizer")
    emit(Progress(2, 3, "loading models"))
    for model in (vae, text_encoder):
        model.requires_grad_(False).eval()
    sampler = load_preset("animatediff").extra["scheduler"]
    models = TrainingModels(
        unet=unet.to(device=device, dtype=dtype), vae=vae.to(device), text_encoder=text_encoder.to(device),
        tokenizer=tokenizer, noise_scheduler=DDPMScheduler(**preset.extra["noise"]),
        sample_scheduler=DDIMScheduler.from_pretrained(base, subfolder="scheduler", **sampler),
        device=torch.device(device), dtype=dtype,
    )
    emit(Progress(3, 3, "loading models"))
    emit(Log(f"loaded {base_ref.repo} + {adapter_ref.repo} for training ({device}, {str(dtype).removeprefix('torch.')})"))
    return models
