"""Where models run and how: device, dtype, attention backend, offload — chosen in one place.

``choose_policy`` is a pure function of the facts it is given (environment, flags, what the
machine has), so every combination can be unit-tested without the hardware.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:  # torch loads on first use, not when the app starts
    import torch

OFFLOAD_MODES = ("none", "model", "sequential")
OFFLOAD_BELOW_GB = 24  # CUDA cards with less memory get model CPU offload by default
# Compute capabilities before Volta (7.0) with full-rate fp16: Jetson TX1 (5.3), P100 (6.0), Jetson TX2 (6.2).
# Other older cards (Maxwell, the P40/P4/GTX 10xx at 6.1) run fp16 at a small fraction of fp32.
FAST_FP16_BEFORE_VOLTA = ((5, 3), (6, 0), (6, 2))


def truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in {"1", "true", "t", "yes", "on"}


def on_zero_gpu(env: Mapping[str, str] = os.environ) -> bool:
    """True on a Hugging Face Space with ZeroGPU (the `spaces` package reads the same variable)."""
    return truthy(env.get("SPACES_ZERO_GPU"))


@dataclass(frozen=True)
class CudaCard:
    """What the policy needs to know of a CUDA card."""

    name: str
    capability: tuple[int, int]  # compute capability (major, minor)
    memory_gb: float  # total

    @property
    def bf16(self) -> bool:
        return self.capability >= (8, 0)  # Ampere on; older cards only emulate it

    @property
    def half_precision(self) -> bool:
        """Fast bf16 or fp16 arithmetic (not only storage)."""
        return self.capability >= (7, 0) or self.capability in FAST_FP16_BEFORE_VOLTA

    @classmethod
    def read(cls, index: int = 0) -> "CudaCard":
        props = torch_module().cuda.get_device_properties(index)
        return cls(props.name, (props.major, props.minor), props.total_memory / 2**30)


@dataclass(frozen=True)
class DevicePolicy:
    device: str  # "cuda" | "mps" | "cpu"
    offload: str  # one of OFFLOAD_MODES
    attention: str  # "sdpa" | "xformers"
    zero_gpu: bool = False
    bf16_supported: bool = False
    card: CudaCard | None = None  # the CUDA card, where it can be read (not on ZeroGPU outside a call)

    @property
    def preload(self) -> bool:
        """ZeroGPU wants weights placed on `cuda` at start-up, not on first use."""
        return self.zero_gpu

    @property
    def keep_models(self) -> int:
        """How many engines stay loaded. ZeroGPU's placement is virtual, so all of them;
        elsewhere the last-used one, so a second engine never doubles GPU memory."""
        return 1_000 if self.zero_gpu else 1

    def dtype(self, preferred: str = "fp16") -> torch.dtype:
        """fp32 on CPU (half precision is slow or unsupported there); fp16/bf16 on accelerators."""
        import torch

        if self.device == "cpu":
            return torch.float32
        if preferred == "bf16" and self.bf16_supported:
            return torch.bfloat16
        return torch.float16


def may_have_cuda() -> bool:
    """False where CUDA surely is absent (Linux without an NVIDIA driver or WSL's GPU device), so
    a CPU machine starts without importing torch; True where only torch can tell."""
    if not sys.platform.startswith("linux"):
        return True
    return any(Path(p).exists() for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg"))


def torch_module():
    import torch

    return torch


def default_offload(device: str, card: CudaCard | None) -> str:
    """Model CPU offload on a CUDA card under ``OFFLOAD_BELOW_GB`` (or of unknown size), none elsewhere."""
    if device != "cuda":
        return "none"
    return "model" if card is None or card.memory_gb < OFFLOAD_BELOW_GB else "none"


def choose_policy(
    env: Mapping[str, str] = os.environ,
    offload: str | None = None,
    cuda_available: bool | None = None,
    mps_available: bool | None = None,
    xformers_installed: bool | None = None,
    bf16_supported: bool | None = None,
    force_cpu: bool = False,
    card: CudaCard | None = None,
) -> DevicePolicy:
    """Pick the device policy; any fact left as ``None`` is read from this machine (the CUDA
    ``card`` only where the device is CUDA outside ZeroGPU)."""
    if offload is not None and offload not in OFFLOAD_MODES:
        raise ValueError(f"offload must be one of {OFFLOAD_MODES}, got {offload!r}")
    zero_gpu = on_zero_gpu(env)
    if cuda_available is None:
        cuda_available = not force_cpu and may_have_cuda() and torch_module().cuda.is_available()
    if mps_available is None:
        mps_available = (not force_cpu and sys.platform == "darwin"
                         and torch_module().backends.mps.is_available())
    if zero_gpu:
        # ZeroGPU: CUDA is emulated outside the decorated call; offload fights its packing.
        device, offload = "cuda", "none"
    elif force_cpu or not (cuda_available or mps_available):
        device, offload = "cpu", "none"
    else:
        device = "cuda" if cuda_available else "mps"
        if device == "cuda" and card is None:
            card = CudaCard.read()
        offload = offload or default_offload(device, card)
    if xformers_installed is None:
        xformers_installed = importlib.util.find_spec("xformers") is not None
    attention = "xformers" if (device == "cuda" and xformers_installed and not zero_gpu) else "sdpa"
    if device != "cuda":
        card = None
    if bf16_supported is None:
        bf16_supported = device == "cuda" and (zero_gpu or (card is not None and card.bf16))
    return DevicePolicy(device, offload, attention, zero_gpu, bool(bf16_supported), card)


def place_pipeline(pipe, policy: DevicePolicy) -> None:
    """Move a diffusers pipeline where the policy says, with its offload and attention choice."""
    if policy.offload == "model":
        pipe.enable_model_cpu_offload(device=policy.device)
    elif policy.offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=policy.device)
    else:
        pipe.to(policy.device)
    if policy.attention == "xformers":
        pipe.enable_xformers_memory_efficient_attention()


def free_memory(collect: bool = True) -> None:
    """Give freed tensors back to the allocator after a job ends or is stopped. ``collect`` also
    runs the garbage collector (a third of a second on a full heap): needed after a failure or a
    Stop, whose tracebacks hold tensors in reference cycles, not after a job that returned."""
    import torch

    if collect:
        import gc

        gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
