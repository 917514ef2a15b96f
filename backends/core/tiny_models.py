"""Tiny random-weight models in the real layouts, built and saved locally (no network).

Demo mode and the tests use them through the *same* loading code as the Hub weights: a
builder writes a folder laid out like the Hub repository, and ``ModelSources`` points the
engine at it. Builds are seeded, so the same folder comes out every time.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

# SD1.5's block pattern at toy widths (the last two widths equal, like 320/640/1280/1280).
TINY_WIDTHS = (16, 24, 32, 32)
TINY_TEXT_DIM = 32
TINY_NORM_GROUPS = 8


def _byte_alphabet() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for raw bytes (GPT-2 / CLIP convention):
    printable Latin-1 bytes map to themselves, the rest to code points from 256 upwards."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def write_clip_tokenizer(folder: Path) -> None:
    """A byte-level CLIP tokenizer with no merges: every character is a token."""
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    alphabet = _byte_alphabet()
    tokens = alphabet + [c + "</w>" for c in alphabet] + ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt"), model_max_length=77)
    tokenizer.save_pretrained(folder)


def build_clip_text_encoder(folder: Path, vocab_size: int, seed: int = 0) -> None:
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=TINY_TEXT_DIM,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
    )
    CLIPTextModel(config).save_pretrained(folder)


def tiny_unet_2d(seed: int = 0):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(
        sample_size=8,
        block_out_channels=TINY_WIDTHS,
        layers_per_block=2,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=TINY_TEXT_DIM,
        attention_head_dim=4,
        norm_num_groups=TINY_NORM_GROUPS,
    )


def tiny_vae(seed: int = 0):
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        block_out_channels=(8, 16, 16, 16),  # four levels: the SD scale factor of 8
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=TINY_NORM_GROUPS,
        sample_size=64,
    )


def build_tiny_sd15(folder: Path) -> None:
    """A Stable-Diffusion-1.5-shaped pipeline folder (model_index.json + components)."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    folder = Path(folder)
    write_clip_tokenizer(folder / "tokenizer")
    from transformers import CLIPTextModel, CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer")
    build_clip_text_encoder(folder / "text_encoder", vocab_size=len(tokenizer))
    pipe = StableDiffusionPipeline(
        vae=tiny_vae(seed=1),
        text_encoder=CLIPTextModel.from_pretrained(folder / "text_encoder"),
        tokenizer=tokenizer,
        unet=tiny_unet_2d(seed=2),
        scheduler=DDIMScheduler(
            beta_schedule="linear", beta_start=0.00085, beta_end=0.012, clip_sample=False, steps_offset=1
        ),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)


def tiny_motion_adapter(seed: int = 0):
    """An AnimateDiff-v3-like motion adapter at toy widths (no motion mid block)."""
    from diffusers import MotionAdapter

    torch.manual_seed(seed)
    adapter = MotionAdapter(
        block_out_channels=TINY_WIDTHS,
        motion_layers_per_block=2,
        motion_norm_num_groups=TINY_NORM_GROUPS,
        motion_num_attention_heads=8,
        motion_max_seq_length=32,
        use_motion_mid_block=False,
    )
    # diffusers zero-initialises the motion modules' output projections, which would make
    # them no-ops; give them small random weights so motion (and motion LoRAs) matter.
    with torch.no_grad():
        for name, param in adapter.named_parameters():
            if "proj_out" in name:
                param.normal_(0.0, 0.02)
    return adapter


def build_tiny_motion_adapter(folder: Path) -> None:
    tiny_motion_adapter(seed=3).save_pretrained(Path(folder), safe_serialization=True)


def build_tiny_ip_adapter(folder: Path, seed: int = 4) -> None:
    """The ``h94/IP-Adapter`` layout for the tiny SD1.5 UNet: ``models/ip-adapter_sd15.safetensors``
    in the official keys (``image_proj.*``, ``ip_adapter.N.to_k_ip`` / ``to_v_ip``) and a tiny CLIP
    image encoder in ``models/image_encoder``."""
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from .ip_adapter import IMAGE_ENCODER, SUBFOLDER, WEIGHT_NAMES

    folder = Path(folder) / SUBFOLDER
    unet = tiny_unet_2d()
    torch.manual_seed(seed)
    embed_dim, tokens = 16, 4  # the SD1.5 IP-Adapter turns the image embedding into 4 prompt-like tokens
    config = CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                              image_size=32, patch_size=8, projection_dim=embed_dim)
    CLIPVisionModelWithProjection(config).save_pretrained(folder / IMAGE_ENCODER)
    tensors = {
        "image_proj.proj.weight": torch.randn(tokens * TINY_TEXT_DIM, embed_dim) / embed_dim**0.5,
        "image_proj.proj.bias": torch.zeros(tokens * TINY_TEXT_DIM),
        "image_proj.norm.weight": torch.ones(TINY_TEXT_DIM),
        "image_proj.norm.bias": torch.zeros(TINY_TEXT_DIM),
    }
    # Numbered as diffusers' converter reads them: 1, 3, 5, ... over the UNet's processors in
    # order, counting cross-attention (attn2) only.
    cross_attention = [name for name in unet.attn_processors if not name.endswith("attn1.processor")]
    for index, name in enumerate(cross_attention):
        to_k = unet.get_submodule(name.removesuffix(".processor")).to_k
        for part in ("to_k_ip", "to_v_ip"):
            tensors[f"ip_adapter.{2 * index + 1}.{part}.weight"] = torch.randn_like(to_k.weight) / to_k.in_features**0.5
    save_file(tensors, folder / WEIGHT_NAMES[0])
