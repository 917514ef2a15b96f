"""OnlyFlow generation on the tiny models: FreeNoise, gamma, callbacks, Stop, settings."""

import dataclasses

import pytest
import torch

from backends.core.jobs import CancelToken, JobCancelled
from backends.core.presets import load_preset
from backends.onlyflow.pipeline import generate
from backends.onlyflow.settings import FlowVideoSettings

SIZE = 64  # the tiny pipeline's images: 64 px, latents 8 px
LIMITS = load_preset("onlyflow").limits


def tiny_settings(**overrides):
    values = dict(video="clip.mp4", prompt="a red kite over the sea", frames=8, height=SIZE, width=SIZE, steps=2, seed=7)
    return FlowVideoSettings(**{**values, **overrides})


def random_flow(frames, seed=0, width=SIZE):
    return torch.randn(frames, 2, SIZE, width, generator=torch.Generator().manual_seed(seed)) * 3


def assert_processors_removed(unet):
    assert not any(".processor." in key for key in unet.state_dict())


def test_24_frames_through_free_noise_follow_gamma(tiny_pipeline):
    pipe, adapter = tiny_pipeline
    flow = random_flow(24)
    steps = []
    settings = tiny_settings(frames=24)
    plain = generate(pipe, adapter, flow, settings, 0.0, on_step=lambda i, n, latents: steps.append((i, n, latents.shape)))
    flowing = generate(pipe, adapter, flow, settings, 1.0)
    assert plain.shape == flowing.shape == (1, 4, 24, 8, 8)
    assert steps == [(1, 2, (1, 4, 24, 8, 8)), (2, 2, (1, 4, 24, 8, 8))]
    assert (plain - flowing).abs().max() > 1e-3
    assert_processors_removed(pipe.unet)


def test_same_seed_same_video(tiny_pipeline):
    pipe, adapter = tiny_pipeline
    flow = random_flow(8)
    first = generate(pipe, adapter, flow, tiny_settings(gamma=0.5))
    assert torch.equal(first, generate(pipe, adapter, flow, tiny_settings(gamma=0.5)))
    assert not torch.equal(first, generate(pipe, adapter, flow, tiny_settings(gamma=0.5, seed=8)))


def test_non_square_frames(tiny_pipeline):
    pipe, adapter = tiny_pipeline
    latents = generate(pipe, adapter, random_flow(5, width=2 * SIZE), tiny_settings(frames=5, width=2 * SIZE), 1.0)
    assert latents.shape == (1, 4, 5, 8, 16)


def test_gamma_zero_is_plain_animatediff(tiny_pipeline):
    pipe, adapter = tiny_pipeline
    settings = tiny_settings()
    ours = generate(pipe, adapter, random_flow(8), settings, 0.0)
    plain = pipe(
        prompt=settings.prompt,
        negative_prompt=settings.negative_prompt,
        num_frames=settings.frames,
        height=SIZE,
        width=SIZE,
        num_inference_steps=settings.steps,
        guidance_scale=settings.guidance,
        generator=torch.Generator("cpu").manual_seed(settings.seed),
        output_type="latent",
    ).frames
    assert torch.equal(ours, plain)


def test_stop_during_denoising_raises_and_removes_the_processors(tiny_pipeline):
    pipe, adapter = tiny_pipeline
    token = CancelToken()
    steps = []

    def on_step(step, total, latents):
        steps.append(step)
        token.cancel()

    with pytest.raises(JobCancelled):
        generate(pipe, adapter, random_flow(20), tiny_settings(frames=20, steps=5), on_step=on_step, cancel=token)
    assert steps == [1]
    assert_processors_removed(pipe.unet)


def test_stop_before_start_runs_no_step(tiny_pipeline):
    pipe, adapter = tiny_pipeline
    token = CancelToken()
    token.cancel()
    steps = []
    with pytest.raises(JobCancelled):
        generate(pipe, adapter, random_flow(8), tiny_settings(), on_step=lambda *a: steps.append(a), cancel=token)
    assert steps == []


def test_a_second_generation_at_the_same_time_is_refused_before_touching_the_unet(tiny_pipeline):
    pipe, adapter = tiny_pipeline
    with adapter.flow_context.use([], 1.0):  # a generation is running
        with pytest.raises(RuntimeError, match="already in use"):
            generate(pipe, adapter, random_flow(20), tiny_settings(frames=20))
        assert_processors_removed(pipe.unet)


def test_defaults_are_the_official_scripts(tiny_pipeline):
    defaults = load_preset("onlyflow").defaults
    settings = FlowVideoSettings(video="v.mp4", prompt="x")
    for name in ("steps", "guidance", "gamma", "height", "width", "fps", "negative_prompt", "context_stride"):
        assert getattr(settings, name) == defaults[name], name
    assert (settings.steps, settings.guidance, settings.gamma, settings.width, settings.fps) == (30, 7.5, 0.75, 512, 8)
    assert settings.negative_prompt == "bad quality, worst quality"
    assert (settings.context_length, settings.context_stride) == (16, 12)
    config = tiny_pipeline[0].scheduler.config  # the shared pipeline's scheduler is the official DDIM
    assert type(tiny_pipeline[0].scheduler).__name__ == "DDIMScheduler"
    assert (config.beta_schedule, config.timestep_spacing, config.steps_offset, config.clip_sample) == (
        "linear", "linspace", 1, False,
    )


@pytest.mark.parametrize(
    "field, value",
    [
        ("prompt", "  "),
        ("height", 500),
        ("width", 0),
        ("frames", 0),
        ("steps", 0),
        ("gamma", 1.5),
        ("gamma", float("nan")),
        ("guidance", -1.0),
        ("fps", 0),
        ("context_length", 17),
        ("context_stride", 0),
    ],
)
def test_bad_settings_name_the_argument_and_value(field, value):
    settings = dataclasses.replace(FlowVideoSettings(video="v.mp4", prompt="a cat"), **{field: value})
    with pytest.raises(ValueError, match=f"^{field} "):
        settings.check_inputs(LIMITS)


def test_sweep_and_missing_video_are_checked():
    with pytest.raises(ValueError, match="gamma must be between 0 and 1, got 2"):
        FlowVideoSettings(video="v.mp4", prompt="x", sweep=(0.0, 2.0)).check_inputs(LIMITS)
    with pytest.raises(ValueError, match="video is missing"):
        FlowVideoSettings(video="", prompt="x").check_inputs(LIMITS)
    assert FlowVideoSettings(video="v", prompt="x", sweep=(0.0, 1.0)).gammas == (0.0, 1.0)
    assert FlowVideoSettings(video="v", prompt="x", gamma=0.3).gammas == (0.3,)


def test_stride_longer_than_the_window_is_refused():
    with pytest.raises(ValueError, match="context_stride must be between 1 and 8, got 12"):
        FlowVideoSettings(video="v", prompt="a cat", context_length=8, context_stride=12).check_inputs(LIMITS)


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


def test_forty_one_frames_run_through_free_noise_windows(tiny_pipeline):
    pipe, adapter = tiny_pipeline
    settings = tiny_settings(frames=41, steps=1, context_stride=12)
    latents = generate(pipe, adapter, random_flow(41), settings, 1.0)
    assert latents.shape == (1, 4, 41, 8, 8) and torch.isfinite(latents).all()
    plain = generate(pipe, adapter, random_flow(41), settings, 0.0)
    assert (latents[:, :, -8:] - plain[:, :, -8:]).abs().max() > 1e-3  # the last window is guided too
