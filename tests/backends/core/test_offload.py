"""CPU offload of plain torch modules: the hooks run on a CPU machine too (device "cpu"), and the
outputs are those of modules that never move."""

import pytest
import torch
from torch import nn

from backends.core.offload import Placement


class Coder(nn.Module):
    """Used like a VAE: through its parts, never its own forward."""

    def __init__(self):
        super().__init__()
        self.encoder, self.decoder = nn.Linear(4, 4), nn.Sequential(nn.Linear(4, 4), nn.GELU(), nn.Linear(4, 4))


def modules(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4)), Coder()


def outputs(net, coder, x):
    return coder.decoder(net(coder.encoder(x)))


@pytest.mark.parametrize("mode", ["none", "model", "sequential"])
def test_every_offload_mode_gives_the_outputs_of_unmoved_modules(mode):
    x = torch.randn(5, 4)
    expected = outputs(*modules(), x)
    net, coder = modules()
    placement = Placement([net, coder], "cpu", mode)
    with torch.no_grad():
        assert torch.equal(outputs(net, coder, x), expected)
    if mode == "sequential":  # the weights wait off the device (on meta) and come in per layer
        assert all(p.is_meta for p in (*net.parameters(), *coder.parameters()))


def test_model_offload_keeps_one_module_on_the_device_moving_it_when_one_of_its_parts_runs():
    net, coder = modules()
    placement = Placement([net, coder], "cpu", "model")
    x = torch.randn(2, 4)
    coder.encoder(x)  # a part of the coder runs: the coder comes in
    assert placement.active is coder and placement.moves == 1
    coder.decoder(torch.randn(2, 4))
    assert placement.moves == 1  # already there
    net(x)
    assert placement.active is net and placement.moves == 2
    placement.release()
    assert placement.active is None


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="offload must be one of"):
        Placement([nn.Linear(2, 2)], "cpu", "disk")
