"""The released OnlyFlow weights: the container layout, strict loading, and a safetensors twin.

The official file (``obvious-research/onlyflow``, ``weights_fp16.ckpt`` / ``weights_fp32.ckpt``)
is a torch pickle of a plain dict with two state dicts:

- ``flow_encoder_state_dict``: the ``FlowEncoder``;
- ``attention_processor_state_dict``: the ``qkv_merge`` of every flow processor, keyed by its
  UNet path (``down_blocks.0.motion_modules.0.transformer_blocks.0.attn1.processor.qkv_merge.weight``).

Training checkpoints also carry ``epoch``, ``global_step`` and ``optimizer_state_dict``; those
are ignored. Any other top-level key is an error, as is any missing, unexpected or mis-shaped
tensor.

Safetensors twin (our layout, written by ``convert_to_safetensors``): one flat file whose keys
are the two state dicts' keys prefixed ``flow_encoder.`` and ``attention_processor.``, dtypes
unchanged, metadata ``{"format": "pt", "layout": "onlyflow-container-v1"}``. When a ``.ckpt``
has a twin with the same stem next to it, the twin is read instead (no unpickling at all).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from backends.core.checkpoints import CheckpointError, check_state_dict, load_checkpoint, select_prefix
from backends.onlyflow.attention_processor import FlowAdaptorAttnProcessor, FlowContext, FlowProcessorSpec
from backends.onlyflow.flow_encoder import FlowEncoder

HUB_REPO = "obvious-research/onlyflow"
HUB_FILE_FP16 = "weights_fp16.ckpt"
HUB_FILE_FP32 = "weights_fp32.ckpt"
# The base models OnlyFlow was trained on (the official inference script's defaults).
BASE_MODEL_REPO = "stable-diffusion-v1-5/stable-diffusion-v1-5"
MOTION_ADAPTER_REPO = "guoyww/animatediff-motion-adapter-v1-5-3"

ENCODER_KEY = "flow_encoder_state_dict"
PROCESSORS_KEY = "attention_processor_state_dict"
TRAINING_KEYS = frozenset({"epoch", "global_step", "optimizer_state_dict"})
SAFETENSORS_PREFIXES = {ENCODER_KEY: "flow_encoder.", PROCESSORS_KEY: "attention_processor."}
SAFETENSORS_LAYOUT = "onlyflow-container-v1"

# The released encoder (manifest ``flow_encoder_config``); widths match SD1.5's UNet blocks.
FLOW_ENCODER_CONFIG = {
    "downscale_factor": 8,
    "channels": [320, 640, 1280, 1280],
    "nums_rb": 2,
    "ksize": 1,
    "sk": True,
    "use_conv": False,
    "compression_factor": 1,
    "temporal_attention_nhead": 8,
    "positional_embeddings": "sinusoidal",
    "num_positional_embeddings": 16,
}


def encoder_config_for(unet) -> dict:
    """The released encoder's configuration with the UNet's block widths (they must match)."""
    return {**FLOW_ENCODER_CONFIG, "channels": list(unet.config.block_out_channels)}


class OnlyFlowAdapter(nn.Module):
    """The trained parts of OnlyFlow: the flow encoder and one flow processor per motion module.

    ``flow_context`` is what its processors read while installed; it admits one generation at a time.
    """

    def __init__(self, processor_specs: Sequence[FlowProcessorSpec], encoder_config: Mapping = FLOW_ENCODER_CONFIG):
        super().__init__()
        self.flow_encoder = FlowEncoder(**encoder_config)
        self.processor_paths = [spec.path for spec in processor_specs]
        for spec in processor_specs:
            if not 0 <= spec.level < len(self.flow_encoder.channels):
                raise ValueError(f"{spec.path}: flow level {spec.level} does not exist in the encoder")
            if spec.hidden_size != self.flow_encoder.channels[spec.level]:
                raise ValueError(
                    f"{spec.path}: width {spec.hidden_size} differs from flow level {spec.level}'s "
                    f"{self.flow_encoder.channels[spec.level]} channels"
                )
        self.flow_processors = nn.ModuleList(
            FlowAdaptorAttnProcessor(spec.hidden_size, spec.level) for spec in processor_specs
        )
        self.flow_context = FlowContext()

    @property
    def processors(self) -> dict[str, FlowAdaptorAttnProcessor]:
        """Processors keyed by their UNet path, as ``install_flow_processors`` takes them."""
        return dict(zip(self.processor_paths, self.flow_processors))

    def container(self) -> dict[str, dict[str, torch.Tensor]]:
        """The weights in the official container layout."""
        return {
            ENCODER_KEY: self.flow_encoder.state_dict(),
            PROCESSORS_KEY: {
                f"{path}.{name}": tensor
                for path, processor in self.processors.items()
                for name, tensor in processor.state_dict().items()
            },
        }

    def load_container(self, container: Mapping[str, Mapping[str, torch.Tensor]]) -> None:
        """Load both state dicts strictly; raises ``CheckpointError`` naming what does not fit."""
        expected = self.container()
        check_state_dict(expected[ENCODER_KEY], container[ENCODER_KEY], "OnlyFlow flow encoder")
        check_state_dict(expected[PROCESSORS_KEY], container[PROCESSORS_KEY], "OnlyFlow attention processors")
        assign = any(t.is_meta for t in self.state_dict().values())
        self.flow_encoder.load_state_dict(dict(container[ENCODER_KEY]), strict=True, assign=assign)
        for path, processor in self.processors.items():
            processor.load_state_dict(select_prefix(container[PROCESSORS_KEY], path + "."), strict=True, assign=assign)


def checkpoint_file_to_read(path: str | Path) -> Path:
    """``path``, or its ``.safetensors`` twin when one lies next to it."""
    path = Path(path)
    twin = path.with_suffix(".safetensors")
    return twin if path.suffix != ".safetensors" and twin.is_file() else path


def read_container(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, dict[str, torch.Tensor]]:
    """Read an official ``.ckpt`` or our ``.safetensors`` twin into the two-state-dict container."""
    path = Path(path)
    stored = load_checkpoint(path, map_location=map_location)
    if path.suffix == ".safetensors":
        container = {key: select_prefix(stored, prefix) for key, prefix in SAFETENSORS_PREFIXES.items()}
        stray = [k for k in stored if not k.startswith(tuple(SAFETENSORS_PREFIXES.values()))]
        if stray:
            raise CheckpointError(f"{path.name}: keys outside the OnlyFlow layout: {', '.join(sorted(stray)[:8])}")
        return container
    if not isinstance(stored, Mapping):
        raise CheckpointError(f"{path.name} holds a {type(stored).__name__}, not the OnlyFlow checkpoint dict")
    missing = [key for key in (ENCODER_KEY, PROCESSORS_KEY) if key not in stored]
    unknown = sorted(set(stored) - {ENCODER_KEY, PROCESSORS_KEY} - TRAINING_KEYS)
    if missing or unknown:
        raise CheckpointError(
            f"{path.name} is not an OnlyFlow checkpoint: missing top-level keys {missing}, unexpected {unknown}"
        )
    return {ENCODER_KEY: stored[ENCODER_KEY], PROCESSORS_KEY: stored[PROCESSORS_KEY]}


def load_onlyflow_adapter(
    path: str | Path,
    processor_specs: Sequence[FlowProcessorSpec],
    encoder_config: Mapping = FLOW_ENCODER_CONFIG,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
) -> OnlyFlowAdapter:
    """Build the adapter for a UNet's ``processor_specs`` and load a checkpoint file into it strictly.

    The modules are built on the meta device and take the file's tensors as they are (no
    random initialisation, no second copy), then move to ``device`` / ``dtype`` (``None``
    keeps the file's dtype). ``device="meta"`` checks keys and shapes without reading data.
    """
    with torch.device("meta"):
        adapter = OnlyFlowAdapter(processor_specs, encoder_config)
    source = checkpoint_file_to_read(path)
    # torch.load can map a pickle to meta without reading data; safetensors cannot.
    on_meta = torch.device(device).type == "meta" and source.suffix != ".safetensors"
    adapter.load_container(read_container(source, map_location="meta" if on_meta else "cpu"))
    return adapter.to(device=device, dtype=dtype).eval()


def convert_to_safetensors(source: str | Path, target: str | Path | None = None) -> Path:
    """Write the safetensors twin of an official checkpoint (default: same stem, next to it)."""
    from safetensors.torch import save_file

    source = Path(source)
    target = Path(target) if target is not None else source.with_suffix(".safetensors")
    container = read_container(source)
    flat = {
        prefix + key: tensor.contiguous()
        for container_key, prefix in SAFETENSORS_PREFIXES.items()
        for key, tensor in container[container_key].items()
    }
    save_file(flat, str(target), metadata={"format": "pt", "layout": SAFETENSORS_LAYOUT})
    return target
