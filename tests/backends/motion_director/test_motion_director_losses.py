import math

import torch
import torch.nn.functional as F

from backends.motion_director.losses import appearance_debiased_loss, debias, spatial_loss, temporal_loss


def test_debias_subtracts_the_anchor_frame_scaled_by_alpha():
    x = torch.arange(2 * 1 * 3 * 1 * 2, dtype=torch.float32).reshape(2, 1, 3, 1, 2)
    out = debias(x, anchor=1, beta=1.0)
    for frame in range(3):
        assert torch.allclose(out[:, :, frame], math.sqrt(2) * x[:, :, frame] - x[:, :, 1])


def test_debias_keeps_unit_variance_of_independent_noise():
    torch.manual_seed(0)
    noise = torch.randn(1, 4, 16, 32, 32)
    others = torch.cat([debias(noise, anchor=3, beta=2.0)[:, :, :3], debias(noise, anchor=3, beta=2.0)[:, :, 4:]], 2)
    assert abs(others.var().item() - (5 + 4)) < 0.3  # alpha^2 + beta^2 = (beta^2 + 1) + beta^2


def test_debiased_loss_matches_its_formula_on_hand_made_tensors():
    pred = torch.tensor([[[[[1.0]], [[2.0]], [[4.0]]]]])  # (1, 1, 3, 1, 1)
    eps = torch.tensor([[[[[0.0]], [[1.0]], [[1.0]]]]])
    alpha, beta, anchor = math.sqrt(2), 1.0, 0
    expected = sum(((alpha * p - beta * 1.0) - (alpha * e - beta * 0.0)) ** 2
                   for p, e in zip((1.0, 2.0, 4.0), (0.0, 1.0, 1.0))) / 3
    assert math.isclose(appearance_debiased_loss(pred, eps, anchor).item(), expected, rel_tol=1e-6)


def test_temporal_loss_is_mse_plus_debiased_and_spatial_is_mse():
    torch.manual_seed(1)
    pred, eps = torch.randn(1, 4, 5, 3, 3), torch.randn(1, 4, 5, 3, 3)
    total, debiased = temporal_loss(pred, eps, anchor=2)
    assert torch.allclose(debiased, appearance_debiased_loss(pred, eps, 2))
    assert torch.allclose(total, F.mse_loss(pred, eps) + debiased)
    assert torch.allclose(spatial_loss(pred, eps), F.mse_loss(pred, eps))
