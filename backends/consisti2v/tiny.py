"""A tiny random ConsistI2V in the ``TIGER-Lab/ConsistI2V`` layout (demo mode and tests):
SD2.1-style VAE, CLIP text encoder and tokenizer at toy sizes, and our UNet at two levels
with the released temporal settings (16 frames, 8 temporal heads)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..core.tiny_models import TINY_TEXT_DIM, build_clip_text_encoder, tiny_vae, write_clip_tokenizer
from .sampling import DDIM_CONFIG
from .unet import VideoLDMUNet3DConditionModel

TINY_UNET_CONFIG = {
    "block_out_channels": [32, 64],  # the temporal convs' GroupNorm has 32 groups: widths are multiples of 32
    # attention only at the half-resolution level: the demo's 256x256 default stays quick on a CPU
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
    "attention_head_dim": [2, 4],
    "cross_attention_dim": TINY_TEXT_DIM,
    "n_frames": 16,
    "n_temp_heads": 8,
    "sample_size": 8,
}


def tiny_unet(seed: int = 0) -> VideoLDMUNet3DConditionModel:
    """Random weights; every alpha at 0.5 so the temporal layers take part (1 would bypass them)."""
    torch.manual_seed(seed)
    unet = VideoLDMUNet3DConditionModel(**TINY_UNET_CONFIG)
    with torch.no_grad():
        for name, parameter in unet.named_parameters():
            if name.endswith(".alpha"):
                parameter.fill_(0.5)
    return unet.eval()


def build_tiny_consisti2v(folder: Path) -> None:
    """``unet/``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/`` and ``model_index.json``."""
    from transformers import CLIPTokenizer

    folder = Path(folder)
    write_clip_tokenizer(folder / "tokenizer")
    build_clip_text_encoder(folder / "text_encoder", vocab_size=len(CLIPTokenizer.from_pretrained(folder / "tokenizer")))
    tiny_vae(seed=1).save_pretrained(folder / "vae", safe_serialization=True)
    tiny_unet(seed=2).save_pretrained(folder / "unet", safe_serialization=True)
    (folder / "scheduler").mkdir(exist_ok=True)
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps({"_class_name": "DDIMScheduler", **DDIM_CONFIG}))
    (folder / "model_index.json").write_text(json.dumps({
        "_class_name": "ConditionalAnimationPipeline",
        "unet": ["consisti2v", "VideoLDMUNet3DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "DDIMScheduler"],
    }, indent=2))
