"""Pyramid Flow's generation under CPU offload, and resumed from a saved state: both give the
frames of a plain uninterrupted run, bit for bit (tiny random models in the official layout;
offload hooks run on the CPU too, with "cpu" as their device)."""

import numpy as np
import pytest
import torch

from backends.core.checkpoints import atomic_save, load_checkpoint
from backends.pyramid_flow.loading import load_models
from backends.pyramid_flow.pipeline import GenerationPlan, GenerationState, generate
from backends.pyramid_flow.sampling import TextConditioning, UnitSteps
from backends.pyramid_flow.tiny import build_tiny_pyramid_flow

UNITS = 3
PLAN = GenerationPlan(128, 64, UNITS, UnitSteps((1, 1, 1), 7.0), UnitSteps((1, 2, 1), 5.0), tile=256)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("pyramid_flow_tiny")
    build_tiny_pyramid_flow(root)
    return root


def text_for(models):
    config, generator = models.dit.config, torch.Generator().manual_seed(1)
    return TextConditioning(torch.randn(2, 8, config.joint_attention_dim, generator=generator),
                            torch.tensor([[1] * 3 + [0] * 5, [1] * 8]), torch.randn(2, config.pooled_projection_dim, generator=generator))


def run(models, image=None, resume=None):
    """(frames, [frames so far after each unit], [state after each unit])"""
    so_far, states = [], []
    frames = generate(models, text_for(models), PLAN, 11, lambda unit, f, s: (so_far.append(f), states.append(s)),
                      image=image, resume=resume)
    return frames, so_far, states


@pytest.fixture(scope="module")
def plain(folder):
    return run(load_models(folder, "miniflux", "384p"))


@pytest.mark.parametrize("mode", ["model", "sequential"])
def test_pyramid_flow_offload_gives_the_frames_of_no_offload(folder, plain, mode):
    models = load_models(folder, "miniflux", "384p", offload=mode)
    frames, _, _ = run(models)
    np.testing.assert_array_equal(frames, plain[0])
    if mode == "model":  # DiT and VAE took turns on the device, once per unit each
        assert models.placement.moves == 2 * UNITS
    else:
        assert next(models.dit.parameters()).is_meta


def test_pyramid_flow_resumed_after_a_unit_gives_the_frames_of_an_uninterrupted_run(folder, plain, tmp_path):
    frames, so_far, states = plain
    saved = atomic_save(states[1].to_dict(), tmp_path / "resume.pt")  # after unit 2 of 3, through the file
    state = GenerationState.from_dict(load_checkpoint(saved))
    assert len(state.clean) == 2
    resumed, resumed_so_far, _ = run(load_models(folder, "miniflux", "384p"), resume=state)
    np.testing.assert_array_equal(resumed_so_far[0], so_far[1])  # the frames so far, decoded again first
    np.testing.assert_array_equal(resumed, frames)


def test_pyramid_flow_image_to_video_resumes_exactly_too(folder):
    models = load_models(folder, "miniflux", "384p")
    image = np.random.default_rng(0).integers(0, 256, (64, 128, 3), dtype=np.uint8)
    frames, _, states = run(models, image)
    resumed, _, _ = run(models, image, resume=states[1])
    np.testing.assert_array_equal(resumed, frames)
    other, _, _ = run(models, image, resume=states[0])  # after the picture only
    np.testing.assert_array_equal(other, frames)
