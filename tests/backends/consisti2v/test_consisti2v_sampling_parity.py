"""Pyoco noise, FrameInit and the 4-step guided DDIM loops against the official pipeline."""

import json

import pytest
import torch

from backends.consisti2v.sampling import (
    DDIM_CONFIG,
    FrameInitOptions,
    Guidance,
    ddim_scheduler,
    frame_init,
    generate_chunk,
    low_pass_filter,
    pyoco_mixed_noise,
)

from .conftest import max_difference

pytestmark = pytest.mark.parity

FRAMEINIT_TOLERANCE = 1e-5
LOOP_TOLERANCE = 1e-3


def test_scheduler_matches_the_official_inference_settings(consisti2v_reference, fixture_meta, reference_tensors):
    settings = json.loads((consisti2v_reference / "inference_settings.json").read_text())["scheduler"]
    for key, value in fixture_meta["scheduler"].items():
        assert DDIM_CONFIG[key] == value, key
    scheduler = ddim_scheduler()
    assert max_difference(scheduler.alphas_cumprod, reference_tensors("frameinit")["alphas_cumprod"]) == 0
    scheduler.set_timesteps(len(settings["timesteps_50"]))
    assert scheduler.timesteps.tolist() == settings["timesteps_50"]
    scheduler.set_timesteps(fixture_meta["loop_steps"])
    assert scheduler.timesteps.tolist() == reference_tensors("pipeline_loop")["timesteps"].tolist()


def test_pyoco_noise_draws_and_mixes_like_official(reference_tensors, fixture_meta):
    data = reference_tensors("frameinit")
    generator = torch.Generator().manual_seed(int(data["seed"]))
    noise = pyoco_mixed_noise(data["pyoco_noise"].shape, generator, fixture_meta["noise_alpha"])
    assert max_difference(noise, data["pyoco_noise"]) < FRAMEINIT_TOLERANCE
    # the draws themselves, in order
    generator.manual_seed(int(data["seed"]))
    assert torch.equal(torch.randn(data["pyoco_base_randn"].shape, generator=generator), data["pyoco_base_randn"])
    assert torch.equal(torch.randn(data["pyoco_ind_randn"].shape, generator=generator), data["pyoco_ind_randn"])


def test_frameinit_matches_official(reference_tensors, fixture_meta):
    data = reference_tensors("frameinit")
    noise, shape = data["pyoco_noise"], data["pyoco_noise"].shape
    low_pass = low_pass_filter("gaussian", *shape[2:])
    assert max_difference(low_pass, data["lpf"]) < FRAMEINIT_TOLERANCE
    static = data["first_frame_latent"][:, :, None].expand(shape)
    scheduler = ddim_scheduler()
    level = fixture_meta["frameinit_noise_level"]
    assert max_difference(scheduler.add_noise(static, noise, torch.tensor([level])), data["z_T"]) < FRAMEINIT_TOLERANCE
    ours = frame_init(static, noise, scheduler, level, low_pass)
    assert max_difference(ours, data["frameinit_latents"]) < FRAMEINIT_TOLERANCE


@pytest.mark.parametrize("mode", ["text", "both"])
def test_sampling_loop_matches_official(mode, fixture_unet, reference_tensors, fixture_meta):
    data = reference_tensors("pipeline_loop")
    scales = fixture_meta["loop_guidance"][mode]
    steps = []
    with torch.no_grad():
        final = generate_chunk(
            fixture_unet, ddim_scheduler(), fixture_meta["loop_steps"], data["first_frame_latent"],
            data["cond_embeds"], data["uncond_embeds"], torch.Generator().manual_seed(int(data["generator_seed"])),
            Guidance(scales["guidance_scale_txt"], scales["guidance_scale_img"]), fixture_meta["loop_frame_stride"],
            FrameInitOptions(noise_level=fixture_meta["frameinit_noise_level"]),
            noise_alpha=fixture_meta["noise_alpha"], callback=lambda i, t, latents: steps.append(latents),
        )
    assert max_difference(torch.stack(steps), data[f"{mode}_step_latents"]) < LOOP_TOLERANCE
    assert max_difference(final, data[f"{mode}_final_latents"]) < LOOP_TOLERANCE
    assert torch.equal(final[:, :, 0], data["first_frame_latent"])
