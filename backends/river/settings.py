"""Settings of a frame-prediction run and of training on your own clips. Light to import."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..core.paths import check_name
from ..core.settings import check_range
from .catalog import RELEASES

ENGINE = "river"
TRAIN_ENGINE = "river_train"
EMBEDDED_MODEL = "bouncing_balls"  # the model shipped in assets/
SAMPLER_CHOICES = ("rk4", "euler", "midpoint")
# The training job's stages, in order; each stage's metrics are named after it ("vector field loss").
TRAINING_STAGES = ("autoencoder", "vector field")


@dataclass(frozen=True)
class FramePredictionSettings:
    input: str = field(default="", metadata={"path": True, "help": "video (or folder of frames) whose first frames are the context"})
    images: tuple[str, ...] = field(default=(), metadata={"path": True, "help": "context as image files, in order (instead of --input)"})
    model: str = field(default=EMBEDDED_MODEL, metadata={"help": "model name from the list (releases: river_bair_64, ...)"})
    start_frame: int = field(default=0, metadata={"help": "first frame of the input used as context"})
    context_frames: int = field(default=2, metadata={"help": "frames given to the model"})
    predict_frames: int = field(default=8, metadata={"help": "frames to predict"})
    sampler: str = field(default="euler", metadata={"help": "rk4 (official, 100 steps) | euler | midpoint"})
    steps: int = field(default=8, metadata={"help": "sampler steps per frame (rk4: grid points)"})
    warm_start: float = field(default=0.0, metadata={"help": "start the ODE from the last frame at this time (0-0.9)"})
    samples: int = field(default=1, metadata={"help": "stochastic predictions, shown side by side"})
    seed: int = field(default=-1, metadata={"help": "random seed; -1 draws one and reports it"})
    fps: int = field(default=8, metadata={"help": "frames per second of the saved video"})
    save_frames: bool = field(default=False, metadata={"help": "also save every frame as a PNG (lossless)"})

    @property
    def sampler_settings(self):
        from .sampling import SamplerSettings  # torch lives there

        return SamplerSettings(self.sampler, self.steps, self.warm_start)

    def check_inputs(self, limits: Mapping[str, Any]) -> None:
        """Raise ValueError naming the first argument that is out of range (before any reading)."""
        if not str(self.input or "").strip() and not self.images:
            raise ValueError("input is missing: give a video, a folder of frames, or images")
        if self.sampler not in SAMPLER_CHOICES:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLER_CHOICES)}, got {self.sampler!r}")
        for name in ("start_frame", "context_frames", "predict_frames", "steps", "samples", "fps"):
            check_range(name, getattr(self, name), limits[name])
        check_range("warm_start", self.warm_start, (0.0, 0.9))
        self.sampler_settings.check()

    def check_for(self, video_frames: int) -> None:
        """What depends on the clip: enough frames for the context, and a usable sampler."""
        if self.context_frames < 1:
            raise ValueError(f"context_frames must be at least 1, got {self.context_frames}")
        if self.context_frames > video_frames:
            raise ValueError(f"context_frames is {self.context_frames} but the video has only {video_frames} frames")
        if self.predict_frames < 1:
            raise ValueError(f"predict_frames must be at least 1, got {self.predict_frames}")
        if self.samples < 1:
            raise ValueError(f"samples must be at least 1, got {self.samples}")
        self.sampler_settings.check()

    def gpu_seconds(self) -> int:
        nfe = self.sampler_settings.nfe_per_frame
        return int(20 + self.predict_frames * nfe * self.samples * 0.05)


@dataclass(frozen=True)
class RiverTrainingSettings:
    data: str = field(default="", metadata={"path": True, "help": "folder of videos (or of frame folders), or HDF5 in the official layout"})
    clips: tuple[str, ...] = field(default=(), metadata={"path": True, "help": "video files to train on (instead of --data)"})
    name: str = field(default="my_river", metadata={"help": "model name; it appears in the model list"})
    image_size: int = field(default=64, metadata={"help": "frames are centre-cropped to squares of this size"})
    frames_per_sample: int = field(default=10, metadata={"help": "frames per training clip"})
    autoencoder: str = field(
        default="train",
        metadata={"help": "'train' a small VQ-VAE first, a release name (bair_64, ...) for its official AE, or a path"},
    )
    autoencoder_steps: int = field(default=2000, metadata={"help": "autoencoder training steps"})
    steps: int = field(default=2000, metadata={"help": "vector-field training steps"})
    batch_size: int = field(default=16, metadata={"help": "clips per step"})
    learning_rate: float = field(default=5e-4, metadata={"help": "peak learning rate (AdamW)"})
    inner_dim: int = field(default=128, metadata={"help": "width of the vector-field transformer"})
    preview_every: int = field(default=250, metadata={"help": "steps between sample predictions"})
    save_every: int = field(default=100, metadata={"help": "steps between checkpoints"})
    resume: bool = field(default=True, metadata={"help": "continue a run of the same name"})
    seed: int = field(default=0, metadata={"help": "random seed"})

    def check_inputs(self, limits: Mapping[str, Any]) -> None:
        if not str(self.data or "").strip() and not self.clips:
            raise ValueError("data is missing: upload clips, or give a folder of videos or an HDF5 dataset")
        check_name("name", self.name)
        for name in ("image_size", "frames_per_sample", "autoencoder_steps", "steps", "batch_size", "inner_dim",
                     "preview_every", "save_every"):
            check_range(name, getattr(self, name), limits[name])
        if self.image_size % 16:
            raise ValueError(f"image_size must be a multiple of 16, got {self.image_size}")
        check_range("learning_rate", self.learning_rate, (1e-6, 1e-2))

    def gpu_seconds(self) -> int:
        return int(60 + (self.steps + (self.autoencoder_steps if self.autoencoder == "train" else 0)) * 0.2)


def weights_needed(settings: FramePredictionSettings, preset) -> list:
    """A release's weights when the chosen model is one; the embedded and trained models are here."""
    role = settings.model.removeprefix("river_")
    return [preset.models[role]] if settings.model.startswith("river_") and role in preset.models else []


def training_weights_needed(settings: RiverTrainingSettings, preset) -> list:
    """The release whose autoencoder the run reuses, if it reuses one."""
    release = RELEASES.get(settings.autoencoder)
    return [preset.models[release.name]] if release else []
