"""The flow-matching objective's draws and path, and the LR schedule's shape."""

import pytest
import torch

from backends.river.objective import (
    LR_END,
    draw_flow_matching,
    flow_path,
    polynomial_warmup_factor,
    polynomial_warmup_scheduler,
    target_velocity,
)

SIGMA = 1e-7


def test_river_index_draws_cover_exactly_the_official_ranges():
    draws = draw_flow_matching(4000, 6, (4, 2, 2), torch.Generator().manual_seed(0))
    assert set(draws.target_indices.tolist()) == {2, 3, 4, 5}
    assert torch.equal(draws.reference_indices, draws.target_indices - 1)
    assert (draws.conditioning_indices >= 0).all() and (draws.conditioning_indices <= draws.target_indices - 2).all()
    assert set(draws.conditioning_indices[draws.target_indices == 5].tolist()) == {0, 1, 2, 3}
    assert (draws.timestamps >= 0).all() and (draws.timestamps < 1).all()
    assert draws.noise.shape == (4000, 4, 2, 2)
    with pytest.raises(ValueError, match="at least 3 frames"):
        draw_flow_matching(2, 2, (4, 2, 2))


def test_river_flow_path_and_target_velocity():
    x1, noise = torch.randn(3, 4, 2, 2), torch.randn(3, 4, 2, 2)
    t = torch.tensor([0.0, 0.3, 1.0])
    x_t = flow_path(x1, noise, t, SIGMA)
    assert torch.allclose(x_t[0], noise[0]) and torch.allclose(x_t[2], x1[2] + SIGMA * noise[2])
    u = target_velocity(x1, x_t, t, SIGMA)
    assert torch.allclose(u[:2], (x1 - (1 - SIGMA) * noise)[:2], atol=1e-5)  # the straight path's velocity
    assert torch.allclose(x_t[1] + 0.7 * u[1], x1[1], atol=1e-5)  # following it from t=0.3 reaches x1


def test_river_lr_schedule_shape():
    factors = [polynomial_warmup_factor(step, 10, 100, 1e-3) for step in range(0, 120)]
    assert factors[0] == 0 and factors[5] == pytest.approx(0.5) and factors[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))
    assert factors[100] == pytest.approx(LR_END / 1e-3) and factors[119] == pytest.approx(LR_END / 1e-3)
    # power 0.5: halfway through the decay the LR is sqrt(1/2) of the range above lr_end
    assert factors[55] * 1e-3 == pytest.approx((1e-3 - LR_END) * 0.5**0.5 + LR_END)
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    scheduler = polynomial_warmup_scheduler(optimizer, 10, 100)
    for step in range(1, 30):
        optimizer.step()
        scheduler.step()
        assert scheduler.get_last_lr()[0] == pytest.approx(1e-3 * factors[step])
