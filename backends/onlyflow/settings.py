"""Settings of one OnlyFlow run (or gamma sweep). Light to import: no torch here.

Defaults are the official inference script's; limits come from `presets/onlyflow.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..core.loras import LoraChoice
from ..core.settings import check_multiple, check_range, check_text

ENGINE = "onlyflow"
# Flow is encoded at the latent grid and three halvings of it: frames are multiples of 8 * 2**3.
SIZE_MULTIPLE = 64
ENCODER_POSITIONS = 16  # the flow encoder's position table: at most 16 frames per window


@dataclass(frozen=True)
class FlowVideoSettings:
    video: str = field(metadata={"path": True, "help": "input video whose motion (optical flow) guides the result"})
    prompt: str = field(metadata={"help": "what the new video shows"})
    negative_prompt: str = field(default="bad quality, worst quality", metadata={"help": "what to avoid"})
    gamma: float = field(default=0.75, metadata={"help": "flow strength: 0 = plain AnimateDiff, 1 = full"})
    frames: int = field(default=16, metadata={"help": "frames to generate (the video gives frames + 1)"})
    fps: int = field(default=8, metadata={"help": "fps the input is sampled at, and of the output"})
    width: int = field(default=512, metadata={"help": "width in pixels (multiple of 64)"})
    height: int = field(default=512, metadata={"help": "height in pixels (multiple of 64)"})
    steps: int = field(default=30, metadata={"help": "denoising steps"})
    guidance: float = field(default=7.5, metadata={"help": "classifier-free guidance scale"})
    seed: int = field(default=-1, metadata={"help": "random seed; -1 draws one and reports it"})
    context_length: int = field(default=16, metadata={"help": "FreeNoise / flow-encoder window (frames, at most 16)"})
    context_stride: int = field(default=12, metadata={"help": "FreeNoise window stride (frames)"})
    loras: tuple[LoraChoice, ...] = field(default=(), metadata={"help": "motion/spatial LoRAs as SOURCE[:WEIGHT]"})
    reference_image: str = field(
        default="", metadata={"path": True, "help": "image whose look the result takes (IP-Adapter); empty = none"}
    )
    ip_adapter_scale: float = field(default=0.5, metadata={"help": "how strongly the reference image steers"})
    sweep: tuple[float, ...] = field(
        default=(), metadata={"help": "gamma sweep: render the same seed at each of these gammas, side by side"}
    )

    def check_inputs(self, limits: Mapping[str, Any]) -> None:
        """Raise ValueError naming the first argument that is out of range."""
        if not str(self.video or "").strip():
            raise ValueError("video is missing: upload the clip whose motion should be followed")
        check_text("prompt", self.prompt, limits["prompt_chars"])
        check_text("negative_prompt", self.negative_prompt, limits["prompt_chars"], required=False)
        for gamma in (self.gamma, *self.sweep):
            check_range("gamma", gamma, (0.0, 1.0))
        if len(self.sweep) > limits["sweep_max"]:
            raise ValueError(f"sweep has {len(self.sweep)} gammas, at most {limits['sweep_max']}")
        check_range("frames", self.frames, limits["frames"])
        check_range("fps", self.fps, limits["fps"])
        for name in ("width", "height"):
            check_range(name, getattr(self, name), limits[name])
            check_multiple(name, getattr(self, name), SIZE_MULTIPLE)
        check_range("steps", self.steps, limits["steps"])
        check_range("guidance", self.guidance, limits["guidance"])
        check_range("context_length", self.context_length, (2, ENCODER_POSITIONS))
        check_range("context_stride", self.context_stride, (1, self.context_length))
        for lora in self.loras:
            check_range(f"weight of LoRA {lora.source}", lora.weight, (-2.0, 2.0))
        check_range("ip_adapter_scale", self.ip_adapter_scale, limits["ip_adapter_scale"])

    @property
    def gammas(self) -> tuple[float, ...]:
        """The gammas to render: the sweep if one is asked for, else the single gamma."""
        return self.sweep or (self.gamma,)

    def gpu_seconds(self) -> int:
        """A ZeroGPU duration estimate: steps x windows x pixels, per gamma, plus flow and loading."""
        windows = 1 if self.frames <= self.context_length else 1 + -(-(self.frames - self.context_length) // self.context_stride)
        pixels = self.width * self.height / (512 * 512)
        loading = 60 if self.reference_image else 40  # the IP-Adapter's image encoder is 2.5 GB
        return int(loading + len(self.gammas) * self.steps * windows * pixels * 0.8)
