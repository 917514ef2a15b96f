"""A tiny stand-in for AnimateDiff v3's domain adapter (``v3_sd15_adapter.ckpt``) for the tiny
SD1.5 UNet: old-style attention-processor LoRA keys on the spatial attention layers."""

from __future__ import annotations

from pathlib import Path

import torch

from ..core.tiny_models import tiny_unet_2d

DOMAIN_ADAPTER_FILE = "v3_sd15_adapter.ckpt"


def build_tiny_domain_adapter(folder: Path, rank: int = 4, seed: int = 5) -> None:
    unet = tiny_unet_2d()
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, module in unet.named_modules():
        if ".attentions." not in name or not name.endswith(("to_q", "to_k", "to_v", "to_out.0")):
            continue
        stem = name.rsplit(".", 1)[0] if name.endswith("to_out.0") else name
        stem = f"{stem.rsplit('.', 1)[0]}.processor.{stem.rsplit('.', 1)[1]}_lora"
        out_features, in_features = module.weight.shape
        tensors[f"{stem}.down.weight"] = torch.randn(rank, in_features, generator=generator) / in_features**0.5
        tensors[f"{stem}.up.weight"] = torch.randn(out_features, rank, generator=generator) * 0.05
    Path(folder).mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": tensors}, Path(folder) / DOMAIN_ADAPTER_FILE)
