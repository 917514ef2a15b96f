"""Checkpoints built from the official manifests load strictly into the full-size models (meta device)."""

import json

import pytest
import torch

from backends.core.checkpoints import CheckpointError
from backends.pyramid_flow.causal_vae import CausalVaeConfig, CausalVideoVAE
from backends.pyramid_flow.loading import build_on_meta, dit_class, load_strict
from backends.pyramid_flow.mmdit import complete_state_dict

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
MANIFESTS = {
    "manifest_miniflux_dit.json": lambda config: build_on_meta(dit_class("miniflux")[1], dit_class("miniflux")[0].from_dict(config)),
    "manifest_sd3_dit.json": lambda config: build_on_meta(dit_class("sd3")[1], dit_class("sd3")[0].from_dict(config)),
    "manifest_causal_vae.json": lambda config: build_on_meta(CausalVideoVAE, CausalVaeConfig.from_dict(config)),
}


def manifest_checkpoint(path):
    entries = json.loads(path.read_text())
    meta = entries.pop("__metadata__")
    state = {k: torch.empty(shape, dtype=DTYPES[dtype], device="meta") for k, (shape, dtype) in entries.items()}
    return meta, state


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_pyramid_flow_manifest_loads_strictly_into_the_full_size_model(pyramid_reference, name):
    meta, state = manifest_checkpoint(pyramid_reference / name)
    model = MANIFESTS[name](meta["config_used"])
    load_strict(model, state, name, torch.bfloat16, device="meta")
    assert sum(p.numel() for p in model.state_dict().values()) == meta["num_params"]
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_pyramid_flow_missing_or_extra_key_is_named(pyramid_reference, name):
    meta, state = manifest_checkpoint(pyramid_reference / name)
    dropped = sorted(state)[len(state) // 2]
    missing = {k: v for k, v in state.items() if k != dropped}
    with pytest.raises(CheckpointError, match=dropped.replace(".", r"\.")):
        load_strict(MANIFESTS[name](meta["config_used"]), missing, name, None, device="meta")
    extra = {**state, "transformer_blocks.99.extra.weight": torch.empty(1, device="meta")}
    with pytest.raises(CheckpointError, match=r"transformer_blocks\.99\.extra\.weight"):
        load_strict(MANIFESTS[name](meta["config_used"]), extra, name, None, device="meta")


def test_sd3_checkpoint_without_the_sincos_buffer_gets_it_recomputed(pyramid_reference):
    meta, state = manifest_checkpoint(pyramid_reference / "manifest_sd3_dit.json")
    model = MANIFESTS["manifest_sd3_dit.json"](meta["config_used"])
    state.pop("pos_embed.pos_embed")
    completed = complete_state_dict(model, state)
    assert completed["pos_embed.pos_embed"].shape == (1, meta["config_used"]["pos_embed_max_size"] ** 2, model.config.inner_dim)
