"""Tiny random AnimateDiff + OnlyFlow models for the OnlyFlow tests and bench, built offline.

Stand-in until the shared factory (``backends/core/tiny_models.py``) lands in this branch.
SD1.5's block pattern at toy widths, v3-like motion modules (no motion mid block).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

WIDTHS = (16, 24, 32, 32)
TEXT_DIM = 32
GROUPS = 8
TINY_FLOW_ENCODER_CONFIG = {"channels": list(WIDTHS), "temporal_attention_nhead": 8, "num_positional_embeddings": 16}


def byte_level_clip_tokenizer(folder: Path):
    """A CLIP tokenizer whose vocabulary is the 256 byte characters (+ ``</w>`` forms), no merges."""
    from transformers import CLIPTokenizer

    printable = {*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)}
    shifted = iter(range(256, 512))
    alphabet = [chr(b) if b in printable else chr(next(shifted)) for b in range(256)]
    tokens = alphabet + [c + "</w>" for c in alphabet] + ["<|startoftext|>", "<|endoftext|>"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt"), model_max_length=77)


def tiny_animatediff_pipeline(folder: Path):
    """A tiny ``AnimateDiffPipeline`` (random weights) at SD1.5's layout; 64 px images, 8 px latents."""
    from diffusers import AnimateDiffPipeline, AutoencoderKL, DDIMScheduler, MotionAdapter, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = byte_level_clip_tokenizer(Path(folder) / "tokenizer")
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=TEXT_DIM,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            bos_token_id=len(tokenizer) - 2,
            eos_token_id=len(tokenizer) - 1,
            pad_token_id=len(tokenizer) - 1,
        )
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 8, 8, 8),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=GROUPS,
    )
    unet = UNet2DConditionModel(
        sample_size=8,
        block_out_channels=WIDTHS,
        layers_per_block=2,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=TEXT_DIM,
        attention_head_dim=4,
        norm_num_groups=GROUPS,
    )
    motion_adapter = MotionAdapter(
        block_out_channels=WIDTHS,
        motion_layers_per_block=2,
        motion_norm_num_groups=GROUPS,
        motion_num_attention_heads=8,
        motion_max_seq_length=32,
        use_motion_mid_block=False,
    )
    with torch.no_grad():  # diffusers zero-initialises proj_out, which would make motion modules no-ops
        for name, param in motion_adapter.named_parameters():
            if "proj_out" in name:
                param.normal_(0.0, 0.1)
    pipe = AnimateDiffPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        motion_adapter=motion_adapter,
        scheduler=DDIMScheduler(),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_onlyflow_adapter(unet, seed: int = 0):
    """Random OnlyFlow weights for ``unet``; qkv_merge made non-zero-ish so gamma matters."""
    from backends.onlyflow.attention_processor import flow_processor_specs
    from backends.onlyflow.checkpoint import OnlyFlowAdapter

    torch.manual_seed(seed)
    return OnlyFlowAdapter(flow_processor_specs(unet), TINY_FLOW_ENCODER_CONFIG).eval()
