"""A tiny random-weight ``rain1011/pyramid-flow-miniflux`` folder (demo mode, tests, the benchmark).

Same layout and file formats as the Hub repo: ``diffusion_transformer_384p/`` and ``_768p/``
(config.json + safetensors), ``causal_video_vae/`` (config.json + the pickled ``.bin``),
``text_encoder/`` + ``tokenizer/`` (CLIP) and ``text_encoder_2/`` + ``tokenizer_2/`` (T5; the
tokenizer is the byte-level CLIP one of ``core.tiny_models``, loaded through AutoTokenizer).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import save_file

from backends.core.tiny_models import TINY_TEXT_DIM, build_clip_text_encoder, write_clip_tokenizer
from backends.pyramid_flow.causal_vae import CausalVaeConfig, CausalVideoVAE
from backends.pyramid_flow.loading import DIT_FOLDERS, VAE_FOLDER
from backends.pyramid_flow.miniflux_dit import MiniFluxConfig, PyramidFluxTransformer
from backends.pyramid_flow.mmdit import MMDiTConfig, PyramidDiffusionMMDiT

TINY_T5_DIM = 24
TINY_CLIP_PROJECTION = 8  # sd3: two CLIPs with projection, pooled = 2 x 8
TINY_LATENT = 4
TINY_VAE = CausalVaeConfig(
    encoder_out_channels=TINY_LATENT, encoder_layers_per_block=(1, 1, 1, 1), encoder_block_out_channels=(8, 16, 16, 16),
    encoder_norm_num_groups=4, decoder_in_channels=TINY_LATENT, decoder_layers_per_block=(1, 1, 1, 1),
    decoder_block_out_channels=(8, 16, 16, 16), decoder_norm_num_groups=4,
)


def tiny_dit_config(**overrides) -> MiniFluxConfig:
    values = dict(
        in_channels=4 * TINY_LATENT, num_layers=1, num_single_layers=1, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=TINY_T5_DIM, pooled_projection_dim=TINY_TEXT_DIM, axes_dims_rope=(4, 6, 6),
    )
    return MiniFluxConfig(**{**values, **overrides})


def randomize(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every parameter redrawn (the official init zeroes adaLN and output layers, which would make
    the demo's output constant): matrices N(0, 1/fan_in), norm weights near 1, biases small."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=generator)
            if p.dim() > 1:
                p.copy_(noise / p[0].numel() ** 0.5)
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * noise)
            else:
                p.copy_(0.05 * noise)
    return module.eval()


def _config_json(config, class_name: str) -> str:
    return json.dumps({"_class_name": class_name, **asdict(config)}, indent=2)


def tiny_sd3_config() -> MMDiTConfig:
    return MMDiTConfig(
        sample_size=16, in_channels=TINY_LATENT, num_layers=2, attention_head_dim=8, num_attention_heads=2,
        caption_projection_dim=16, pooled_projection_dim=2 * TINY_CLIP_PROJECTION, pos_embed_max_size=16,
        joint_attention_dim=TINY_T5_DIM,
    )


def write_dit(folder: Path, config, seed: int = 0) -> None:
    """config.json + weights: miniflux as safetensors, sd3 as the pickled ``.bin`` it ships as."""
    folder.mkdir(parents=True, exist_ok=True)
    sd3 = isinstance(config, MMDiTConfig)
    (folder / "config.json").write_text(_config_json(config, "PyramidDiffusionMMDiT" if sd3 else "PyramidFluxTransformer"))
    model = randomize((PyramidDiffusionMMDiT if sd3 else PyramidFluxTransformer)(config), seed)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if sd3:
        torch.save(state, folder / "diffusion_pytorch_model.bin")
    else:
        save_file(state, str(folder / "diffusion_pytorch_model.safetensors"))


def write_vae(folder: Path, config: CausalVaeConfig = TINY_VAE, seed: int = 1) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(_config_json(config, "CausalVideoVAE"))
    torch.save(randomize(CausalVideoVAE(config), seed).state_dict(), folder / "diffusion_pytorch_model.bin")


def build_tiny_t5(folder: Path, vocab_size: int, seed: int = 2) -> None:
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(seed)
    config = T5Config(vocab_size=vocab_size, d_model=TINY_T5_DIM, d_kv=8, d_ff=32, num_layers=1, num_heads=2)
    T5EncoderModel(config).save_pretrained(folder)


def build_tiny_clip_with_projection(folder: Path, vocab_size: int, seed: int) -> None:
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    config = CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=TINY_TEXT_DIM, intermediate_size=37, num_hidden_layers=1,
        num_attention_heads=4, max_position_embeddings=77, projection_dim=TINY_CLIP_PROJECTION,
        bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1, pad_token_id=vocab_size - 1,
    )
    CLIPTextModelWithProjection(config).save_pretrained(folder)


def _common(folder: Path, dit, tokenizers: int) -> int:
    for index, name in enumerate(DIT_FOLDERS.values()):
        write_dit(folder / name, dit, seed=index)
    write_vae(folder / VAE_FOLDER)
    for index in range(tokenizers):
        write_clip_tokenizer(folder / ("tokenizer" + (f"_{index + 1}" if index else "")))
    from transformers import AutoTokenizer

    return len(AutoTokenizer.from_pretrained(folder / "tokenizer"))


def build_tiny_pyramid_flow(folder: Path, dit: MiniFluxConfig | None = None) -> None:
    """The whole miniflux folder at toy size (both resolutions share one tiny DiT config)."""
    vocab = _common(Path(folder), dit or tiny_dit_config(), 2)
    build_clip_text_encoder(Path(folder) / "text_encoder", vocab)
    build_tiny_t5(Path(folder) / "text_encoder_2", vocab)


def build_tiny_pyramid_flow_sd3(folder: Path) -> None:
    """The sd3 folder at toy size: CLIP-L and CLIP-G stand-ins with projection, T5, the MMDiT as ``.bin``."""
    vocab = _common(Path(folder), tiny_sd3_config(), 3)
    for index, name in enumerate(("text_encoder", "text_encoder_2")):
        build_tiny_clip_with_projection(Path(folder) / name, vocab, seed=3 + index)
    build_tiny_t5(Path(folder) / "text_encoder_3", vocab)
