"""ConsistI2V image-to-video: the official sampling (scripts/animate.py and its autoregressive
variant) around our UNet, with diffusers' VAE and DDIM and transformers' CLIP text encoder.

One ``__call__`` makes ``chunks`` videos of ``n_frames`` in a row: the last generated latent of
a chunk is the next chunk's conditioning frame (no decode/encode round trip), FrameInit takes
its low frequencies from it, and the noise continues the same generator. Each finished chunk is
decoded and handed to ``on_chunk`` before the next starts, so it can be shown while that renders.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from diffusers import DiffusionPipeline

from .camera_motion import camera_motion_video
from .sampling import FrameInitOptions, Guidance, generate_chunk


@dataclass(frozen=True)
class SamplingOptions:
    steps: int = 50
    guidance: Guidance = Guidance()
    frame_stride: int = 3
    frameinit: FrameInitOptions | None = FrameInitOptions()
    camera_motion: str = "none"  # shapes FrameInit's video of the first chunk
    noise_alpha: float = 1.0


class ConsistI2VPipeline(DiffusionPipeline):
    model_cpu_offload_seq = "text_encoder->unet->vae"

    def __init__(self, vae, text_encoder, tokenizer, unet, scheduler):
        super().__init__()
        self.register_modules(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler)

    @property
    def frames_per_chunk(self) -> int:
        return self.unet.config.n_frames

    def encode_prompt(self, prompt: str, negative_prompt: str = "") -> tuple[torch.Tensor, torch.Tensor]:
        """(cond, uncond) text embeddings (1, 77, D): the text encoder's last hidden state."""

        def encode(text: str) -> torch.Tensor:
            ids = self.tokenizer(text, padding="max_length", max_length=self.tokenizer.model_max_length,
                                 truncation=True, return_tensors="pt").input_ids
            return self.text_encoder(ids.to(self._execution_device))[0]

        with torch.no_grad():
            return encode(prompt), encode(negative_prompt or "")

    def encode_first_frame(self, pixels: np.ndarray, generator: torch.Generator, camera_motion: str = "none"):
        """uint8 (H, W, 3) -> (conditioning latent (1, 4, h, w), FrameInit's motion video or None).

        A sample of the VAE posterior (not its mean), times the scaling factor, as the official code."""
        image = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        image = image.to(self._execution_device, self.vae.dtype)
        if camera_motion != "none":
            image = camera_motion_video(image, camera_motion, self.frames_per_chunk)[0].transpose(0, 1)
        with torch.no_grad():
            latents = self.vae.encode(image).latent_dist.sample(generator) * self.vae.config.scaling_factor
        if camera_motion == "none":
            return latents, None
        video = latents.transpose(0, 1)[None]  # (1, 4, T, h, w)
        return video[:, :, 0], video

    def decode_latents(self, latents: torch.Tensor) -> np.ndarray:
        """(1, 4, T, h, w) -> uint8 (T, H, W, 3), one frame at a time."""
        frames = []
        with torch.no_grad():
            for index in range(latents.shape[2]):
                frame = self.vae.decode(latents[:, :, index].to(self.vae.dtype) / self.vae.config.scaling_factor).sample
                frames.append(((frame / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 0).float().cpu().numpy() * 255).round())
        return np.stack(frames).astype(np.uint8)

    def __call__(
        self,
        first_frame: np.ndarray,
        prompt: str,
        negative_prompt: str = "",
        options: SamplingOptions = SamplingOptions(),
        chunks: int = 1,
        generator: torch.Generator | None = None,
        on_step: Callable[[int, int, int, torch.Tensor], None] | None = None,
        on_chunk: Callable[[int, torch.Tensor, np.ndarray], None] | None = None,
    ) -> torch.Tensor:
        """Latents (1, 4, N, h, w) of the whole video, N = chunks·(T−1) + 1; frame 0 is the
        first frame's latent. ``on_step(chunk, step, total, latents)`` runs after every DDIM step
        (raising there stops at that step), ``on_chunk(chunk, latents, frames)`` with each
        finished chunk's latents and decoded frames (the repeated conditioning frame left out after the first)."""
        # 1. Encode the prompt and the first frame (its posterior sample is drawn before the noise)
        generator = generator or torch.Generator().manual_seed(0)
        cond, uncond = self.encode_prompt(prompt, negative_prompt)
        condition, motion_video = self.encode_first_frame(first_frame, generator, options.camera_motion)
        dtype = self.unet.dtype

        # 2. Denoise chunk by chunk; each one starts from the last frame of the one before
        videos = []
        for chunk in range(chunks):
            callback = (lambda i, t, latents, chunk=chunk: on_step(chunk, i + 1, options.steps, latents)) if on_step else None
            with torch.no_grad():
                video = generate_chunk(
                    self.unet, self.scheduler, options.steps, condition.to(dtype), cond.to(dtype), uncond.to(dtype),
                    generator, options.guidance, options.frame_stride, options.frameinit,
                    static_video=motion_video if chunk == 0 else None, noise_alpha=options.noise_alpha,
                    callback=callback,
                )
            new = video if chunk == 0 else video[:, :, 1:]
            videos.append(new)
            if on_chunk is not None:
                on_chunk(chunk, new, self.decode_latents(new))
            condition = video[:, :, -1]
        self.maybe_free_model_hooks()
        return torch.cat(videos, dim=2)


def load_consisti2v(runtime, emit: Callable = lambda event: None) -> ConsistI2VPipeline:
    """The pipeline from ``TIGER-Lab/ConsistI2V`` (or its demo stand-in), placed by the device
    policy; loaded once, then cached. The UNet is ours, loaded strictly; the DDIM schedule is
    the official inference one."""
    from diffusers import AutoencoderKL
    from transformers import CLIPTextModel, CLIPTokenizer

    from ..core.devices import place_pipeline
    from ..core.jobs import Log, Progress
    from ..core.presets import load_preset
    from .checkpoint import UNET_SUBFOLDER, load_unet
    from .sampling import ddim_scheduler
    from .settings import ENGINE

    def load():
        preset = load_preset(ENGINE)
        dtype = runtime.policy.dtype(preset.extra.get("precision", "fp16"))
        folder = runtime.sources.resolve(preset.models["consisti2v"], preset.label, emit)
        emit(Progress(0, 3, "loading models"))
        text_encoder = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", torch_dtype=dtype)
        tokenizer = CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer")
        vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", torch_dtype=dtype)
        emit(Progress(1, 3, "loading models"))
        unet = load_unet(folder / UNET_SUBFOLDER, dtype=dtype)
        emit(Progress(2, 3, "loading models"))
        pipe = ConsistI2VPipeline(vae, text_encoder, tokenizer, unet, ddim_scheduler())
        # xformers would replace the first-frame attention processors: SDPA always
        place_pipeline(pipe, dataclasses.replace(runtime.policy, attention="sdpa"))
        emit(Progress(3, 3, "loading models"))
        emit(Log(f"loaded {preset.models['consisti2v'].repo} ({runtime.policy.device}, {str(dtype).removeprefix('torch.')})"))
        return pipe

    return runtime.models.get(ENGINE, load)
