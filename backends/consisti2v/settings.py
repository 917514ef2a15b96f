"""Settings of one image-to-video run. Light to import: no torch here.

Defaults are the official inference settings; limits come from `presets/consisti2v.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..core.settings import check_choice, check_int, check_multiple, check_number, check_range, check_text

ENGINE = "consisti2v"
SIZE_MULTIPLE = 64
FRAMES_PER_CHUNK = 16  # the released UNet's n_frames; the tiny demo UNet has the same
CAMERA_MOTIONS = ("none", "pan_left", "pan_right", "zoom_in", "zoom_out")
FILTERS = ("gaussian", "butterworth", "ideal", "box")
STREAM_LABEL = "finished chunks"  # the label of each chunk's video as it is streamed


@dataclass(frozen=True)
class ImageToVideoSettings:
    image: str = field(metadata={"path": True, "help": "the picture the video starts from (centre-cropped to width:height)"})
    prompt: str = field(metadata={"help": "what should happen in the video"})
    negative_prompt: str = field(default="", metadata={"help": "what to avoid"})
    width: int = field(default=256, metadata={"help": "width in pixels (multiple of 64)"})
    height: int = field(default=256, metadata={"help": "height in pixels (multiple of 64)"})
    steps: int = field(default=50, metadata={"help": "DDIM steps per chunk"})
    guidance_text: float = field(default=7.5, metadata={"help": "text guidance scale (CFG when above 1)"})
    guidance_image: float = field(default=1.0, metadata={"help": "first-frame guidance scale (3-way batch when above 1)"})
    seed: int = field(default=-1, metadata={"help": "random seed; -1 draws one and reports it"})
    fps: int = field(default=8, metadata={"help": "frames per second of the saved video"})
    chunks: int = field(default=1, metadata={"help": "16-frame chunks in a row: 1 = 16 frames, 2 = 31, 3 = 46, ..."})
    frame_stride: int = field(default=3, metadata={"help": "motion speed the model is conditioned on (1-5)"})
    frameinit: bool = field(default=True, metadata={"help": "FrameInit: take the noise's low frequencies from the image"})
    frameinit_noise_level: int = field(default=850, metadata={"help": "timestep FrameInit noises the image video to"})
    frameinit_filter: str = field(default="gaussian", metadata={"help": "FrameInit low-pass filter: " + " | ".join(FILTERS)})
    frameinit_d_s: float = field(default=0.25, metadata={"help": "FrameInit spatial cut-off"})
    frameinit_d_t: float = field(default=0.25, metadata={"help": "FrameInit temporal cut-off"})
    camera_motion: str = field(default="none", metadata={"help": "FrameInit camera motion: " + " | ".join(CAMERA_MOTIONS)})

    def check_inputs(self, limits: Mapping[str, Any]) -> None:
        """Raise ValueError naming the first argument that is wrong (before anything is read)."""
        if not str(self.image or "").strip():
            raise ValueError("image is missing: upload the picture the video should start from")
        check_text("prompt", self.prompt, limits["prompt_chars"])
        check_text("negative_prompt", self.negative_prompt, limits["prompt_chars"], required=False)
        for name in ("width", "height"):
            check_int(name, getattr(self, name), limits[name])
            check_multiple(name, getattr(self, name), SIZE_MULTIPLE)
        for name in ("steps", "fps", "chunks", "frame_stride", "frameinit_noise_level"):
            check_int(name, getattr(self, name), limits[name])
        check_int("seed", self.seed, (-1, 2**31 - 1))
        check_number("guidance_text", self.guidance_text, limits["guidance_text"])
        check_number("guidance_image", self.guidance_image, limits["guidance_image"])
        check_number("frameinit_d_s", self.frameinit_d_s, limits["frameinit_d"])
        check_number("frameinit_d_t", self.frameinit_d_t, limits["frameinit_d"])
        if not isinstance(self.frameinit, bool):
            raise ValueError(f"frameinit must be true or false, got {self.frameinit!r}")
        check_choice("frameinit_filter", self.frameinit_filter, FILTERS)
        check_choice("camera_motion", self.camera_motion, CAMERA_MOTIONS)
        if self.camera_motion != "none" and not self.frameinit:
            raise ValueError("camera_motion needs frameinit: the motion enters through FrameInit's video")

    @property
    def frames(self) -> int:
        return FRAMES_PER_CHUNK * self.chunks - self.chunks + 1

    def gpu_seconds(self) -> int:
        """A ZeroGPU duration estimate: UNet calls x pixels, plus loading and decoding."""
        branches = 3 if self.guidance_image > 1 else 2 if self.guidance_text > 1 else 1
        pixels = self.width * self.height / (256 * 256)
        return int(30 + self.chunks * (self.steps * branches * pixels * 0.12 + 4 * pixels))
