"""OnlyFlow generation: AnimateDiff v3 on SD1.5, with the motion of an input video's optical flow.

diffusers' ``AnimateDiffPipeline`` runs the denoising loop; OnlyFlow only adds its flow
processors to the UNet for the duration of the call, with the encoded flow in their context.
Generation starts from noise: the input video contributes its flow and nothing else.
Defaults are those of the official inference script.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from diffusers import AnimateDiffPipeline, DDIMScheduler

from backends.core.jobs import CancelToken
from backends.onlyflow.attention_processor import install_flow_processors
from backends.onlyflow.checkpoint import OnlyFlowAdapter
from backends.onlyflow.flow_encoder import encode_flow

NEGATIVE_PROMPT = "bad quality, worst quality"
# Flow is encoded at the latent grid and three halvings of it, so frames are multiples of 8 * 2**3.
SIZE_MULTIPLE = 64

# step (1-based), total steps, latents (B, C, F, h, w) after that step
StepCallback = Callable[[int, int, torch.Tensor], None]


@dataclass
class OnlyFlowSettings:
    """Everything one OnlyFlow generation needs besides the models and the flow."""

    prompt: str
    negative_prompt: str = NEGATIVE_PROMPT
    num_frames: int = 16  # generated frames = flows; the input video gives num_frames + 1 frames
    height: int = 512
    width: int = 512
    num_inference_steps: int = 30
    guidance_scale: float = 7.5
    gamma: float = 0.75  # flow strength: 0 is plain AnimateDiff, 1 the trained strength
    seed: int = 0
    fps: int = 8
    context_length: int = 16  # frames per FreeNoise / flow-encoder window
    context_stride: int = 12

    def check_inputs(self) -> None:
        """Raise ``ValueError`` naming the first argument that is out of range."""
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ValueError(f"prompt must be a non-empty string, got {self.prompt!r}")
        if not isinstance(self.negative_prompt, str):
            raise ValueError(f"negative_prompt must be a string, got {self.negative_prompt!r}")
        for name in ("height", "width"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0 or value % SIZE_MULTIPLE:
                raise ValueError(f"{name} must be a positive multiple of {SIZE_MULTIPLE}, got {value!r}")
        integer_minimums = {"num_frames": 1, "num_inference_steps": 1, "seed": 0, "fps": 1, "context_stride": 1}
        for name, minimum in integer_minimums.items():
            value = getattr(self, name)
            if not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be an integer of at least {minimum}, got {value!r}")
        if not isinstance(self.context_length, int) or not 1 <= self.context_length <= 16:
            raise ValueError(
                f"context_length must be an integer in 1..16 (the flow encoder's table), got {self.context_length!r}"
            )
        if self.context_stride > self.context_length:
            raise ValueError(
                f"context_stride must not exceed context_length {self.context_length}, got {self.context_stride}"
            )
        if not _is_number(self.guidance_scale) or self.guidance_scale < 0:
            raise ValueError(f"guidance_scale must be a number of at least 0, got {self.guidance_scale!r}")
        if not _is_number(self.gamma) or not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma must be a number in [0, 1], got {self.gamma!r}")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def onlyflow_scheduler() -> DDIMScheduler:
    """The official script's DDIM: linear betas, linspace spacing, steps offset 1, no clipping."""
    return DDIMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="linear",
        timestep_spacing="linspace",
        steps_offset=1,
        clip_sample=False,
    )


def build_pipeline(vae, text_encoder, tokenizer, unet, motion_adapter) -> AnimateDiffPipeline:
    """Assemble the pipeline from loaded components (``unet`` a ``UNetMotionModel`` or an SD1.5
    ``UNet2DConditionModel``). diffusers reads ``motion_adapter``'s config when it switches
    FreeNoise on, so it is required."""
    pipe = AnimateDiffPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        motion_adapter=motion_adapter,
        scheduler=onlyflow_scheduler(),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def set_free_noise(pipe: AnimateDiffPipeline, enabled: bool, context_length: int = 16, stride: int = 12) -> None:
    """Switch FreeNoise's windowed motion modules on (with these windows) or off."""
    if enabled:
        pipe.enable_free_noise(context_length=context_length, context_stride=stride)
    elif pipe.free_noise_enabled:
        # diffusers' disable_free_noise also visits the mid block, which in v3 has no motion
        # modules and fails; restore the down and up blocks' transformer blocks directly.
        for block in [*pipe.unet.down_blocks, *pipe.unet.up_blocks]:
            pipe._disable_free_noise_in_block(block)
        pipe._free_noise_context_length = None


def check_flow(flow: torch.Tensor, settings: OnlyFlowSettings) -> None:
    expected = (settings.num_frames, 2, settings.height, settings.width)
    if flow.ndim != 4 or tuple(flow.shape) != expected:
        raise ValueError(f"flow must have shape (frames, 2, height, width) = {expected}, got {tuple(flow.shape)}")
    if not torch.isfinite(flow).all():
        raise ValueError("flow contains NaN or infinite values")


@torch.no_grad()
def generate(
    pipe: AnimateDiffPipeline,
    adapter: OnlyFlowAdapter,
    flow: torch.Tensor | np.ndarray,
    settings: OnlyFlowSettings,
    on_step: StepCallback | None = None,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """Generate ``settings.num_frames`` frames (uint8, (F, H, W, 3)) whose motion follows ``flow``
    ((F, 2, H, W) pixel displacements at the working size, channel 0 = x).

    ``on_step`` is called after every denoising step; ``cancel`` is checked before the loop
    and after every step (``JobCancelled`` propagates). Clips longer than
    ``settings.context_length`` frames run through FreeNoise windows, each window's motion
    modules reading the flow of its own frames.
    """
    # 1. Check inputs
    settings.check_inputs()
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
        if on_step is not None:
            on_step(step + 1, settings.num_inference_steps, tensors["latents"])
        if cancel is not None:
            cancel.raise_if_cancelled()
        return {}

    # The adapter's context admits one generation at a time, before anything touches the UNet.
    with adapter.flow_context.use(features, settings.gamma):
        # 3. Long clips through FreeNoise (before installing: diffusers rebuilds the blocks)
        free_noise = settings.num_frames > settings.context_length
        set_free_noise(pipe, free_noise, settings.context_length, settings.context_stride)

        # 4. Denoise with the flow processors installed, then restore the UNet
        try:
            with install_flow_processors(pipe.unet, adapter.processors, adapter.flow_context):
                video = pipe(
                    prompt=settings.prompt,
                    negative_prompt=settings.negative_prompt,
                    num_frames=settings.num_frames,
                    height=settings.height,
                    width=settings.width,
                    num_inference_steps=settings.num_inference_steps,
                    guidance_scale=settings.guidance_scale,
                    generator=torch.Generator("cpu").manual_seed(settings.seed),
                    output_type="np",
                    callback_on_step_end=step_end,
                ).frames[0]
        finally:
            if free_noise:
                set_free_noise(pipe, False)

    # 5. Post-process
    return (np.clip(video, 0.0, 1.0) * 255.0).round().astype(np.uint8)
