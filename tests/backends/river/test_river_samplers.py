"""ODE samplers on a flow with a closed-form solution, and their evaluation counts."""

import math

import pytest
import torch

from backends.river.samplers import (
    CountingField,
    nfe_per_frame,
    official_time_grid,
    sample_euler,
    sample_midpoint,
    sample_rk4,
    time_grid,
    uniform_time_grid,
)

# dy/dt = 1.5 t J y (J the 90-degree rotation): the flow rotates y by the angle 0.75 (t1^2 - t0^2).
SPEED = 1.5


def rotating_field(t, y):
    return SPEED * t * torch.stack([-y[..., 1], y[..., 0]], dim=-1)


def rotate(y, angle):
    c, s = math.cos(angle), math.sin(angle)
    return torch.stack([c * y[..., 0] - s * y[..., 1], s * y[..., 0] + c * y[..., 1]], dim=-1)


def exact_solution(y0):
    """y(1) from y(0) = y0."""
    return rotate(y0, SPEED / 2)


Y0 = torch.tensor([[1.0, 0.5], [-0.3, 2.0]], dtype=torch.float64)


def grid(points, start=0.0):
    return torch.linspace(start, 1.0, points, dtype=torch.float64)


def error(y):
    return (y - exact_solution(Y0)).abs().max().item()


def test_river_euler_and_rk4_converge_to_the_same_endpoint():
    euler = sample_euler(rotating_field, Y0, grid(4001))
    rk4 = sample_rk4(rotating_field, Y0, grid(100))
    assert error(rk4) < 1e-9
    assert error(euler) < 1e-3
    assert (euler - rk4).abs().max().item() < 1e-3


@pytest.mark.parametrize("sampler, order", [(sample_euler, 1), (sample_midpoint, 2), (sample_rk4, 4)])
def test_river_sampler_convergence_order(sampler, order):
    coarse, fine = error(sampler(rotating_field, Y0, grid(9))), error(sampler(rotating_field, Y0, grid(17)))
    observed = math.log2(coarse / fine)
    assert abs(observed - order) < 0.35, f"observed order {observed:.2f}, expected {order}"


def test_river_warm_start_integrates_only_the_remaining_interval():
    start = 0.4
    y_start = rotate(Y0, SPEED / 2 * start**2)  # the exact state at t = start
    result = sample_rk4(rotating_field, y_start, grid(50, start))
    assert (result - exact_solution(Y0)).abs().max().item() < 1e-8


@pytest.mark.parametrize(
    "sampler, steps, warm_start, expected",
    [("rk4", 100, 0.0, 396), ("rk4", 10, 0.2, 28), ("rk4", 5, 0.0, 16), ("euler", 8, 0.0, 8),
     ("euler", 4, 0.5, 4), ("midpoint", 8, 0.0, 16), ("midpoint", 4, 0.25, 8)],
)
def test_river_nfe_counts_are_what_they_claim(sampler, steps, warm_start, expected):
    samplers = {"rk4": sample_rk4, "euler": sample_euler, "midpoint": sample_midpoint}
    counted = CountingField(rotating_field)
    samplers[sampler](counted, Y0, time_grid(sampler, steps, warm_start).double())
    assert counted.calls == expected == nfe_per_frame(sampler, steps, warm_start)


def test_river_time_grids():
    assert official_time_grid(100).shape == (100,)  # grid points, as in the official configs
    assert official_time_grid(10, 0.2)[0].item() == pytest.approx(0.2)
    assert len(official_time_grid(10, 0.2)) == 8  # int((1 - 0.2) * 10)
    assert torch.allclose(uniform_time_grid(4, 0.2), torch.tensor([0.2, 0.4, 0.6, 0.8, 1.0]))
    with pytest.raises(ValueError, match="sampler"):
        time_grid("heun", 4)


def test_river_callback_sees_every_step_and_can_stop():
    seen = []
    sample_midpoint(rotating_field, Y0, grid(6), callback=lambda state: seen.append((state["i"], float(state["t"]))))
    assert [i for i, _ in seen] == [0, 1, 2, 3, 4] and seen[-1][1] == pytest.approx(1.0)

    class Stop(Exception):
        pass

    def stop_at_two(state):
        if state["i"] == 2:
            raise Stop

    counted = CountingField(rotating_field)
    with pytest.raises(Stop):
        sample_rk4(counted, Y0, grid(10), callback=stop_at_two)
    assert counted.calls == 12
