"""CPU offload for models that are not diffusers pipelines (diffusers' own is ``place_pipeline``),
by the device policy's modes:

- ``none``: every module on the device;
- ``model``: every module in CPU memory; when one of its parts runs, a module moves to the device
  and the one that was there goes back, so one big model at a time holds GPU memory;
- ``sequential``: accelerate's ``cpu_offload``: each layer's weights come to the device for its
  own forward only (least GPU memory, slowest).

Inputs are made on ``Placement.device`` by the caller; a module's parameters may be on the CPU
(``model``) or on ``meta`` (``sequential``) between calls.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .devices import OFFLOAD_MODES


class Placement:
    """Where ``modules`` run (``device``) and how they wait between calls (``mode``)."""

    def __init__(self, modules: Sequence[nn.Module], device: str | torch.device, mode: str = "none"):
        if mode not in OFFLOAD_MODES:
            raise ValueError(f"offload must be one of {OFFLOAD_MODES}, got {mode!r}")
        self.device, self.mode = torch.device(device), mode
        self.active: nn.Module | None = None  # model mode: the module on the device
        self.moves = 0  # model mode: modules moved to the device so far
        for module in modules:
            if mode == "none":
                module.to(self.device)
            elif mode == "model":
                module.to("cpu")
                # the module itself and its direct parts: a VAE runs through its encoder and decoder
                for part in (module, *module.children()):
                    part.register_forward_pre_hook(lambda _part, _args, owner=module: self.activate(owner))
            else:
                from accelerate import cpu_offload

                cpu_offload(module, execution_device=self.device)

    def activate(self, module: nn.Module) -> None:
        """Model mode: ``module`` onto the device, the one there before back to the CPU."""
        if self.active is module:
            return
        if self.active is not None:
            self.active.to("cpu")
        module.to(self.device)
        self.active, self.moves = module, self.moves + 1

    def release(self) -> None:
        """Model mode: nothing left on the device (after a run)."""
        if self.active is not None:
            self.active.to("cpu")
            self.active = None
