"""The pyramid schedule against the official scheduler's numbers, and its pure helpers."""

import json

import pytest
import torch

from backends.pyramid_flow import scheduler as sched

TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def reference_schedule(pyramid_reference):
    return json.loads((pyramid_reference / "scheduler_reference.json").read_text())


@pytest.fixture(scope="module")
def schedule(reference_schedule):
    config = reference_schedule["config"]
    return sched.pyramid_schedule(config["stage_range"], config["gamma"], shift=config["shift"])


@pytest.mark.parity
def test_pyramid_flow_stage_sigmas_and_windows(schedule, reference_schedule):
    for name in ("ori_start_sigmas", "start_sigmas", "end_sigmas"):
        expected = [reference_schedule[name][str(s)] for s in range(schedule.num_stages)]
        assert getattr(schedule, name) == pytest.approx(expected, abs=TOLERANCE), name
    for s, window in enumerate(schedule.timestep_ratios):
        assert window == pytest.approx(reference_schedule["timestep_ratios"][str(s)], abs=TOLERANCE)


@pytest.mark.parity
def test_pyramid_flow_stage_timesteps_and_ratios(schedule, pyramid_io):
    names = sorted(k for k in pyramid_io if k.startswith("sched_n") and k.endswith("_timesteps"))
    assert names
    for name in names:
        steps, stage = name[len("sched_n") :].split("_")[:2]
        timesteps, ratios = sched.stage_timesteps(schedule, int(stage[1:]), int(steps))
        assert torch.allclose(timesteps, pyramid_io[name], atol=TOLERANCE, rtol=0), name
        assert torch.allclose(ratios, pyramid_io[name.replace("_timesteps", "_sigmas")], atol=TOLERANCE, rtol=0), name


@pytest.mark.parity
def test_pyramid_flow_renoise_jumps_and_block_noise_covariance(schedule, pyramid_io):
    for stage in range(1, schedule.num_stages):
        alpha_beta = sched.renoise_coefficients(schedule.ori_start_sigmas[stage], schedule.gamma)
        assert torch.allclose(torch.tensor(alpha_beta, dtype=torch.float64), pyramid_io[f"sched_jump{stage}_alpha_beta"], atol=TOLERANCE)
    assert torch.allclose(sched.block_noise_covariance(schedule.gamma), pyramid_io["sched_block_noise_cov"], atol=TOLERANCE)


def test_block_noise_is_zero_sum_per_block_with_the_official_covariance():
    generator = torch.Generator().manual_seed(0)
    noise = sched.sample_block_noise((2, 8, 3, 16, 16), generator=generator)
    blocks = noise.reshape(2, 8, 3, 8, 2, 8, 2).permute(0, 1, 2, 3, 5, 4, 6).reshape(-1, 4)
    assert blocks.sum(dim=1).abs().max() < 1e-5
    covariance = blocks.T.double() @ blocks.double() / blocks.shape[0]
    assert torch.allclose(covariance, sched.block_noise_covariance(), atol=0.05)


def test_shrunk_noise_keeps_unit_variance_and_the_stage_zero_size():
    noise = torch.randn(1, 4, 2, 64, 64, generator=torch.Generator().manual_seed(1))
    small = sched.shrink_noise(noise, 3)
    assert small.shape == (1, 4, 2, 16, 16)
    assert abs(small.std().item() - 1) < 0.05


def frames_of(clips):
    return [(clip.shape[2], clip.shape[3]) for clip in clips]


def test_history_lists_follow_the_temporal_pyramid():
    clean = torch.randn(1, 2, 5, 8, 8)
    pyramid = sched.latent_pyramid(clean, 3)
    assert [p.shape[3] for p in pyramid] == [2, 4, 8]
    # (number of frames, height) per clip, oldest first, for 5 past units.
    assert frames_of(sched.history_for_stage(pyramid, 0)) == [(4, 2), (1, 2)]
    assert frames_of(sched.history_for_stage(pyramid, 1)) == [(4, 2), (1, 4)]
    assert frames_of(sched.history_for_stage(pyramid, 2)) == [(3, 2), (1, 4), (1, 8)]
    one = sched.latent_pyramid(clean[:, :, :1], 3)
    assert frames_of(sched.history_for_stage(one, 2)) == [(1, 8)]
    two = sched.latent_pyramid(clean[:, :, :2], 3)
    assert frames_of(sched.history_for_stage(two, 2)) == [(1, 4), (1, 8)]
    assert torch.equal(sched.history_for_stage(two, 2)[-1], clean[:, :, 1:2])
