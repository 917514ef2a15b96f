"""OnlyFlow generation: AnimateDiff v3 on SD1.5, with the motion of an input video's optical flow.

diffusers' ``AnimateDiffPipeline`` (the one the long-video tab loads, shared) runs the denoising
loop; OnlyFlow only adds its flow processors to the UNet for the duration of the call, with the
encoded flow in their context. Generation starts from noise: the input video contributes its
flow and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from diffusers import AnimateDiffPipeline
from PIL import Image

from ..animatediff.pipeline import configure_free_noise, denoise
from ..core.jobs import CancelToken
from .attention_processor import install_flow_processors
from .checkpoint import OnlyFlowAdapter
from .flow_encoder import encode_flow
from .settings import FlowVideoSettings

# step (1-based), total steps, latents (B, C, F, h, w) after that step
StepCallback = Callable[[int, int, torch.Tensor], None]


def check_flow(flow: torch.Tensor, settings: FlowVideoSettings) -> None:
    expected = (settings.frames, 2, settings.height, settings.width)
    if flow.ndim != 4 or tuple(flow.shape) != expected:
        raise ValueError(f"flow must have shape (frames, 2, height, width) = {expected}, got {tuple(flow.shape)}")
    if not torch.isfinite(flow).all():
        raise ValueError("flow contains NaN or infinite values")


@torch.no_grad()
def generate(
    pipe: AnimateDiffPipeline,
    adapter: OnlyFlowAdapter,
    flow: torch.Tensor | np.ndarray,
    settings: FlowVideoSettings,
    gamma: float | None = None,
    on_step: StepCallback | None = None,
    cancel: CancelToken | None = None,
    attention: str = "sdpa",
    ip_adapter_image: Image.Image | None = None,
) -> torch.Tensor:
    """Denoise ``settings.frames`` frames whose motion follows ``flow`` ((F, 2, H, W) pixel
    displacements at the working size, channel 0 = x) at flow strength ``gamma`` (default
    ``settings.gamma``); returns the final latents (1, C, F, h, w).

    ``on_step`` is called after every denoising step; ``cancel`` is checked before the loop
    at every step boundary (Stop interrupts the pipeline there; ``JobCancelled`` is raised
    after it returns). Clips longer than
    ``settings.context_length`` frames run through FreeNoise windows, each window's motion
    modules reading the flow of its own frames. ``ip_adapter_image`` is the reference image
    for an IP-Adapter already loaded into ``pipe`` (loading it rebuilds the UNet's processors,
    so it happens before this call, never during it).
    """
    gamma = settings.gamma if gamma is None else gamma
    # 1. Check the flow against the settings
    flow = torch.as_tensor(flow, dtype=torch.float32)
    check_flow(flow, settings)

    # 2. Encode the flow (in windows when longer than context_length), once for all steps
    encoder_parameter = next(adapter.flow_encoder.parameters())
    flow = flow.to(device=encoder_parameter.device, dtype=encoder_parameter.dtype)
    features = encode_flow(
        adapter.flow_encoder, flow.transpose(0, 1).unsqueeze(0), settings.context_length, settings.context_stride
    )
    if cancel is not None:
        cancel.raise_if_cancelled()

    def step_end(pipe, step, timestep, tensors):
        if cancel is not None and cancel.cancelled:
            pipe._interrupt = True  # the pipeline's own stop: its loop ends, its models still offload
        elif on_step is not None:
            on_step(step + 1, settings.steps, tensors["latents"])
        return {}

    # The adapter's context admits one generation at a time, before anything touches the UNet.
    with adapter.flow_context.use(features, gamma):
        # 3. Long clips through FreeNoise (before installing: diffusers rebuilds the blocks)
        configure_free_noise(pipe, settings.frames, settings.context_length, settings.context_stride, attention)

        # 4. Denoise with the flow processors installed; they are removed afterwards
        with install_flow_processors(pipe.unet, adapter.processors, adapter.flow_context):
            latents = denoise(pipe, settings, step_end, ip_adapter_image=ip_adapter_image)
    if cancel is not None:
        cancel.raise_if_cancelled()
    return latents
