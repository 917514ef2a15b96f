"""Tiny RIVER configurations and data for fast CPU tests."""

import pytest
import torch

from backends.river.bouncing_balls import BouncingBallsDataset

TINY_DDCONFIG = dict(
    embed_dim=4, n_embed=32, double_z=False, z_channels=4, resolution=16, in_channels=3, out_ch=3,
    ch=32, ch_mult=[1, 2], num_res_blocks=1, attn_resolutions=[], dropout=0.0,
)


def tiny_config(steps: int = 20) -> dict:
    """A full config in the official layout: 16x16 frames, 4 x 8 x 8 latents, a 2-layer regressor."""
    return {
        "model": {
            "sigma": 1e-7,
            "vector_field_regressor": {"state_size": 4, "state_res": [8, 8], "inner_dim": 32, "depth": 1,
                                       "mid_depth": 0, "out_norm": "ln"},
            "autoencoder": {"type": "ldm-vq", "config": "custom", "ddconfig": dict(TINY_DDCONFIG)},
        },
        "training": {
            "batching": {"batch_size": 4},
            "optimizer": {"learning_rate": 1e-3, "weight_decay": 5e-6, "num_warmup_steps": 2,
                          "num_training_steps": steps},
            "num_observations": 5,
            "condition_frames": 2,
        },
        "data": {"crop_size": 16},
    }


@pytest.fixture
def tiny_clips() -> torch.utils.data.Dataset:
    """Eight 5-frame bouncing-balls clips at 16x16."""
    return BouncingBallsDataset(8, 5, seed=11, size=16)
