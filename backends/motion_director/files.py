"""The LoRA files a MotionDirector run writes, in the layouts the ecosystem loads, and readers.

- ``NAME_temporal.safetensors``: the official AnimateDiff MotionLoRA layout (guoyww), read by the
  original AnimateDiff and ComfyUI-AnimateDiff-Evolved. Those loaders patch ``up @ down`` times the
  user's strength and ignore alpha and rank, so the LoRA scale is baked into ``up``. Attention
  projections only (q/k/v/out): the layout has no feed-forward keys.
- ``NAME_temporal_diffusers.safetensors``: the same LoRA (feed-forward layers included) in the
  PEFT layout ``AnimateDiffPipeline.load_lora_weights`` reads (``unet.<module>.lora_A.weight``).
- ``NAME_spatial.safetensors``: kohya names (``lora_unet_<module path with _>``) with ``.alpha``
  and kohya's ``ss_*`` training metadata, read by diffusers, A1111/Forge and ComfyUI.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

import torch

from .settings import file_names  # noqa: F401 (where the writers put each file)
from safetensors import safe_open
from safetensors.torch import save_file

from .lora import LoraLayerWeights

MOTION_MODULE = re.compile(r"^((?:down|up)_blocks\.\d+\.motion_modules\.\d+)\.transformer_blocks\.(\d+)\.attn([12])\."
                           r"(to_q|to_k|to_v|to_out\.0)$")
OFFICIAL_KEY = re.compile(r"^(?:down|up)_blocks\.\d+\.motion_modules\.\d+\.temporal_transformer\.transformer_blocks\.0\."
                          r"attention_blocks\.[01]\.processor\.(?:to_q|to_k|to_v|to_out)_lora\.(?:down|up)\.weight$")
KOHYA_PREFIX = "lora_unet_"


def old_style_module_key(key: str) -> str:
    """The model weight an old-style (attention-processor) LoRA key patches, derived the way
    AnimateDiff's ``convert_motion_lora_ckpt_to_diffusers`` and ComfyUI-ADE's
    ``load_motion_lora_as_patches`` do: drop ``processor.``, ``_lora``, ``down.``, ``up.``;
    ``to_out.`` becomes ``to_out.0.``."""
    key = key.replace("processor.", "").replace("_lora", "").replace("down.", "").replace("up.", "")
    return key.replace("to_out.", "to_out.0.")


def official_motion_key(module: str) -> str | None:
    """``down_blocks.0.motion_modules.0.transformer_blocks.0.attn1.to_q`` -> the official MotionLoRA
    key stem ``...temporal_transformer.transformer_blocks.0.attention_blocks.0.processor.to_q_lora``;
    None for layers the layout cannot hold (feed-forward)."""
    match = MOTION_MODULE.match(module)
    if not match:
        return None
    prefix, block, attention, projection = match.groups()
    projection = projection.removesuffix(".0")
    return (f"{prefix}.temporal_transformer.transformer_blocks.{block}.attention_blocks.{int(attention) - 1}"
            f".processor.{projection}_lora")


def kohya_name(module: str) -> str:
    return KOHYA_PREFIX + module.replace(".", "_")


def _strings(metadata: Mapping[str, object]) -> dict[str, str]:
    return {key: str(value) for key, value in metadata.items()}


def motion_lora_tensors(weights: Mapping[str, LoraLayerWeights]) -> dict[str, torch.Tensor]:
    tensors = {}
    for module, layer in weights.items():
        stem = official_motion_key(module)
        if stem is not None:
            tensors[f"{stem}.down.weight"] = layer.down.contiguous()
            tensors[f"{stem}.up.weight"] = layer.baked_up().contiguous()
    return tensors


def diffusers_tensors(weights: Mapping[str, LoraLayerWeights]) -> dict[str, torch.Tensor]:
    tensors = {}
    for module, layer in weights.items():
        tensors[f"unet.{module}.lora_A.weight"] = layer.down.contiguous()
        tensors[f"unet.{module}.lora_B.weight"] = layer.baked_up().contiguous()
    return tensors


def kohya_tensors(weights: Mapping[str, LoraLayerWeights]) -> dict[str, torch.Tensor]:
    """kohya keys; alpha = rank, so kohya's ``alpha / rank`` factor is 1 and ``up`` holds the scale."""
    tensors = {}
    for module, layer in weights.items():
        name = kohya_name(module)
        tensors[f"{name}.lora_down.weight"] = layer.down.contiguous()
        tensors[f"{name}.lora_up.weight"] = layer.baked_up().contiguous()
        tensors[f"{name}.alpha"] = torch.tensor(float(layer.rank))
    return tensors


