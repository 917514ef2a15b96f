"""Finding and loading RIVER models: the four released checkpoints, the embedded bouncing-balls
model, and folders written by our trainer.

Loading takes local paths only; resolving a Hub repo id to a local folder is the shared runtime's
job (`RELEASES[name].repo_id` and the file names say what to fetch).

Checkpoint containers handled:
* `model.pth` (official training checkpoint): `{"model", "optimizer", "lr_scheduler", "global_step"}`;
  keys with or without the DDP `module.` prefix; optimizer and scheduler are ignored here.
* `vqvae.ckpt` (taming, PyTorch Lightning): `state_dict` without prefix, plus `loss.*` keys of the
  perceptual/GAN loss that are dropped; read by the allow-listed unpickler, never executed.
* `vqvae.pth` (RIVER's own VQVAE): `{"model": state dict with "module." prefix}`.
* our `model.safetensors` / `autoencoder.pth` (plain or `{"model": ...}` state dicts).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import torch

from ..core.checkpoints import CheckpointError, load_checkpoint, load_state_dict_strict, select_prefix, strip_prefix
from .catalog import CONFIG_NAME, EMBEDDED_DIR, RELEASES, WEIGHT_NAMES, ModelEntry, RiverRelease, list_models  # noqa: F401
from .model import Model, load_config
from .ours_vqvae import OursAutoencoder
from .sampling import OFFICIAL_SAMPLER, SamplerSettings

def _tensor_dict(obj) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def _strip_ddp(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop a leading DDP `module.` (only at the start of a key, unlike the official replace)."""
    return strip_prefix(state, "module.")


def read_model_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The `Model` state dict (keys `ae.*`, `vector_field_regressor.*`) from any supported container."""
    obj = load_checkpoint(path)
    state = obj.get("model") if isinstance(obj, Mapping) and "model" in obj else obj
    if not _tensor_dict(state):
        raise CheckpointError(f"{Path(path).name}: no model state dict found (expected a 'model' entry of tensors)")
    return _strip_ddp(state)


def read_autoencoder_state(path: str | Path, autoencoder: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Autoencoder weights from a Lightning `vqvae.ckpt`, a `vqvae.pth`, our `autoencoder.pth`,
    a RIVER `model.pth` (its `ae.*` part) or a safetensors file, keyed for ``autoencoder``."""
    obj = load_checkpoint(path)
    if isinstance(obj, Mapping) and "state_dict" in obj:  # PyTorch Lightning
        state = obj["state_dict"]
    elif isinstance(obj, Mapping) and "model" in obj:
        state = obj["model"]
    else:
        state = obj
    if not _tensor_dict(state):
        raise CheckpointError(f"{Path(path).name}: no autoencoder state dict found")
    state = {k: v for k, v in _strip_ddp(state).items() if not k.startswith("loss.")}  # taming's LPIPS/GAN
    if any(k.startswith("ae.") for k in state):
        state = select_prefix(state, "ae.")
    if isinstance(autoencoder, OursAutoencoder) and not any(k.startswith("backbone.") for k in state):
        state = {f"backbone.{k}": v for k, v in state.items()}
    return state


def build_model(model_config: dict, device: str | torch.device = "meta") -> Model:
    """A `Model` from a `model:` block; on the meta device by default (no memory until loaded)."""
    with torch.device(device):
        return Model(copy.deepcopy(model_config))


def load_river_checkpoint(path: str | Path, config: dict, autoencoder_path: str | Path | None = None,
                          device: str | torch.device = "cpu") -> Model:
    """Load a RIVER checkpoint strictly into a model built from ``config`` (full config or `model:` block).

    The autoencoder weights come from the checkpoint itself when it holds `ae.*` keys (released
    `model.pth` files do, and they take precedence as in the official code), else from
    ``autoencoder_path``. Returns the model in eval mode on ``device``.
    """
    model_config = config.get("model", config)
    model = build_model(model_config)
    state = read_model_state(path)
    stray = [k for k in state if not k.startswith(("ae.", "vector_field_regressor."))]
    if stray:
        raise CheckpointError(f"{Path(path).name}: unexpected keys outside ae.* / vector_field_regressor.*: {sorted(stray)[:8]}")
    autoencoder_state = select_prefix(state, "ae.")
    if not autoencoder_state:
        if autoencoder_path is None:
            raise CheckpointError(f"{Path(path).name} holds no autoencoder weights; give the autoencoder file too")
        autoencoder_state = read_autoencoder_state(autoencoder_path, model.ae)
    load_state_dict_strict(model.ae, autoencoder_state, "RIVER autoencoder")
    load_state_dict_strict(model.vector_field_regressor, select_prefix(state, "vector_field_regressor."),
                           "RIVER vector field regressor")
    model.ae.requires_grad_(False)
    return model.to(device).eval()


def load_release(name: str, folder: str | Path, device: str | torch.device = "cpu") -> Model:
    """A released model from a local folder holding its `model.pth` (and, optionally, the AE file)."""
    if name not in RELEASES:
        raise ValueError(f"unknown RIVER release {name!r}; known: {sorted(RELEASES)}")
    release = RELEASES[name]
    folder = Path(folder)
    autoencoder = folder / release.autoencoder_file
    return load_river_checkpoint(folder / release.model_file, release.model_config,
                                 autoencoder if autoencoder.is_file() else None, device)


def load_model_folder(folder: str | Path, device: str | torch.device = "cpu") -> tuple[Model, dict]:
    """A folder with `config.yaml` (official layout) and `model.safetensors` or `model.pth`.

    Returns the model and the full config (its optional `sampling:` block names default sampler settings).
    """
    folder = Path(folder)
    config_path = folder / CONFIG_NAME
    if not config_path.is_file():
        raise CheckpointError(f"{folder}: no {CONFIG_NAME}")
    config = load_config(config_path)
    weights = next((folder / name for name in WEIGHT_NAMES if (folder / name).is_file()), None)
    if weights is None:
        raise CheckpointError(f"{folder}: no {' or '.join(WEIGHT_NAMES)}")
    autoencoder = next(iter(sorted(folder.glob("vqvae.*")) + sorted(folder.glob("autoencoder.pth"))), None)
    return load_river_checkpoint(weights, config, autoencoder, device), config


def load_embedded(device: str | torch.device = "cpu") -> tuple[Model, dict]:
    """The bouncing-balls model shipped in `assets/`: works offline on CPU."""
    return load_model_folder(EMBEDDED_DIR, device)


def default_sampler(config: dict) -> SamplerSettings:
    """A model's own default sampler (the `sampling:` block we add), else the official RK4-100."""
    return SamplerSettings(**config["sampling"]) if "sampling" in config else OFFICIAL_SAMPLER


def load_model(entry: ModelEntry, folder: str | Path | None = None,
               device: str | torch.device = "cpu") -> tuple[Model, SamplerSettings]:
    """Load any `list_models` entry; a release needs ``folder``, the local copy of its Hub repo."""
    if entry.kind == "release":
        if folder is None:
            raise ValueError(f"{entry.name}: download {entry.location} first and pass its folder")
        return load_release(entry.name.removeprefix("river_"), folder, device), OFFICIAL_SAMPLER
    model, config = load_model_folder(entry.location, device)
    return model, default_sampler(config)
