"""The frame-prediction job (events while running, the prediction as return value) and its metrics."""

import numpy as np
import pytest
import torch

from backends.core.jobs import CancelToken, JobCancelled, Preview, Progress
from backends.river.evaluate import psnr, ssim
from backends.river.job import FramePredictionSettings, predict_video
from backends.river.model import Model

from .conftest import tiny_config


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return Model(tiny_config()["model"]).eval()


def video(frames, size=20):
    return np.random.default_rng(0).integers(0, 256, (frames, size, size, 3), dtype=np.uint8)


def predict(model, frames, settings, cancel=None, on_event=lambda event: None):
    events = []

    def emit(event):
        events.append(event)
        on_event(event)

    return events, predict_video(model, frames, settings, emit, cancel)


def test_river_job_streams_frames_and_scores_the_continuation(model):
    settings = FramePredictionSettings(context_frames=2, predict_frames=3, sampler="midpoint", steps=2, samples=2)
    events, prediction = predict(model, video(4), settings)
    progress = [e for e in events if isinstance(e, Progress)]
    previews = [e for e in events if isinstance(e, Preview)]
    assert len(progress) == 3 * 2 and progress[-1].step == progress[-1].total == 6
    assert [p.step for p in previews] == [1, 2, 3]
    # one tile per sample, 16-px frames enlarged 12x (nearest) for display
    assert all(p.frames.shape == (2, 192, 192, 3) and p.frames.dtype == np.uint8 for p in previews)
    assert prediction.frames.shape == (2, 5, 16, 16, 3)
    second = previews[1].frames  # predicted frame 2 of each sample
    for sample in (0, 1):
        assert np.array_equal(second[sample, ::12, ::12], prediction.frames[sample, 3])
        assert np.array_equal(second[sample, 11::12, 11::12], prediction.frames[sample, 3])
    assert prediction.ground_truth.shape == (2, 16, 16, 3)  # the video had 2 frames past the context
    assert len(prediction.psnr) == len(prediction.ssim) == 2
    assert prediction.nfe_per_frame == 4 and prediction.settings["samples"] == 2


def test_river_job_without_continuation_and_with_stop(model):
    _, prediction = predict(model, video(2), FramePredictionSettings(predict_frames=2, steps=1))
    assert prediction.ground_truth is None and prediction.psnr == []
    token = CancelToken()
    with pytest.raises(JobCancelled):
        predict(model, video(2), FramePredictionSettings(predict_frames=5, steps=2), token,
                on_event=lambda event: isinstance(event, Preview) and token.cancel())


@pytest.mark.parametrize("bad, message", [(dict(context_frames=3), "only 2 frames"), (dict(predict_frames=0), "predict_frames"),
                                          (dict(samples=0), "samples"), (dict(sampler="dopri5"), "sampler")])
def test_river_job_checks_inputs(model, bad, message):
    with pytest.raises(ValueError, match=message):
        predict(model, video(2), FramePredictionSettings(**bad))


def test_river_psnr_and_ssim_known_values():
    a = torch.full((3, 16, 16), 0.2)
    b = torch.full((3, 16, 16), -0.4)
    assert psnr(a, a).item() == pytest.approx(10 * np.log10(4 / 1e-10))  # clamped MSE floor
    assert psnr(a, b).item() == pytest.approx(10 * np.log10(4 / 0.36), rel=1e-6)
    x, y = 0.6, 0.3  # the [0, 1] intensities of a and b: constant images have only the luminance term
    expected = (2 * x * y + 0.01**2) / (x**2 + y**2 + 0.01**2)
    assert ssim(a, b).item() == pytest.approx(expected, rel=1e-4)  # float32 variances of constants
    noisy = (a + 0.3 * torch.randn_like(a)).clamp(-1, 1)
    textured = torch.rand(2, 3, 16, 16) * 2 - 1
    assert ssim(textured, textured).allclose(torch.ones(2)) and ssim(noisy, a).item() < 0.9
