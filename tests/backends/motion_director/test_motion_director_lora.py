"""LoRA placement, and which weights each path of the training step touches."""

import contextlib

import torch

from backends.motion_director.lora import (SPATIAL, TEMPORAL, add_motion_director_loras, lora_layers,
                                           merge_old_style_lora, read_adapter, set_path)
from backends.motion_director.trainer import StepDraws, spatial_step, temporal_step, training_step

from .conftest import make_trainer

NO_SCALER = torch.amp.GradScaler("cuda", enabled=False)


def test_loras_sit_on_the_layers_motiondirector_trains(make_models):
    unet = make_models().unet
    add_motion_director_loras(unet, rank=4, dropout=0.1, temporal_feed_forward=True)
    spatial, temporal = read_adapter(unet, SPATIAL), read_adapter(unet, TEMPORAL)
    assert spatial and temporal and not set(spatial) & set(temporal)
    assert all("motion_modules" not in name and ".attentions." in name for name in spatial)
    assert all("motion_modules" in name and ".transformer_blocks." in name for name in temporal)
    assert not any(name.endswith(("proj_in", "proj_out")) for name in temporal)
    spatial_kinds = {name.split("transformer_blocks.0.")[-1].split(".attentions.")[-1] for name in spatial}
    assert {"attn1.to_q", "attn2.to_k", "attn1.to_out.0", "ff.net.0.proj", "ff.net.2"} <= spatial_kinds
    assert any(name.endswith("proj_in") for name in spatial) and any(name.endswith("proj_out") for name in spatial)
    assert any(name.endswith("ff.net.2") for name in temporal)
    layer = read_adapter(unet, TEMPORAL)[next(iter(temporal))]
    assert layer.rank == 4 and layer.scale == 1.0 and torch.all(layer.up == 0)
    assert abs(layer.down.std().item() - 1 / 4) < 0.1  # down ~ N(0, 1/r)


def test_temporal_feed_forward_can_be_left_out(make_models):
    unet = make_models(domain_adapter=False).unet
    add_motion_director_loras(unet, rank=2, dropout=0.0, temporal_feed_forward=False)
    assert not any("ff.net" in name for name in read_adapter(unet, TEMPORAL))


def test_domain_adapter_merge_changes_exactly_the_layers_it_names(make_models):
    with_adapter, without = make_models(True).unet, make_models(False).unet
    changed = {name for (name, a), (_, b) in zip(with_adapter.named_parameters(), without.named_parameters())
               if not torch.equal(a, b)}
    assert changed and all(".attentions." in name and ".attn" in name and name.endswith("weight") for name in changed)
    assert merge_old_style_lora(without, {}) == 0


def snapshot(unet):
    return {name: p.detach().clone() for name, p in unet.named_parameters() if "lora_" in name}


def changed_adapters(before, unet) -> set[str]:
    after = snapshot(unet)
    return {SPATIAL if f".{SPATIAL}." in name else TEMPORAL for name in before if not torch.equal(before[name], after[name])}


def draws_for(clip, skip=False):
    generator = torch.Generator().manual_seed(3)
    return StepDraws(torch.randn(clip.latents.shape, generator=generator), torch.tensor([500]), 2, 1, skip)


def test_each_path_updates_only_its_own_lora_and_the_spatial_path_sees_one_frame(make_models, tiny_clip, tmp_path):
    trainer = make_trainer(make_models(), tiny_clip, tmp_path, [])
    unet, clip = trainer.models.unet, trainer.clips[0]
    draws = draws_for(clip)
    noisy = trainer.models.noise_scheduler.add_noise(clip.latents, draws.noise, draws.timestep)
    # the temporal path first, so that the spatial LoRA's up weights are no longer zero for the check below
    frames_seen = []
    hook = unet.register_forward_pre_hook(lambda module, args: frames_seen.append(args[0].shape[2]))
    before = snapshot(unet)
    temporal_step(unet, clip, noisy, draws, trainer.optimizers[TEMPORAL], NO_SCALER, contextlib.nullcontext, 1.0)
    assert changed_adapters(before, unet) == {TEMPORAL}
    before = snapshot(unet)
    spatial_step(unet, clip, noisy, draws, trainer.optimizers[SPATIAL], NO_SCALER, contextlib.nullcontext)
    assert changed_adapters(before, unet) == {SPATIAL}
    hook.remove()
    assert frames_seen == [clip.latents.shape[2], 1]


def test_set_path_scales_and_freezes_adapters(make_models):
    unet = make_models(False).unet
    add_motion_director_loras(unet, rank=2, dropout=0.0)
    set_path(unet, spatial_scale=0.5, temporal_scale=0.0, train=SPATIAL)
    for name, layer in lora_layers(unet):
        adapter = SPATIAL if SPATIAL in layer.lora_A else TEMPORAL
        assert layer.scaling[adapter] == (0.5 if adapter == SPATIAL else 0.0)
        assert layer.lora_A[adapter].weight.requires_grad == (adapter == SPATIAL)


def test_repeated_steps_on_one_draw_lower_both_losses(make_models, tiny_clip, tmp_path):
    trainer = make_trainer(make_models(), tiny_clip, tmp_path, [])
    clip = trainer.clips[0]
    draws = draws_for(clip)
    losses = [training_step(trainer.models.unet, clip, draws, trainer.models.noise_scheduler, trainer.optimizers,
                            NO_SCALER, contextlib.nullcontext, 1.0) for _ in range(5)]
    for series in ("spatial", "temporal", "debiased"):
        assert losses[-1][series] < losses[0][series], (series, losses)


def test_a_skipped_spatial_path_trains_the_temporal_lora_alone(make_models, tiny_clip, tmp_path):
    trainer = make_trainer(make_models(), tiny_clip, tmp_path, [])
    clip, unet = trainer.clips[0], trainer.models.unet
    before = snapshot(unet)
    losses = training_step(unet, clip, draws_for(clip, skip=True), trainer.models.noise_scheduler, trainer.optimizers,
                           NO_SCALER, contextlib.nullcontext, 1.0)
    assert losses["spatial"] is None and changed_adapters(before, unet) == {TEMPORAL}
