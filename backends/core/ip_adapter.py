"""The SD1.5 IP-Adapter (``h94/IP-Adapter``): a reference image steers a diffusers pipeline's
spatial cross-attention next to the prompt.

diffusers' ``load_ip_adapter`` and ``unload_ip_adapter`` rebuild the attention processors of the
whole UNet, so they must run before other processors are installed (OnlyFlow's), never while
they are. Afterwards the pipeline is placed again: its offload hooks and attention backend must
cover the new image encoder and processors.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from .checkpoints import CheckpointError
from .devices import DevicePolicy, place_pipeline
from .video_io import VideoError, read_images

SUBFOLDER = "models"
WEIGHT_NAMES = ("ip-adapter_sd15.safetensors", "ip-adapter_sd15.bin")  # safetensors first
IMAGE_ENCODER = "image_encoder"  # a folder inside SUBFOLDER


def weights_file(folder: str | Path) -> Path:
    """The IP-Adapter weights in a copy of the repository: the safetensors file when present."""
    for name in WEIGHT_NAMES:
        path = Path(folder) / SUBFOLDER / name
        if path.is_file():
            return path
    raise CheckpointError(f"no IP-Adapter weights in {Path(folder) / SUBFOLDER}: expected {' or '.join(WEIGHT_NAMES)}")


def read_reference_image(path: str | Path) -> Image.Image:
    """The reference image in RGB; a missing or unreadable file is a ``VideoError`` saying so."""
    try:
        frames = read_images([path]).frames
    except VideoError as error:
        raise VideoError(f"reference image: {error}") from None
    return Image.fromarray(frames[0])


def configure_ip_adapter(pipe, policy: DevicePolicy, folder: str | Path | None = None, scale: float = 0.5) -> Path | None:
    """Load the IP-Adapter in ``folder`` at ``scale``, or unload it when ``folder`` is None.

    The loaded weights file is kept on the pipeline (``_flowstudio_ip_adapter``), so repeated
    jobs with the same adapter only set the scale. Returns the weights file in use.
    """
    wanted = weights_file(folder) if folder is not None else None
    loaded = getattr(pipe, "_flowstudio_ip_adapter", None)
    if loaded != wanted:
        if loaded is not None:
            pipe.unload_ip_adapter()
            pipe._flowstudio_ip_adapter = None
        if wanted is not None:
            pipe.load_ip_adapter(folder, subfolder=SUBFOLDER, weight_name=wanted.name, image_encoder_folder=IMAGE_ENCODER)
            pipe._flowstudio_ip_adapter = wanted
        place_pipeline(pipe, policy)
    if wanted is not None:
        pipe.set_ip_adapter_scale(scale)
    return wanted
