"""Where MotionDirector's LoRAs go in diffusers' ``UNetMotionModel``, placed with peft.

Two adapters on disjoint layers: ``spatial`` in the spatial transformers (appearance) and
``temporal`` in the motion modules' transformers (motion). Each path of the training step sets
both adapters' scales and which of them trains. LoRA form: ``W x + dropout(up(down(x))) * scale``
with ``down ~ N(0, 1/r)``, ``up = 0`` and no alpha (peft ``lora_alpha = r``, so scale 1).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

SPATIAL, TEMPORAL = "spatial", "temporal"
ATTENTION_PROJECTIONS = r"(attn1|attn2)\.(to_q|to_k|to_v|to_out\.0)"
FEED_FORWARD = r"ff\.net\.(0\.proj|2)"
# peft matches a string ``target_modules`` as a regex against the whole module name.
SPATIAL_TARGETS = (rf".*attentions\.\d+\.(transformer_blocks\.\d+\.({ATTENTION_PROJECTIONS}|{FEED_FORWARD})"
                   r"|proj_in|proj_out)")


def temporal_targets(feed_forward: bool) -> str:
    layers = f"({ATTENTION_PROJECTIONS}|{FEED_FORWARD})" if feed_forward else ATTENTION_PROJECTIONS
    return rf".*motion_modules\.\d+\.transformer_blocks\.\d+\.{layers}"


@dataclass(frozen=True)
class LoraLayerWeights:
    """One layer's LoRA: ``down`` [r, in(, 1, 1)], ``up`` [out, r(, 1, 1)] and its scale."""

    down: torch.Tensor
    up: torch.Tensor
    scale: float

    @property
    def rank(self) -> int:
        return self.down.shape[0]

    def baked_up(self) -> torch.Tensor:
        """``up * scale``: what loaders that ignore alpha and rank (ComfyUI, AnimateDiff) need."""
        return self.up * self.scale


def add_motion_director_loras(unet, rank: int, dropout: float, temporal_feed_forward: bool = True) -> None:
    """Freeze ``unet`` and add the spatial and temporal LoRA adapters, both active, in fp32."""
    from peft import LoraConfig

    unet.requires_grad_(False)
    for name, targets in ((SPATIAL, SPATIAL_TARGETS), (TEMPORAL, temporal_targets(temporal_feed_forward))):
        config = LoraConfig(r=rank, lora_alpha=rank, lora_dropout=dropout, init_lora_weights="gaussian",
                            target_modules=targets)
        with warnings.catch_warnings():  # peft warns that a second adapter is a second adapter: it is meant
            warnings.filterwarnings("ignore", message="Already found a `peft_config`")
            unet.add_adapter(config, adapter_name=name)
    unet.set_adapter([SPATIAL, TEMPORAL])
    for parameter in lora_parameters(unet, SPATIAL) + lora_parameters(unet, TEMPORAL):
        parameter.data = parameter.data.float()


def lora_layers(unet):
    """(module name, peft LoRA layer) pairs, in module order."""
    from peft.tuners.lora import LoraLayer

    return [(name, module) for name, module in unet.named_modules() if isinstance(module, LoraLayer)]


def lora_parameters(unet, adapter: str) -> list[torch.nn.Parameter]:
    params = []
    for _, layer in lora_layers(unet):
        if adapter in layer.lora_A:
            params += [layer.lora_A[adapter].weight, layer.lora_B[adapter].weight]
    return params


def set_path(unet, spatial_scale: float, temporal_scale: float, train: str | None) -> None:
    """Scales of both adapters for the next forward pass, and which adapter (if any) trains."""
    scales = {SPATIAL: spatial_scale, TEMPORAL: temporal_scale}
    for _, layer in lora_layers(unet):
        for adapter, scale in scales.items():
            if adapter in layer.lora_A:
                layer.set_scale(adapter, scale)
    for adapter in scales:
        for parameter in lora_parameters(unet, adapter):
            parameter.requires_grad_(adapter == train)


def read_adapter(unet, adapter: str) -> dict[str, LoraLayerWeights]:
    """Module name -> the adapter's weights at scale 1 (detached fp32 copies)."""
    found = {}
    for name, layer in lora_layers(unet):
        if adapter in layer.lora_A:
            found[name] = LoraLayerWeights(layer.lora_A[adapter].weight.detach().float().cpu().clone(),
                                           layer.lora_B[adapter].weight.detach().float().cpu().clone(),
                                           layer.lora_alpha[adapter] / layer.r[adapter])
    return found


def write_adapter(unet, adapter: str, weights: dict[str, LoraLayerWeights]) -> None:
    """Put saved weights back into the adapter (resume); every layer must be there."""
    layers = {name: layer for name, layer in lora_layers(unet) if adapter in layer.lora_A}
    if set(layers) != set(weights):
        missing, extra = sorted(set(layers) - set(weights)), sorted(set(weights) - set(layers))
        raise ValueError(f"the saved {adapter} LoRA does not fit this model (missing {missing[:3]}, extra {extra[:3]})")
    with torch.no_grad():
        for name, layer in layers.items():
            layer.lora_A[adapter].weight.copy_(weights[name].down)
            layer.lora_B[adapter].weight.copy_(weights[name].up)


def merge_old_style_lora(unet, state_dict: dict[str, torch.Tensor], strength: float = 1.0) -> int:
    """Add ``strength * up @ down`` into the base weights for every ``...processor.to_q_lora.down.weight``
    pair (the layout of AnimateDiff's v3 domain adapter, ``v3_sd15_adapter.ckpt``); the module
    is found the way AnimateDiff's own loader finds it. Returns how many layers were merged."""
    from .files import old_style_module_key

    merged = 0
    with torch.no_grad():
        for key, down in state_dict.items():
            if ".down." not in key:
                continue
            up = state_dict[key.replace(".down.", ".up.")]
            module = unet.get_submodule(old_style_module_key(key).removeprefix("unet.").removesuffix(".weight"))
            delta = (up.float().flatten(1) @ down.float().flatten(1)).reshape(module.weight.shape)
            module.weight += (strength * delta).to(module.weight.dtype)
            merged += 1
    return merged
