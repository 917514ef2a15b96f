"""Settings of one AnimateDiff + FreeNoise run. Light to import: no torch here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..core.loras import LoraChoice
from ..core.settings import check_multiple, check_range, check_text

ENGINE = "animatediff"


@dataclass(frozen=True)
class LongVideoSettings:
    prompt: str = field(metadata={"help": "what the video shows"})
    negative_prompt: str = field(default="bad quality, worst quality", metadata={"help": "what to avoid"})
    frames: int = field(default=32, metadata={"help": "number of frames (FreeNoise above the context length)"})
    steps: int = field(default=25, metadata={"help": "denoising steps"})
    guidance: float = field(default=7.5, metadata={"help": "classifier-free guidance scale"})
    width: int = field(default=512, metadata={"help": "width in pixels (multiple of 8)"})
    height: int = field(default=512, metadata={"help": "height in pixels (multiple of 8)"})
    seed: int = field(default=-1, metadata={"help": "random seed; -1 draws one and reports it"})
    fps: int = field(default=8, metadata={"help": "frames per second of the saved video"})
    context_length: int = field(default=16, metadata={"help": "FreeNoise window length (frames)"})
    context_stride: int = field(default=4, metadata={"help": "FreeNoise window stride (frames)"})
    loras: tuple[LoraChoice, ...] = field(default=(), metadata={"help": "motion/spatial LoRAs as SOURCE[:WEIGHT]"})

    def check_inputs(self, limits: Mapping[str, Any]) -> None:
        """Raise ValueError naming the first argument that is out of range."""
        check_text("prompt", self.prompt, limits["prompt_chars"])
        check_text("negative_prompt", self.negative_prompt, limits["prompt_chars"], required=False)
        check_range("frames", self.frames, limits["frames"])
        check_range("steps", self.steps, limits["steps"])
        check_range("guidance", self.guidance, limits["guidance"])
        for name in ("width", "height"):
            check_range(name, getattr(self, name), limits[name])
            check_multiple(name, getattr(self, name), limits["size_multiple"])
        check_range("fps", self.fps, limits["fps"])
        check_range("context_length", self.context_length, (8, 32))
        check_range("context_stride", self.context_stride, (1, self.context_length))
        for lora in self.loras:
            check_range(f"weight of LoRA {lora.source}", lora.weight, (-2.0, 2.0))

    @property
    def uses_free_noise(self) -> bool:
        return self.frames > self.context_length

    def gpu_seconds(self) -> int:
        """A ZeroGPU duration estimate: about 0.1 s per step per 16 frames at 512², plus loading."""
        windows = max(1, 1 + -(-(self.frames - self.context_length) // self.context_stride)) if self.uses_free_noise else 1
        pixels = self.width * self.height / (512 * 512)
        return int(30 + self.steps * windows * pixels * 0.35 * 2)
