"""LoRAs from a local ``loras/`` folder or the Hub, applied to diffusers pipelines with weights.

Official AnimateDiff MotionLoRA files (guoyww's ``.ckpt`` layout, ``...temporal_transformer...
attention_blocks.0.processor.to_q_lora.down.weight``) are converted to the diffusers layout
first; diffusers-format and kohya-format files load as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:  # torch loads on first use, not when the app starts
    import torch

from .checkpoints import CheckpointError, load_checkpoint
from .paths import is_inside
from .presets import ModelRef
from .sources import ModelSources

LORA_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


@dataclass(frozen=True)
class LoraChoice:
    source: str  # a file in the loras folder, a path, or a Hub repo id
    weight: float = 1.0


def list_lora_files(folder: str | Path) -> list[str]:
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.suffix in LORA_SUFFIXES)


def is_official_motion_lora(state_dict: Mapping[str, torch.Tensor]) -> bool:
    return any("motion_modules" in k and "_lora." in k and ".attention_blocks." in k for k in state_dict)


# The renames diffusers' own AnimateDiff conversion applies to motion-module keys.
_MOTION_RENAMES = (
    (".temporal_transformer", ""),
    (".attention_blocks.0", ".attn1"),
    (".attention_blocks.1", ".attn2"),
    (".norms.0", ".norm1"),
    (".norms.1", ".norm2"),
    (".ff_norm", ".norm3"),
)


def motion_lora_to_diffusers(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official MotionLoRA keys -> the layout ``AnimateDiffPipeline.load_lora_weights`` reads."""
    converted = {}
    for key, value in state_dict.items():
        if "pos_encoder" in key:
            continue
        for old, new in _MOTION_RENAMES:
            key = key.replace(old, new)
        converted[f"unet.{key}"] = value
    return converted


def diffusers_to_motion_lora(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse mapping, for writing official-layout MotionLoRA files (q/k/v/out only)."""
    out = {}
    for key, value in state_dict.items():
        key = key.removeprefix("unet.")
        key = re.sub(r"(motion_modules\.\d+)\.", r"\1.temporal_transformer.", key, count=1)
        key = key.replace(".attn1.", ".attention_blocks.0.").replace(".attn2.", ".attention_blocks.1.")
        out[key] = value
    return out


def check_lora_source(source: str, folders: list[Path], shared: bool) -> None:
    """A LoRA source a person typed: on a shared deployment only a file in one of the LoRA
    ``folders`` (the LoRA folder, the trained LoRAs) or a Hub repo id, never a server path
    (locally, any file)."""
    if not shared or HUB_ID.match(source):
        return
    if not any(is_inside(Path(folder) / source, folder) and (Path(folder) / source).is_file() for folder in folders):
        raise ValueError(f"LoRA {Path(source).name!r}: on a shared deployment a LoRA is a file of the LoRA list "
                         "or a Hub repo id (org/name), not a server path")


def hub_lora_ref(repo: str) -> ModelRef:
    """A LoRA on the Hub: its repo's weight files only."""
    return ModelRef(role="lora", repo=repo, allow_patterns=tuple(f"*{s}" for s in LORA_SUFFIXES))


def lora_choices(loras_dir: Path, trained_dir: Path) -> list[tuple[str, str]]:
    """(label, source) for a picker: files of the LoRA folder, then LoRAs trained here."""
    trained = [(f"trained: {name}", str(trained_dir / name)) for name in list_lora_files(trained_dir)]
    return [(name, name) for name in list_lora_files(loras_dir)] + trained


def _hub_lora_file(folder: Path) -> Path:
    candidates = sorted(p for p in folder.rglob("*") if p.suffix in LORA_SUFFIXES)
    preferred = [p for p in candidates if p.suffix == ".safetensors"] or candidates
    if not preferred:
        raise CheckpointError(f"no LoRA weights file found in {folder}")
    return preferred[0]


def read_lora(choice: LoraChoice, loras_dir: str | Path, sources: ModelSources) -> dict[str, torch.Tensor]:
    """The LoRA's tensors, in a layout diffusers' ``load_lora_weights`` understands."""
    local = Path(loras_dir) / choice.source
    path = local if local.is_file() else Path(choice.source)
    if not path.is_file():
        if not HUB_ID.match(choice.source):
            raise ValueError(f"LoRA {choice.source!r} is neither a file in {loras_dir} nor a Hub repo id")
        path = _hub_lora_file(sources.resolve(hub_lora_ref(choice.source), f"the LoRA {choice.source}"))
    state_dict = load_checkpoint(path)
    if "state_dict" in state_dict and isinstance(state_dict["state_dict"], dict):
        state_dict = state_dict["state_dict"]
    if is_official_motion_lora(state_dict):
        state_dict = motion_lora_to_diffusers(state_dict)
    return state_dict


def apply_loras(pipe, choices: tuple[LoraChoice, ...], loras_dir: str | Path, sources: ModelSources) -> list[str]:
    """Replace whatever LoRAs the pipeline holds by ``choices`` at their weights."""
    if getattr(pipe, "_flowstudio_loras", ()) == choices:
        return [f"lora_{i}" for i in range(len(choices))]
    pipe.unload_lora_weights()
    names = []
    for index, choice in enumerate(choices):
        name = f"lora_{index}"
        before = sum(1 for _ in pipe.unet.parameters())
        pipe.load_lora_weights(read_lora(choice, loras_dir, sources), adapter_name=name)
        if sum(1 for _ in pipe.unet.parameters()) == before:
            pipe.unload_lora_weights()
            raise ValueError(f"LoRA {choice.source!r} matched no layer of this model (wrong base model?)")
        names.append(name)
    if names:
        pipe.set_adapters(names, adapter_weights=[c.weight for c in choices])
    pipe._flowstudio_loras = choices
    return names
