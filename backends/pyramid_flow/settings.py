"""Settings of one Pyramid Flow run (text-to-video, or image-to-video with ``image``). No torch here.

Defaults are the official pipeline's; limits, resolutions and the authors' recommended guidance
per resolution come from ``presets/pyramid_flow.yaml``. Duration is in seconds (24 fps): a run
generates 1 + 3·seconds latent frames ("units"), 1 + 8·(units − 1) video frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

from ..core.devices import OFFLOAD_MODES
from ..core.settings import check_choice, check_int, check_number, check_range, check_text

ENGINE = "pyramid_flow"
I2V_ENGINE = "pyramid_flow_i2v"
FPS = 24
FRAMES_PER_UNIT = 8
STAGES = 3  # of the pyramid: each unit is sampled at 1/4, 1/2 and full resolution
VARIANTS = ("miniflux", "sd3")
RESOLUTIONS = ("384p", "768p")
OFFLOADS = ("auto", *OFFLOAD_MODES)
# ZeroGPU estimates. A DiT step (guidance batch of 2) costs about this per 1000 image tokens (0.35 s
# at 384p for the last stage of unit 1, 1.5 s at 768p) plus a fixed part; loading; decoding one unit at 384p.
SECONDS_PER_KTOKEN_STEP = 0.17
SECONDS_PER_STEP = 0.05
LOAD_S = 90
DECODE_S_384P = 2.0
SUFFIX = ", hyper quality, Ultra HD, 8K"
NEGATIVE = (
    "cartoon style, worst quality, low quality, blurry, absolute black, absolute white, low res, extra limbs, "
    "extra digits, misplaced objects, mutated anatomy, monochrome, horror"
)


def units_for_seconds(seconds: float) -> int:
    """Latent frames of a video of about ``seconds`` at 24 fps (5 s -> 16 units, 121 frames)."""
    return 1 + max(1, round(seconds * FPS / FRAMES_PER_UNIT))


def resolution_sizes(demo: bool) -> dict[str, tuple[int, int]]:
    """(width, height) per resolution (``presets/pyramid_flow.yaml``); demo mode shrinks them."""
    from ..core.presets import load_preset

    preset = load_preset(ENGINE)
    sizes = dict(preset.extra["resolutions"])
    if demo:
        sizes.update(preset.extra.get("demo", {}).get("resolutions", {}))
    return {name: tuple(size) for name, size in sizes.items()}


def recommended_guidance() -> dict[str, dict[str, float]]:
    from ..core.presets import load_preset

    return load_preset(ENGINE).extra["recommended"]


@dataclass(frozen=True)
class PyramidFlowSettings:
    engine: ClassVar[str] = ENGINE
    prompt: str = field(metadata={"help": "what the video shows"})
    prompt_suffix: str = field(default=SUFFIX, metadata={"help": "appended to the prompt (the official pipeline always adds it)"})
    negative_prompt: str = field(default=NEGATIVE, metadata={"help": "what to avoid"})
    image: str = field(default="", metadata={"path": True, "help": "first frame for image-to-video; empty = text-to-video"})
    seconds: float = field(default=5.0, metadata={"help": "duration at 24 fps (384p up to 5 s, 768p up to 10 s)"})
    resolution: str = field(default="384p", metadata={"help": "384p (640x384) or 768p (1280x768)"})
    variant: str = field(default="miniflux", metadata={"help": "miniflux (default) or sd3"})
    guidance: float = field(default=0.0, metadata={"help": "first-frame guidance; 0 = recommended (7 at 384p, 9 at 768p)"})
    video_guidance: float = field(default=0.0, metadata={"help": "guidance of later frames; 0 = recommended (5, or 4 from an image)"})
    image_steps: int = field(default=20, metadata={"help": "steps per stage of the first frame"})
    video_steps: int = field(default=10, metadata={"help": "steps per stage of every later frame"})
    vae_tile: int = field(default=256, metadata={"help": "VAE decode tile in pixels (smaller = less memory)"})
    cpu_offload: str = field(default="auto", metadata={
        "help": "this run's CPU offload on CUDA: auto (the app's --offload, else model offload on cards under 24 GB), "
                "none, model or sequential (least VRAM, slowest)"})
    seed: int = field(default=-1, metadata={"help": "random seed; -1 draws one and reports it"})
    resume: bool = field(default=False, metadata={"help": "go on from the state saved when a GPU call's time ran out "
                                                          "(ZeroGPU sets it for the next call)"})

    def check_inputs(self, limits: Mapping[str, Any]) -> None:
        """Raise ValueError naming the first argument that is wrong."""
        check_text("prompt", self.prompt, limits["prompt_chars"])
        check_text("prompt_suffix", self.prompt_suffix, limits["prompt_chars"], required=False)
        check_text("negative_prompt", self.negative_prompt, limits["prompt_chars"], required=False)
        if not isinstance(self.image, str):
            raise ValueError(f"image must be a file path, got {self.image!r}")
        check_choice("variant", self.variant, VARIANTS)
        check_choice("resolution", self.resolution, RESOLUTIONS)
        check_choice("cpu_offload", self.cpu_offload, OFFLOADS)
        check_number(f"seconds (at {self.resolution})", self.seconds, limits["seconds"][self.resolution])
        for name in ("guidance", "video_guidance"):
            value = getattr(self, name)
            if value != 0:
                check_range(name, value, limits[name])
        for name in ("image_steps", "video_steps", "vae_tile"):
            check_int(name, getattr(self, name), limits[name])
        check_int("seed", self.seed, (-1, 2**31 - 1))

    @property
    def image_to_video(self) -> bool:
        return bool(self.image)

    @property
    def units(self) -> int:
        return units_for_seconds(self.seconds)

    @property
    def frames(self) -> int:
        return 1 + FRAMES_PER_UNIT * (self.units - 1)

    def guidance_scales(self, recommended: Mapping[str, Mapping[str, float]]) -> tuple[float, float]:
        """(first frame, later frames), 0 replaced by the authors' value for the resolution."""
        values = recommended[self.resolution]
        video_default = values["i2v_video_guidance"] if self.image_to_video else values["video_guidance"]
        return self.guidance or values["guidance"], self.video_guidance or video_default

    def unit_gpu_seconds(self, unit: int) -> tuple[float, float]:
        """ZeroGPU estimate of one unit: (DiT seconds, decode seconds). The DiT's cost follows its
        tokens: the unit's own at each stage, and its history (the newest unit at the stage's
        resolution, each older one a level lower, down to the lowest)."""
        width, height = resolution_sizes(False)[self.resolution]
        # image tokens of one frame at pyramid level 0 (smallest) to STAGES - 1 (full: latent /8, patches 2x2)
        per_frame = [(height // 16 >> (STAGES - 1 - level)) * (width // 16 >> (STAGES - 1 - level)) for level in range(STAGES)]
        decode = DECODE_S_384P * width * height / (640 * 384)
        if unit == 0 and self.image_to_video:
            return 0.0, decode  # the picture is encoded, not sampled
        steps = self.image_steps if unit == 0 else self.video_steps
        tokens = sum(steps * (per_frame[stage] + sum(per_frame[max(stage - back + 1, 0)] for back in range(1, unit + 1)))
                     for stage in range(STAGES))
        return tokens / 1000 * SECONDS_PER_KTOKEN_STEP + STAGES * steps * SECONDS_PER_STEP, decode

    def gpu_seconds(self) -> int:
        """ZeroGPU estimate of the whole run: loading, then every unit."""
        return int(LOAD_S + sum(sum(self.unit_gpu_seconds(unit)) for unit in range(self.units)))

    def gpu_resume_seconds(self) -> int:
        """What a resumed ZeroGPU call spends beyond the work left: loading again, decoding the
        frames so far again, and the unit the last call's end cut short, done over."""
        costs = [self.unit_gpu_seconds(unit) for unit in range(self.units)]
        return int(LOAD_S + sum(decode for _, decode in costs) + max(dit for dit, _ in costs))


@dataclass(frozen=True)
class PyramidFlowI2VSettings(PyramidFlowSettings):
    """Image-to-video: the image is required (it becomes the first latent frame)."""

    engine: ClassVar[str] = I2V_ENGINE

    def check_inputs(self, limits: Mapping[str, Any]) -> None:
        if not str(self.image or "").strip():
            raise ValueError("image is missing: upload the picture the video starts from")
        super().check_inputs(limits)


def weights_needed(settings: PyramidFlowSettings, preset) -> list:
    """The one snapshot this run needs: the variant's repo with the resolution's DiT."""
    return [preset.models[f"{settings.variant}_{settings.resolution}"]]
