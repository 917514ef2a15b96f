"""The released ConsistI2V UNet: ``TIGER-Lab/ConsistI2V/unet`` in the diffusers folder layout,
loaded strictly into our ``VideoLDMUNet3DConditionModel`` (the class ``model_index.json``
names is the official one; its code is never imported).

``unet/config.json`` builds the model; ``diffusion_pytorch_model.safetensors`` (or a ``.bin``
read with ``weights_only``) must hold exactly its keys and shapes: a missing, unexpected or
mis-shaped tensor raises ``CheckpointError`` naming it. On the meta device only the file's
header is read.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..core.checkpoints import CheckpointError, load_checkpoint, load_state_dict_strict
from .unet import VideoLDMUNet3DConditionModel

HUB_REPO = "TIGER-Lab/ConsistI2V"
UNET_SUBFOLDER = "unet"
CONFIG_NAME = "config.json"
KEEP_FLOAT32 = ".rotary_emb.freqs"
WEIGHT_NAMES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")


def unet_weights_file(folder: Path) -> Path:
    for name in WEIGHT_NAMES:
        if (folder / name).is_file():
            return folder / name
    raise CheckpointError(f"{folder} holds none of {', '.join(WEIGHT_NAMES)}")


def header_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Meta tensors with the keys, shapes and dtypes of a safetensors file (its data is not read)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return {
            key: torch.empty(handle.get_slice(key).get_shape(), dtype=_dtype(handle.get_slice(key).get_dtype()), device="meta")
            for key in handle.keys()
        }


def _dtype(name: str) -> torch.dtype:
    return {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32, "F64": torch.float64,
            "I64": torch.int64, "I32": torch.int32}[name]


def load_unet(folder: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype | None = None) -> VideoLDMUNet3DConditionModel:
    """The UNet of a ``unet/`` folder (``config.json`` + weights), strict, in eval mode.

    ``dtype=None`` keeps the file's dtype; the rotary frequencies stay float32 (as released). ``device="meta"`` checks keys and shapes only.
    """
    folder = Path(folder)
    config = json.loads((folder / CONFIG_NAME).read_text())
    with torch.device("meta"):
        unet = VideoLDMUNet3DConditionModel.from_unet_config(config)
    weights = unet_weights_file(folder)
    on_meta = torch.device(device).type == "meta"
    if on_meta and weights.suffix == ".safetensors":
        state = header_tensors(weights)
    else:
        state = load_checkpoint(weights, map_location="meta" if on_meta else "cpu")
    if dtype is not None:
        state = {key: tensor if key.endswith(KEEP_FLOAT32) else tensor.to(dtype) for key, tensor in state.items()}
    load_state_dict_strict(unet, state, f"ConsistI2V UNet ({weights.name})")
    return unet.to(device=device).eval()
