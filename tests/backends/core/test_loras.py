import pytest
import torch

from backends.core.loras import (
    diffusers_to_motion_lora,
    is_official_motion_lora,
    list_lora_files,
    motion_lora_to_diffusers,
    read_lora,
    LoraChoice,
)
from backends.core.sources import ModelSources

OFFICIAL = "down_blocks.1.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.1.processor.to_out_lora.up.weight"
DIFFUSERS = "unet.down_blocks.1.motion_modules.0.transformer_blocks.0.attn2.processor.to_out_lora.up.weight"


def test_official_motion_lora_keys_convert_both_ways():
    official = {OFFICIAL: torch.zeros(1), "down_blocks.0.motion_modules.0.temporal_transformer.pos_encoder.pe": torch.zeros(1)}
    assert is_official_motion_lora(official)
    converted = motion_lora_to_diffusers(official)
    assert list(converted) == [DIFFUSERS]  # position tables are not LoRA weights
    assert not is_official_motion_lora(converted)
    assert list(diffusers_to_motion_lora(converted)) == [OFFICIAL]


def test_read_lora_unwraps_state_dict_and_converts(tmp_path):
    torch.save({"state_dict": {OFFICIAL: torch.ones(2)}}, tmp_path / "m.ckpt")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.safetensors").write_bytes(b"")
    (tmp_path / "readme.txt").write_text("")
    assert list_lora_files(tmp_path) == ["m.ckpt", "sub/x.safetensors"]
    loaded = read_lora(LoraChoice("m.ckpt"), tmp_path, ModelSources(offline=True))
    assert list(loaded) == [DIFFUSERS]
    assert list_lora_files(tmp_path / "none") == []


def test_unknown_source_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="neither a file"):
        read_lora(LoraChoice("no such lora"), tmp_path, ModelSources(offline=True))