def kohya_metadata(rank: int, steps: int, resolution: tuple[int, int], base_model: str, name: str,
                   prompt: str, learning_rate: float) -> dict[str, str]:
    """The ``ss_*`` header entries kohya's sd-scripts write, which LoRA browsers read."""
    return _strings({
        "ss_network_module": "networks.lora", "ss_network_dim": rank, "ss_network_alpha": float(rank),
        "ss_base_model_version": "sd_v1", "ss_v2": "False", "ss_sd_model_name": base_model,
        "ss_output_name": name, "ss_steps": steps, "ss_max_train_steps": steps,
        "ss_resolution": f"({resolution[0]}, {resolution[1]})", "ss_learning_rate": learning_rate,
        "ss_unet_lr": learning_rate, "ss_training_comment": f"MotionDirector spatial LoRA: {prompt}",
        "ss_network_args": '{"module": "MotionDirector spatial (appearance) LoRA"}',
    })


def write_lora_files(folder: Path, name: str, spatial: Mapping[str, LoraLayerWeights],
                     temporal: Mapping[str, LoraLayerWeights], metadata: Mapping[str, object],
                     spatial_metadata: Mapping[str, str]) -> dict[str, Path]:
    """Write the three LoRA files (atomically each) and return their paths by kind."""
    folder.mkdir(parents=True, exist_ok=True)
    names = file_names(name)
    header = _strings({**metadata, "format": "pt"})
    contents = {
        "temporal": (motion_lora_tensors(temporal), {**header, "layout": "animatediff-motion-lora"}),
        "temporal_diffusers": (diffusers_tensors(temporal), {**header, "layout": "diffusers-peft"}),
        "spatial": (kohya_tensors(spatial), {**header, **spatial_metadata, "layout": "kohya"}),
    }
    paths = {}
    for kind, (tensors, file_metadata) in contents.items():
        path = folder / names[kind]
        temporary = path.with_name(path.name + ".tmp")
        save_file(tensors, temporary, metadata=file_metadata)
        temporary.replace(path)
        paths[kind] = path
    return paths


def read_metadata(path: str | Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata() or {})


def read_motion_lora(tensors: Mapping[str, torch.Tensor]) -> dict[str, LoraLayerWeights]:
    """Official MotionLoRA tensors -> weight key of the patched layer -> (down, up), scale 1."""
    return {old_style_module_key(key): LoraLayerWeights(down, tensors[key.replace(".down.", ".up.")], 1.0)
            for key, down in tensors.items() if ".down." in key}


def read_diffusers(tensors: Mapping[str, torch.Tensor]) -> dict[str, LoraLayerWeights]:
    return {key.removeprefix("unet.").removesuffix(".lora_A.weight"):
            LoraLayerWeights(down, tensors[key.replace(".lora_A.", ".lora_B.")], 1.0)
            for key, down in tensors.items() if key.endswith(".lora_A.weight")}


def read_kohya(tensors: Mapping[str, torch.Tensor]) -> dict[str, LoraLayerWeights]:
    """kohya tensors -> kohya layer name -> (down, up) at scale alpha / rank."""
    found = {}
    for key, down in tensors.items():
        if key.endswith(".lora_down.weight"):
            stem = key.removesuffix(".lora_down.weight")
            alpha = tensors.get(f"{stem}.alpha")
            scale = float(alpha) / down.shape[0] if alpha is not None else 1.0
            found[stem] = LoraLayerWeights(down, tensors[f"{stem}.lora_up.weight"], scale)
    return found


def save_trained_loras(folder: Path, name: str, weights: Mapping[str, Mapping[str, LoraLayerWeights]], *,
                       steps: int, resolution: tuple[int, int], base_model: str, motion_module: str, prompt: str,
                       lr_spatial: float) -> dict[str, Path]:
    """The three files of a run from its adapters' weights (``{"spatial": ..., "temporal": ...}``)."""
    spatial, temporal = weights["spatial"], weights["temporal"]
    rank = next(iter(temporal.values())).rank
    metadata = {"base_model": base_model, "motion_module": motion_module, "rank": rank, "steps": steps,
                "prompt": prompt, "trainer": "Flow Studio MotionDirector"}
    return write_lora_files(folder, name, spatial, temporal, metadata,
                            kohya_metadata(rank, steps, resolution, base_model, name, prompt, lr_spatial))
