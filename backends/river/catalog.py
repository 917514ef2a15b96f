"""What RIVER models there are, without loading any: the embedded one, the four releases (where
they live on the Hub, the `model:` block each was trained with) and folders our trainer wrote.
Light to import (no torch): the page lists models at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

TRAINED_MODELS = "river_models"  # under the outputs folder: models trained in the app

EMBEDDED_DIR = Path(__file__).resolve().parents[2] / "assets" / "river_bouncing_balls"
CONFIG_NAME = "config.yaml"
WEIGHT_NAMES = ("model.safetensors", "model.pth")

_VECTOR_FIELD = {"state_size": 4, "state_res": [8, 8], "inner_dim": 768, "depth": 4, "mid_depth": 5, "out_norm": "ln"}


@dataclass(frozen=True)
class RiverRelease:
    """A released checkpoint: where it lives on the Hub and the `model:` block it was trained with."""

    name: str
    repo_id: str
    autoencoder_file: str
    image_size: int
    model_config: dict
    condition_frames: int
    frames_to_generate: int
    model_file: str = "model.pth"
    files: tuple[str, ...] = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "files", (self.model_file, self.autoencoder_file))


RELEASES: dict[str, RiverRelease] = {
    release.name: release
    for release in [
        RiverRelease(
            "bair_64", "cvg-unibe/river_bair_64", "vqvae.ckpt", 64,
            {"sigma": 1e-7, "vector_field_regressor": dict(_VECTOR_FIELD),
             "autoencoder": {"type": "ldm-vq", "config": "f8_small"}},
            condition_frames=1, frames_to_generate=15,
        ),
        RiverRelease(
            "bair_256", "cvg-unibe/river_bair_256", "vqvae.ckpt", 256,
            {"sigma": 1e-7, "vector_field_regressor": {**_VECTOR_FIELD, "state_size": 8, "state_res": [16, 16], "out_norm": "bn"},
             "autoencoder": {"type": "ldm-vq", "config": "f16"}},
            condition_frames=1, frames_to_generate=15,
        ),
        RiverRelease(
            "kth_64", "cvg-unibe/river_kth_64", "vqvae.ckpt", 64,
            {"sigma": 1e-7, "vector_field_regressor": dict(_VECTOR_FIELD),
             "autoencoder": {"type": "ldm-vq", "config": "f8_small"}},
            condition_frames=10, frames_to_generate=30,
        ),
        RiverRelease(
            "clevrer_128", "cvg-unibe/river_clevrer_128", "vqvae.pth", 128,
            {"sigma": 1e-7, "vector_field_regressor": {**_VECTOR_FIELD, "state_res": [16, 16]},
             "autoencoder": {"type": "ours", "encoder": {"in_channels": 3, "out_channels": 4},
                             "vector_quantizer": {"num_embeddings": 8192, "embedding_dimension": 4},
                             "decoder": {"in_channels": 4, "out_channels": 3}}},
            condition_frames=2, frames_to_generate=14,
        ),
    ]
}


@dataclass(frozen=True)
class ModelEntry:
    """One choice for the model picker: `kind` is "embedded", "release" or "local"."""

    name: str
    kind: str
    location: str  # folder for embedded/local models, Hub repo id for releases


def list_models(local_roots: list[str | Path] = ()) -> list[ModelEntry]:
    """The embedded model, the four releases, then every trained folder under ``local_roots``."""
    entries = [ModelEntry("bouncing_balls", "embedded", str(EMBEDDED_DIR))]
    entries += [ModelEntry(f"river_{r.name}", "release", r.repo_id) for r in RELEASES.values()]
    for root in local_roots:
        for config_path in sorted(Path(root).glob(f"*/{CONFIG_NAME}")):
            if any((config_path.parent / name).is_file() for name in WEIGHT_NAMES):
                entries.append(ModelEntry(config_path.parent.name, "local", str(config_path.parent)))
    return entries




def available_models(runtime) -> list[ModelEntry]:
    """The embedded model, the four releases, and models trained here (under the outputs folder)."""
    return list_models([runtime.outputs.root / TRAINED_MODELS])
