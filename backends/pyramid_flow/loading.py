"""Strict loading of the official Pyramid Flow folders (``rain1011/pyramid-flow-miniflux`` / ``-sd3``).

Each model folder holds ``config.json`` and ``diffusion_pytorch_model.safetensors`` (read first,
memory-mapped) or ``diffusion_pytorch_model.bin`` (``torch.load(weights_only=True)``). The model
is built on the ``meta`` device, every key is checked by name and shape (a missing or extra key
fails naming it), and the tensors are cast to the requested dtype as they are assigned, so an
fp32 file never sits in memory twice.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from backends.core.checkpoints import CheckpointError, load_checkpoint, load_state_dict_strict
from backends.pyramid_flow.causal_vae import CausalVaeConfig, CausalVideoVAE
from backends.pyramid_flow.miniflux_dit import MiniFluxConfig, PyramidFluxTransformer
from backends.pyramid_flow.mmdit import MMDiTConfig, PyramidDiffusionMMDiT, complete_state_dict

WEIGHT_NAMES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
VAE_FOLDER = "causal_video_vae"
DIT_FOLDERS = {"384p": "diffusion_transformer_384p", "768p": "diffusion_transformer_768p"}
DIT_CLASSES = {"miniflux": (MiniFluxConfig, PyramidFluxTransformer), "sd3": (MMDiTConfig, PyramidDiffusionMMDiT)}


def read_config(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path.parent.name}/{path.name} is missing")
    return json.loads(path.read_text())


def weights_file(folder: Path) -> Path:
    """The folder's weights: safetensors first, then the pickled ``.bin``."""
    for name in WEIGHT_NAMES:
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    raise CheckpointError(f"{Path(folder).name}/ holds neither {' nor '.join(WEIGHT_NAMES)}")


def build_on_meta(cls, config):
    with torch.device("meta"):
        return cls(config)


def load_strict(model: torch.nn.Module, state_dict: dict, what: str, dtype: torch.dtype | None, device="cpu"):
    """Assign ``state_dict`` to a meta-built ``model`` (checked key by key), cast to ``dtype``, on ``device``."""
    if dtype is not None:
        state_dict = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state_dict.items()}
    load_state_dict_strict(model, state_dict, what)
    return model.to(device).eval().requires_grad_(False)


def dit_class(variant: str):
    if variant not in DIT_CLASSES:
        raise ValueError(f"variant must be one of {sorted(DIT_CLASSES)}, got {variant!r}")
    return DIT_CLASSES[variant]


def load_dit_file(config_path: Path, weights_path: Path, variant: str = "miniflux", dtype=None, device="cpu"):
    config_cls, model_cls = dit_class(variant)
    model = build_on_meta(model_cls, config_cls.from_dict(read_config(config_path)))
    state = load_checkpoint(weights_path)
    return load_strict(model, complete_state_dict(model, state), f"{model_cls.__name__} ({Path(weights_path).name})", dtype, device)


def load_vae_file(config_path: Path, weights_path: Path, dtype=None, device="cpu"):
    model = build_on_meta(CausalVideoVAE, CausalVaeConfig.from_dict(read_config(config_path)))
    return load_strict(model, load_checkpoint(weights_path), f"CausalVideoVAE ({Path(weights_path).name})", dtype, device)


def load_dit(root: Path, variant: str, resolution: str, dtype=None, device="cpu"):
    """The DiT of ``resolution`` from a snapshot folder of the variant's Hub repo."""
    if resolution not in DIT_FOLDERS:
        raise ValueError(f"resolution must be one of {sorted(DIT_FOLDERS)}, got {resolution!r}")
    folder = Path(root) / DIT_FOLDERS[resolution]
    return load_dit_file(folder / "config.json", weights_file(folder), variant, dtype, device)


def load_vae(root: Path, dtype=None, device="cpu"):
    folder = Path(root) / VAE_FOLDER
    return load_vae_file(folder / "config.json", weights_file(folder), dtype, device)


def load_models(root: Path, variant: str, resolution: str, dtype=None, device="cpu", offload="none"):
    """DiT of ``resolution`` and the VAE of a snapshot folder, as ``pipeline.PyramidFlowModels``,
    placed on ``device`` with CPU ``offload`` (none | model | sequential)."""
    from backends.core.offload import Placement
    from backends.pyramid_flow.pipeline import PyramidFlowModels

    load_to = device if offload == "none" else "cpu"
    dit, vae = load_dit(root, variant, resolution, dtype, load_to), load_vae(root, dtype, load_to)
    return PyramidFlowModels(variant, dit, vae, Placement([dit, vae], device, offload))
