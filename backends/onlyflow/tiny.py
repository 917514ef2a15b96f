"""Tiny random OnlyFlow weights for the tiny SD1.5 + motion adapter (demo mode and tests),
written in the official container so they load through the real loader."""

from __future__ import annotations

from pathlib import Path

import torch

from ..core.tiny_models import tiny_motion_adapter, tiny_unet_2d
from .attention_processor import flow_processor_specs
from .checkpoint import HUB_FILE_FP16, OnlyFlowAdapter, encoder_config_for

def tiny_onlyflow_adapter(unet, seed: int = 0) -> OnlyFlowAdapter:
    """Random OnlyFlow weights for ``unet``. The official init zeroes ``qkv_merge`` (gamma would
    do nothing); small random values make gamma visible."""
    torch.manual_seed(seed)
    adapter = OnlyFlowAdapter(flow_processor_specs(unet), encoder_config_for(unet))
    with torch.no_grad():
        for processor in adapter.flow_processors:
            processor.qkv_merge.weight.normal_(0.0, 0.2 / processor.qkv_merge.in_features**0.5)
            processor.qkv_merge.bias.normal_(0.0, 0.05)
    return adapter.eval()


def build_tiny_onlyflow(folder: Path) -> None:
    """``weights_fp16.ckpt`` (official container, float16) for the tiny UNet of ``tiny_models``."""
    from diffusers import UNetMotionModel

    unet = UNetMotionModel.from_unet2d(tiny_unet_2d(), tiny_motion_adapter())
    container = tiny_onlyflow_adapter(unet).half().container()
    Path(folder).mkdir(parents=True, exist_ok=True)
    torch.save(container, Path(folder) / HUB_FILE_FP16)
