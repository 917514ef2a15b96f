"""End-to-end OnlyFlow generation on tiny random models: FreeNoise, gamma, callbacks, Stop, settings."""

import dataclasses

import numpy as np
import pytest
import torch
from diffusers.models.attention import FreeNoiseTransformerBlock

from backends.core.jobs import CancelToken, JobCancelled
from backends.onlyflow.pipeline import OnlyFlowSettings, generate, onlyflow_scheduler

SIZE = 64  # the tiny pipeline's images: 64 px, latents 8 px


def tiny_settings(**overrides):
    values = dict(
        prompt="a red kite over the sea", num_frames=8, height=SIZE, width=SIZE, num_inference_steps=2, seed=7
    )
    return OnlyFlowSettings(**{**values, **overrides})


def random_flow(num_frames, seed=0):
    return torch.randn(num_frames, 2, SIZE, SIZE, generator=torch.Generator().manual_seed(seed)) * 3


def assert_unet_restored(unet):
    assert not any(".processor." in key for key in unet.state_dict())
    assert not any(isinstance(m, FreeNoiseTransformerBlock) for m in unet.modules())


def test_24_frames_through_free_noise_follow_gamma(tiny_pipeline):
    pipe, adapter = tiny_pipeline
    flow = random_flow(24)
    steps = []
    settings = tiny_settings(num_frames=24, gamma=0.0)
    plain = generate(pipe, adapter, flow, settings, on_step=lambda i, n, latents: steps.append((i, n, latents.shape)))
    flowing = generate(pipe, adapter, flow, dataclasses.replace(settings, gamma=1.0))
    assert plain.shape == flowing.shape == (24, SIZE, SIZE, 3) and plain.dtype == np.uint8
    assert steps == [(1, 2, (1, 4, 24, 8, 8)), (2, 2, (1, 4, 24, 8, 8))]
    assert np.abs(plain.astype(int) - flowing).max() > 0
    assert_unet_restored(pipe.unet)


def test_same_seed_same_video(tiny_pipeline):
    pipe, adapter = tiny_pipeline
    flow = random_flow(8)
    first = generate(pipe, adapter, flow, tiny_settings(gamma=0.5))
    assert np.array_equal(first, generate(pipe, adapter, flow, tiny_settings(gamma=0.5)))
    assert not np.array_equal(first, generate(pipe, adapter, flow, tiny_settings(gamma=0.5, seed=8)))


def test_non_square_frames(tiny_pipeline):
    pipe, adapter = tiny_pipeline
    flow = torch.randn(5, 2, SIZE, 2 * SIZE, generator=torch.Generator().manual_seed(0))
    video = generate(pipe, adapter, flow, tiny_settings(num_frames=5, width=2 * SIZE, gamma=1.0))
    assert video.shape == (5, SIZE, 2 * SIZE, 3)


def test_gamma_zero_is_plain_animatediff(tiny_pipeline):
    pipe, adapter = tiny_pipeline
    settings = tiny_settings(gamma=0.0)
    ours = generate(pipe, adapter, random_flow(8), settings)
    plain = pipe(
        prompt=settings.prompt,
        negative_prompt=settings.negative_prompt,
        num_frames=settings.num_frames,
        height=SIZE,
        width=SIZE,
        num_inference_steps=settings.num_inference_steps,
        guidance_scale=settings.guidance_scale,
        generator=torch.Generator("cpu").manual_seed(settings.seed),
        output_type="np",
    ).frames[0]
    assert np.array_equal(ours, (np.clip(plain, 0, 1) * 255).round().astype(np.uint8))


def test_stop_during_denoising_raises_and_restores_the_unet(tiny_pipeline):
    pipe, adapter = tiny_pipeline
    token = CancelToken()
    steps = []

    def on_step(step, total, latents):
        steps.append(step)
        token.cancel()

    with pytest.raises(JobCancelled):
        generate(pipe, adapter, random_flow(20), tiny_settings(num_frames=20, num_inference_steps=5), on_step, token)
    assert steps == [1]
    assert_unet_restored(pipe.unet)


def test_stop_before_start_runs_no_step(tiny_pipeline):
    pipe, adapter = tiny_pipeline
    token = CancelToken()
    token.cancel()
    steps = []
    with pytest.raises(JobCancelled):
        generate(pipe, adapter, random_flow(8), tiny_settings(), lambda *a: steps.append(a), token)
    assert steps == []


def test_a_second_generation_at_the_same_time_is_refused_before_touching_the_unet(tiny_pipeline):
    pipe, adapter = tiny_pipeline
    with adapter.flow_context.use([], 1.0):  # a generation is running
        with pytest.raises(RuntimeError, match="already in use"):
            generate(pipe, adapter, random_flow(20), tiny_settings(num_frames=20))
        assert_unet_restored(pipe.unet)


def test_defaults_are_the_official_scripts():
    settings = OnlyFlowSettings(prompt="x")
    assert (settings.num_inference_steps, settings.guidance_scale, settings.gamma) == (30, 7.5, 0.75)
    assert (settings.height, settings.width, settings.fps) == (512, 512, 8)
    assert settings.negative_prompt == "bad quality, worst quality"
    assert (settings.context_length, settings.context_stride) == (16, 12)
    config = onlyflow_scheduler().config
    assert (config.beta_schedule, config.timestep_spacing, config.steps_offset, config.clip_sample) == (
        "linear",
        "linspace",
        1,
        False,
    )


@pytest.mark.parametrize(
    "field, value",
    [
        ("prompt", "  "),
        ("height", 500),
        ("width", 0),
        ("num_frames", 0),
        ("num_inference_steps", 0),
        ("gamma", 1.5),
        ("gamma", float("nan")),
        ("guidance_scale", -1.0),
        ("seed", -3),
        ("fps", 0),
        ("context_length", 17),
        ("context_stride", 0),
    ],
)
def test_bad_settings_name_the_argument_and_value(field, value):
    settings = dataclasses.replace(OnlyFlowSettings(prompt="a cat"), **{field: value})
    with pytest.raises(ValueError, match=f"^{field} .*{value!r}"):
        settings.check_inputs()


def test_stride_longer_than_the_window_is_refused():
    with pytest.raises(ValueError, match="context_stride must not exceed context_length 8, got 12"):
        OnlyFlowSettings(prompt="a cat", context_length=8, context_stride=12).check_inputs()


@pytest.mark.parametrize(
    "flow, message",
    [
        (torch.zeros(7, 2, SIZE, SIZE), r"\(8, 2, 64, 64\), got \(7, 2, 64, 64\)"),
        (torch.zeros(8, 2, SIZE, 2 * SIZE), r"got \(8, 2, 64, 128\)"),
        (torch.zeros(8, 3, SIZE, SIZE), r"got \(8, 3, 64, 64\)"),
        (torch.full((8, 2, SIZE, SIZE), float("inf")), "NaN or infinite"),
    ],
)
def test_flow_that_does_not_fit_the_settings_is_refused(tiny_pipeline, flow, message):
    pipe, adapter = tiny_pipeline
    with pytest.raises(ValueError, match=message):
        generate(pipe, adapter, flow, tiny_settings())
