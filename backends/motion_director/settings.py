"""Settings of one MotionDirector training run. Light to import: no torch here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..core.paths import check_name, inside
from ..core.runtime import TRAINED_LORAS
from ..core.settings import check_choice, check_int, check_number, check_range, check_text

ENGINE = "motion_director"
QUALITY_PRESETS = ("low", "preferred", "best")
OPTIMIZERS = ("adamw", "lion")
PRECISIONS = ("fp16", "bf16", "no")
MAX_NAME_CHARS = 100


@dataclass(frozen=True)
class MotionLoraSettings:
    videos: tuple[str, ...] = field(metadata={"help": "training clip(s) with the same kind of motion", "flag": "video",
                                                      "path": True})
    prompt: str = field(metadata={"help": "what the clips show (a CLIP.txt beside a clip overrides it)"})
    name: str = field(default="my_motion", metadata={"help": "LoRA name: files go to outputs/loras/NAME/"})
    preset: str = field(default="preferred", metadata={"help": "quality: low (256², rank 32) | preferred (384²) | best (512²)"})
    steps: int = field(default=300, metadata={"help": "training steps (about 300 per clip; 500-700 for one clip)"})
    validation_prompt: str = field(default="", metadata={"help": "prompt of the sample videos (empty: the training prompt)"})
    validation_every: int = field(default=50, metadata={"help": "steps between sample videos"})
    checkpoint_every: int = field(default=100, metadata={"help": "steps between checkpoints"})
    rank: int = field(default=0, metadata={"help": "LoRA rank (0: the preset's)"})
    size: int = field(default=0, metadata={"help": "training size, long side in pixels (0: the preset's)"})
    lr_temporal: float = field(default=5e-4, metadata={"help": "temporal LoRA learning rate (AdamW; Lion uses 1/10)"})
    lr_spatial: float = field(default=1e-4, metadata={"help": "spatial LoRA learning rate (AdamW; Lion uses 1/10)"})
    optimizer: str = field(default="adamw", metadata={"help": "adamw | lion (needs the lion-pytorch package)"})
    frames: int = field(default=16, metadata={"help": "frames per training clip"})
    frame_step: int = field(default=3, metadata={"help": "take every N-th frame of the clip"})
    target_fps: float = field(default=0.0, metadata={"help": "pick the frame step for this fps instead (0: use frame_step)"})
    temporal_feed_forward: bool = field(default=True, metadata={"help": "also train the motion modules' feed-forward layers (diffusers file only)"})
    domain_adapter: bool = field(default=True, metadata={"help": "merge AnimateDiff v3's domain-adapter LoRA first"})
    gradient_checkpointing: bool = field(default=True, metadata={"help": "less memory, about 30% slower steps"})
    mixed_precision: str = field(default="fp16", metadata={"help": "fp16 | bf16 | no (on a GPU; the CPU trains in fp32)"})
    seed: int = field(default=42, metadata={"help": "random seed (also fixes the sample videos' noise)"})
    resume: bool = field(default=False, metadata={"help": "continue the run of this name from its checkpoint"})

    def check_inputs(self, limits: Mapping[str, Any]) -> None:
        """Raise ValueError naming the first argument that is wrong (before reading any clip)."""
        if not isinstance(self.videos, tuple) or not self.videos or not all(isinstance(v, str) and v for v in self.videos):
            raise ValueError(f"videos must be one or more video files, got {self.videos!r}")
        check_int("number of videos", len(self.videos), limits["videos"])
        for name in ("prompt", "validation_prompt", "name"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be text, got {getattr(self, name)!r}")
        check_text("prompt", self.prompt, limits["prompt_chars"])
        check_text("validation_prompt", self.validation_prompt, limits["prompt_chars"], required=False)
        check_name("name", self.name)
        if len(self.name) > MAX_NAME_CHARS:
            raise ValueError(f"name must use letters, digits, '-' and '_', at most {MAX_NAME_CHARS} characters")
        check_choice("preset", self.preset, QUALITY_PRESETS)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("mixed_precision", self.mixed_precision, PRECISIONS)
        for name in ("steps", "validation_every", "checkpoint_every", "frames", "frame_step", "seed"):
            check_int(name, getattr(self, name), limits[name])
        check_int("rank", self.rank, [0, limits["rank"][1]])
        if self.size:
            check_int("size", self.size, limits["size"])
            if self.size % 64:
                raise ValueError(f"size must be a multiple of 64, got {self.size}")
        for name in ("lr_temporal", "lr_spatial"):
            check_number(name, getattr(self, name), limits["learning_rate"])
        check_number("target_fps", self.target_fps, [0, 120])
        for name in ("temporal_feed_forward", "domain_adapter", "gradient_checkpointing", "resume"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")

    def gpu_seconds(self) -> int:
        """A ZeroGPU duration estimate: loading, about 2 s per step at 384², a sample every N steps."""
        samples = self.steps // max(1, self.validation_every) + 1
        return int(60 + self.steps * 2 + samples * 20)


def run_folder(output_root: Path, name: str) -> Path:
    """``outputs/loras/<name>``, refused if the name would lead outside it."""
    return inside(Path(output_root) / TRAINED_LORAS, name)


def file_names(name: str) -> dict[str, str]:
    return {"temporal": f"{name}_temporal.safetensors", "temporal_diffusers": f"{name}_temporal_diffusers.safetensors",
            "spatial": f"{name}_spatial.safetensors", "settings": f"{name}.json"}


def weights_needed(settings: MotionLoraSettings, preset) -> list:
    roles = ("base", "motion_adapter", "domain_adapter") if settings.domain_adapter else ("base", "motion_adapter")
    return [preset.models[role] for role in roles]
