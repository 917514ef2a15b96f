"""Scores of predictions against the truth: PSNR, SSIM and the colour error of each disc."""

import numpy as np
import pytest
import torch

from backends.river.bouncing_balls import Balls, random_balls, render_balls
from backends.river.evaluate import colour_errors, disc_colours, psnr, ssim, to_uint8


@pytest.fixture
def balls():
    """Two discs far apart, each moving 2 px per frame for 4 frames."""
    steps = np.arange(4)[:, None, None] * np.array([[[2.0, 0.0]], [[0.0, 2.0]]]).transpose(1, 0, 2)
    positions = np.array([[16.0, 16.0], [44.0, 40.0]])[None] + steps
    return Balls(positions, np.array([6.0, 5.0]), np.array([[128.0, 128.0, 128.0], [250.0, 30.0, 90.0]], np.float32))


def test_river_a_perfect_prediction_has_no_colour_error(balls):
    clip = render_balls(balls)
    assert np.array_equal(colour_errors(clip, clip, balls), [0.0, 0.0])
    measured = disc_colours(clip, balls)
    assert measured.shape == (4, 2, 3) and np.abs(measured - balls.colour).max() < 30  # rim pixels darken it a little


def test_river_colour_error_is_the_colour_shift_of_each_disc(balls):
    """A grey disc predicted yellow-green is off by the mean channel difference; the other is untouched."""
    shifted = Balls(balls.positions, balls.radius, balls.colour.copy())
    shifted.colour[0] = [170.0, 200.0, 40.0]
    errors = colour_errors(render_balls(shifted), render_balls(balls), balls)
    assert errors[0] == pytest.approx(np.abs(shifted.colour[0] - balls.colour[0]).mean(), rel=0.15)
    assert errors[1] == 0.0


def test_river_colour_error_tolerates_small_position_errors_and_counts_lost_discs(balls):
    truth = render_balls(balls)
    nudged = Balls(balls.positions + 1.5, balls.radius, balls.colour)
    assert (colour_errors(render_balls(nudged), truth, balls) < 5).all()
    black = np.zeros_like(truth)
    lost = colour_errors(black, truth, balls)
    assert np.allclose(lost, disc_colours(truth, balls).mean(axis=(0, 2)))


def test_river_colour_error_skips_discs_hidden_by_others():
    """A disc whose whole neighbourhood overlaps another's is not measured (NaN) in that frame."""
    balls = random_balls(3, np.random.default_rng(4), max_balls=1)
    doubled = Balls(np.concatenate([balls.positions] * 2, axis=1), np.repeat(balls.radius, 2),
                    np.repeat(balls.colour, 2, axis=0))
    assert np.isnan(disc_colours(render_balls(doubled), doubled)).all()
    assert np.isnan(colour_errors(render_balls(doubled), render_balls(doubled), doubled)).all()


def test_river_psnr_and_ssim_of_identical_and_different_frames():
    frames = torch.from_numpy(render_balls(random_balls(2, np.random.default_rng(7)))).permute(0, 3, 1, 2) / 127.5 - 1
    assert (psnr(frames, frames) > 90).all() and torch.allclose(ssim(frames, frames), torch.ones(2))
    noisy = frames + 0.1 * torch.randn(frames.shape, generator=torch.Generator().manual_seed(0))
    assert (psnr(noisy, frames) < 30).all() and (ssim(noisy, frames) < 0.9).all()
    assert np.array_equal(to_uint8(frames), render_balls(random_balls(2, np.random.default_rng(7))))
