"""The tiny-model factory writes folders in the Hub layouts that diffusers loads as-is."""

import json

import torch
from diffusers import AnimateDiffPipeline, MotionAdapter
from transformers import CLIPTokenizer

from backends.core.tiny_models import TINY_WIDTHS


def test_tiny_sd15_folder_has_the_hub_layout(tiny_weights):
    folder = tiny_weights["stable-diffusion-v1-5/stable-diffusion-v1-5"]
    index = json.loads((folder / "model_index.json").read_text())
    assert {"unet", "vae", "text_encoder", "tokenizer", "scheduler"} <= set(index)
    assert (folder / "unet" / "diffusion_pytorch_model.safetensors").exists()
    unet_config = json.loads((folder / "unet" / "config.json").read_text())
    assert tuple(unet_config["block_out_channels"]) == TINY_WIDTHS
    assert unet_config["down_block_types"][-1] == "DownBlock2D"


def test_local_tokenizer_encodes_every_character(tiny_weights):
    tokenizer = CLIPTokenizer.from_pretrained(tiny_weights["stable-diffusion-v1-5/stable-diffusion-v1-5"] / "tokenizer")
    ids = tokenizer("a cat, 3 dogs!").input_ids
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.unk_token_id not in ids[1:-1] and len(ids) == len("a cat, 3 dogs!".replace(" ", "")) + 2


def test_builds_are_deterministic_and_load_into_animatediff(tiny_weights, tmp_path):
    from backends.core.tiny_models import build_tiny_motion_adapter

    build_tiny_motion_adapter(tmp_path)
    again = MotionAdapter.from_pretrained(tmp_path)
    original = MotionAdapter.from_pretrained(tiny_weights["guoyww/animatediff-motion-adapter-v1-5-3"])
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), original.state_dict().values()))
    pipe = AnimateDiffPipeline.from_pretrained(tiny_weights["stable-diffusion-v1-5/stable-diffusion-v1-5"], motion_adapter=original)
    assert pipe.unet.__class__.__name__ == "UNetMotionModel" and pipe.vae_scale_factor == 8
    assert any(n.endswith("proj_out.weight") and p.abs().sum() > 0 for n, p in pipe.unet.named_parameters() if "motion" in n)
