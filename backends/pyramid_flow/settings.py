"""Settings of one Pyramid Flow run (text-to-video, or image-to-video with ``image``). No torch here.

Defaults are the official pipeline's; limits, resolutions and the authors' recommended guidance
per resolution come from ``presets/pyramid_flow.yaml``. Duration is in seconds (24 fps): a run
generates 1 + 3·seconds latent frames ("units"), 1 + 8·(units − 1) video frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

from ..core.settings import check_range, check_text

ENGINE = "pyramid_flow"
I2V_ENGINE = "pyramid_flow_i2v"
FPS = 24
FRAMES_PER_UNIT = 8
VARIANTS = ("miniflux", "sd3")
RESOLUTIONS = ("384p", "768p")
SUFFIX = ", hyper quality, Ultra HD, 8K"
NEGATIVE = (
    "cartoon style, worst quality, low quality, blurry, absolute black, absolute white, low res, extra limbs, "
    "extra digits, misplaced objects, mutated anatomy, monochrome, horror"
)


def _check_int(name: str, value: Any, bounds) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    check_range(name, value, bounds)


def _check_choice(name: str, value: Any, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


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
    seed: int = field(default=-1, metadata={"help": "random seed; -1 draws one and reports it"})

    def check_inputs(self, limits: Mapping[str, Any]) -> None:
        """Raise ValueError naming the first argument that is wrong."""
        check_text("prompt", self.prompt, limits["prompt_chars"])
        check_text("prompt_suffix", self.prompt_suffix, limits["prompt_chars"], required=False)
        check_text("negative_prompt", self.negative_prompt, limits["prompt_chars"], required=False)
        if not isinstance(self.image, str):
            raise ValueError(f"image must be a file path, got {self.image!r}")
        _check_choice("variant", self.variant, VARIANTS)
        _check_choice("resolution", self.resolution, RESOLUTIONS)
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float)):
            raise ValueError(f"seconds must be a number, got {self.seconds!r}")
        check_range(f"seconds (at {self.resolution})", self.seconds, limits["seconds"][self.resolution])
        for name in ("guidance", "video_guidance"):
            value = getattr(self, name)
            if value != 0:
                check_range(name, value, limits[name])
        for name in ("image_steps", "video_steps", "vae_tile"):
            _check_int(name, getattr(self, name), limits[name])
        _check_int("seed", self.seed, (-1, 2**31 - 1))

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

    def gpu_seconds(self) -> int:
        """ZeroGPU estimate: loading, then DiT steps (3 stages; history makes later ones dearer), decode."""
        per_step = 0.35 if self.resolution == "384p" else 1.5
        steps = 3 * (0 if self.image_to_video else self.image_steps) + 3 * self.video_steps * (self.units - 1)
        history = 1 + 0.5 * (self.units - 1) / 2  # attention over the history grows with the unit index
        return int(90 + steps * per_step * history + 2 * self.units)


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
