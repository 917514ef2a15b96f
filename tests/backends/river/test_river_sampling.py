"""Frame prediction with a tiny random model: conditioning draws, seeds, batching, streaming, Stop."""

import pytest
import torch

from backends.core.jobs import CancelToken, JobCancelled
from backends.river.model import Model
from backends.river.sampling import SamplerSettings, conditioned_field, generate_frames, predict_latents, stream_frames

from .conftest import tiny_config

FAST = SamplerSettings("euler", 3, 0.0)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return Model(tiny_config()["model"]).eval()


@pytest.fixture
def context():
    return torch.rand(2, 3, 16, 16) * 2 - 1


def test_river_conditioning_is_redrawn_per_evaluation(model):
    """Reference = last latent; conditioning = a uniform earlier latent, fresh at every call."""
    latents = torch.randn(1, 5, *model.latent_shape)
    seen = []

    def spy(module, args):
        x_t, reference, conditioning, distances, timestamps = args
        assert torch.equal(reference, latents[:, -1])
        assert torch.equal(conditioning, latents[:, 4 - distances.item()])
        seen.append(distances.item())

    handle = model.vector_field_regressor.register_forward_pre_hook(spy)
    try:
        field = conditioned_field(model, latents, torch.Generator().manual_seed(1))
        with torch.no_grad():
            for _ in range(60):
                field(torch.tensor(0.5), torch.randn(1, *model.latent_shape))
    finally:
        handle.remove()
    assert set(seen) == {1, 2, 3, 4}


def test_river_one_context_frame_is_duplicated_and_dropped(model, context):
    frames = generate_frames(model, context[None, :1], 3, FAST, torch.Generator().manual_seed(0))
    assert frames.shape == (1, 4, 3, 16, 16)


def test_river_predicted_latents_are_appended_unquantised(model):
    """The next frame's reference is the raw ODE output of the previous one, not its codebook entry."""
    references = []
    handle = model.vector_field_regressor.register_forward_pre_hook(lambda module, args: references.append(args[1]))
    try:
        frames = predict_latents(model, torch.randn(1, 2, *model.latent_shape), 2, SamplerSettings("euler", 1),
                                 torch.Generator().manual_seed(0))
        first = next(frames)
        references.clear()
        next(frames)
    finally:
        handle.remove()
    assert torch.equal(references[0], first)
    assert not torch.allclose(model.ae.quantize(first)[0], first)


def test_river_stream_matches_generate_and_is_seeded(model, context):
    settings = SamplerSettings("midpoint", 2, 0.1)
    streamed = list(stream_frames(model, context, 3, settings, num_samples=2, seed=5))
    assert [k for k, _ in streamed] == [0, 1, 2]
    assert all(frames.shape == (2, 3, 16, 16) for _, frames in streamed)
    again = torch.stack([f for _, f in stream_frames(model, context, 3, settings, num_samples=2, seed=5)], 1)
    stacked = torch.stack([f for _, f in streamed], 1)
    assert torch.equal(stacked, again)
    batch = generate_frames(model, context[None].repeat(2, 1, 1, 1, 1), 3, settings, torch.Generator().manual_seed(5))
    assert torch.allclose(batch[:, 2:], stacked, atol=1e-6)
    other = torch.stack([f for _, f in stream_frames(model, context, 3, settings, num_samples=2, seed=6)], 1)
    assert not torch.equal(stacked, other)
    assert not torch.equal(stacked[0], stacked[1])  # the samples of one batch differ


def test_river_stream_reports_steps_and_stops(model, context):
    steps = []
    token = CancelToken()
    stream = stream_frames(model, context, 4, FAST, seed=0, cancel=token, on_step=lambda *a: steps.append(a))
    next(stream)
    assert steps == [(0, 1, 3), (0, 2, 3), (0, 3, 3)]
    token.cancel()
    with pytest.raises(JobCancelled):
        next(stream)


@pytest.mark.parametrize("bad", [dict(sampler="heun"), dict(steps=0), dict(warm_start=1.0), dict(sampler="rk4", steps=1)])
def test_river_sampler_settings_are_checked(bad):
    with pytest.raises(ValueError):
        SamplerSettings(**{**dict(sampler="euler", steps=4, warm_start=0.0), **bad}).check()
