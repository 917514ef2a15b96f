"""RIVER's `Model`: a frozen VQ autoencoder (`ae.*`) and the vector-field regressor
(`vector_field_regressor.*`) that predicts the next frame's latent by flow matching.

Built from the `model:` block of the official YAML layout:
`sigma`, `vector_field_regressor: {state_size, state_res, inner_dim, depth, mid_depth, out_norm}`
(+ optional `dropout`, ours; the official models use 0.05)
and `autoencoder: {type: ldm-vq, config: f8_small|f16 [, ddconfig]}` or
`autoencoder: {type: ours, encoder, vector_quantizer, decoder}`.
"""

from __future__ import annotations

from pathlib import Path

import torch
import yaml
from torch import nn

from .ours_vqvae import OursAutoencoder
from .taming_vq import VQModel, taming_ddconfig
from .vector_field import VectorFieldRegressor

DEFAULT_SIGMA = 1e-7


def build_autoencoder(config: dict) -> nn.Module:
    """The autoencoder named by an `autoencoder:` block."""
    kind = config.get("type")
    if kind == "ldm-vq":
        return VQModel(taming_ddconfig(config.get("config", ""), config.get("ddconfig")))
    if kind == "ours":
        return OursAutoencoder(config["encoder"], config["vector_quantizer"], config["decoder"])
    raise ValueError(f"autoencoder type must be 'ldm-vq' or 'ours', got {kind!r}")


class Model(nn.Module):
    def __init__(self, config: dict):
        """``config`` is the `model:` block of the official YAML layout."""
        super().__init__()
        self.sigma = float(config.get("sigma", DEFAULT_SIGMA))
        self.ae = build_autoencoder(config["autoencoder"])
        self.vector_field_regressor = VectorFieldRegressor(**config["vector_field_regressor"])
        # The autoencoder is trained separately and never receives gradients here.
        self.ae.requires_grad_(False)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        regressor = self.vector_field_regressor
        return (regressor.state_size, *regressor.state_res)

    @property
    def image_size(self) -> tuple[int, int]:
        """The (height, width) of frames whose latents fit the regressor's `state_res`."""
        factor = self.ae.downsample_factor
        height, width = self.vector_field_regressor.state_res
        return height * factor, width * factor

    def train(self, mode: bool = True) -> "Model":
        super().train(mode)
        self.ae.eval()  # frozen: BatchNorm statistics and dropout stay in inference mode
        return self

    @torch.no_grad()
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames [..., 3, H, W] in [-1, 1] -> continuous (unquantised) latents [..., c, h, w]."""
        lead = frames.shape[:-3]
        latents = self.ae.encode(frames.reshape(-1, *frames.shape[-3:]))
        return latents.reshape(*lead, *latents.shape[1:])

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents [..., c, h, w] -> frames [..., 3, H, W] (quantised to the codebook first)."""
        lead = latents.shape[:-3]
        frames = self.ae.decode(latents.reshape(-1, *latents.shape[-3:]))
        return frames.reshape(*lead, *frames.shape[1:])


def load_config(path: str | Path) -> dict:
    """A full config in the official YAML layout (`model`, `training`, `data`, ...)."""
    with open(path, encoding="utf-8") as file:
        config = yaml.safe_load(file)
    if not isinstance(config, dict) or "model" not in config:
        raise ValueError(f"{path}: not a RIVER config (no top-level 'model' block)")
    return config
