"""ODE samplers for flow matching, k-diffusion style: `sample_x(field, y, grid, callback=None)`.

``field(t, y)`` returns dy/dt at the scalar time tensor ``t``; ``grid`` is the increasing time grid
(a 1-D tensor); the sampler integrates from ``grid[0]`` to ``grid[-1]`` and returns the end state.
``callback`` (if given) receives ``{"i", "t", "x"}`` after every step; raising there aborts (Stop).
"""

from __future__ import annotations

from typing import Callable

import torch

Field = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Callback = Callable[[dict], None] | None

ONE_THIRD, TWO_THIRDS = 1 / 3, 2 / 3


def official_time_grid(steps: int, warm_start: float = 0.0) -> torch.Tensor:
    """RIVER's grid: linspace(w, 1, int((1 - w) * steps)) -- ``steps`` counts grid *points*."""
    return torch.linspace(warm_start, 1.0, int((1 - warm_start) * steps))


def uniform_time_grid(steps: int, warm_start: float = 0.0) -> torch.Tensor:
    """``steps`` equal intervals from w to 1 (``steps + 1`` points)."""
    return torch.linspace(warm_start, 1.0, steps + 1)


def rk4_step(field: Field, t0: torch.Tensor, t1: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One Runge-Kutta 3/8-rule step (torchdiffeq's `rk4`), exactly 4 evaluations."""
    dt = t1 - t0
    k1 = field(t0, y)
    k2 = field(t0 + dt * ONE_THIRD, y + dt * k1 * ONE_THIRD)
    k3 = field(t0 + dt * TWO_THIRDS, y + dt * (k2 - k1 * ONE_THIRD))
    k4 = field(t1, y + dt * (k1 - k2 + k3))
    return y + (k1 + 3 * (k2 + k3) + k4) * dt * 0.125


def sample_rk4(field: Field, y: torch.Tensor, grid: torch.Tensor, callback: Callback = None) -> torch.Tensor:
    """Fixed-grid RK4 with the 3/8 rule (Kutta 1901), as RIVER integrates with torchdiffeq."""
    for i, (t0, t1) in enumerate(zip(grid[:-1], grid[1:])):
        y = rk4_step(field, t0, t1, y)
        if callback is not None:
            callback({"i": i, "t": t1, "x": y})
    return y


def sample_euler(field: Field, y: torch.Tensor, grid: torch.Tensor, callback: Callback = None) -> torch.Tensor:
    """Explicit Euler method, one evaluation per step."""
    for i, (t0, t1) in enumerate(zip(grid[:-1], grid[1:])):
        y = y + (t1 - t0) * field(t0, y)
        if callback is not None:
            callback({"i": i, "t": t1, "x": y})
    return y


def sample_midpoint(field: Field, y: torch.Tensor, grid: torch.Tensor, callback: Callback = None) -> torch.Tensor:
    """Explicit midpoint method (second-order Runge-Kutta), two evaluations per step."""
    for i, (t0, t1) in enumerate(zip(grid[:-1], grid[1:])):
        dt = t1 - t0
        y_mid = y + 0.5 * dt * field(t0, y)
        y = y + dt * field(t0 + 0.5 * dt, y_mid)
        if callback is not None:
            callback({"i": i, "t": t1, "x": y})
    return y


SAMPLERS = {"rk4": sample_rk4, "euler": sample_euler, "midpoint": sample_midpoint}
NFE_PER_STEP = {"rk4": 4, "euler": 1, "midpoint": 2}


def time_grid(sampler: str, steps: int, warm_start: float = 0.0) -> torch.Tensor:
    """The official grid for ``rk4`` (steps = grid points, as in RIVER's configs), else uniform steps."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {sampler!r}")
    return official_time_grid(steps, warm_start) if sampler == "rk4" else uniform_time_grid(steps, warm_start)


def nfe_per_frame(sampler: str, steps: int, warm_start: float = 0.0) -> int:
    """Vector-field evaluations one predicted frame costs (rk4, 100 steps, w=0: 396)."""
    return NFE_PER_STEP[sampler] * max(len(time_grid(sampler, steps, warm_start)) - 1, 0)


class CountingField:
    """Wraps a field and counts its evaluations (NFE)."""

    def __init__(self, field: Field):
        self.field, self.calls = field, 0

    def __call__(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.field(t, y)
