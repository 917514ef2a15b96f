"""The IP-Adapter's weights file choice and the tiny stand-in in the h94/IP-Adapter layout."""

import pytest
from safetensors import safe_open

from backends.core.checkpoints import CheckpointError
from backends.core.ip_adapter import IMAGE_ENCODER, SUBFOLDER, WEIGHT_NAMES, weights_file
from backends.core.tiny_models import build_tiny_ip_adapter


def test_safetensors_is_preferred_and_the_bin_is_the_fallback(tmp_path):
    models = tmp_path / SUBFOLDER
    models.mkdir()
    with pytest.raises(CheckpointError, match="ip-adapter_sd15.safetensors or ip-adapter_sd15.bin"):
        weights_file(tmp_path)
    (models / "ip-adapter_sd15.bin").write_bytes(b"x")
    assert weights_file(tmp_path) == models / "ip-adapter_sd15.bin"
    (models / "ip-adapter_sd15.safetensors").write_bytes(b"x")
    assert weights_file(tmp_path) == models / "ip-adapter_sd15.safetensors"


def test_tiny_ip_adapter_has_the_official_keys(tmp_path):
    build_tiny_ip_adapter(tmp_path)
    with safe_open(str(tmp_path / SUBFOLDER / WEIGHT_NAMES[0]), "pt") as file:
        keys = set(file.keys())
    assert {k for k in keys if k.startswith("image_proj.")} == {
        "image_proj.proj.weight", "image_proj.proj.bias", "image_proj.norm.weight", "image_proj.norm.bias"}
    # The tiny UNet has 16 cross-attentions, like SD1.5: keys 1, 3, ..., 31.
    assert {k for k in keys if k.startswith("ip_adapter.")} == {
        f"ip_adapter.{n}.{part}.weight" for n in range(1, 32, 2) for part in ("to_k_ip", "to_v_ip")}
    assert (tmp_path / SUBFOLDER / IMAGE_ENCODER / "config.json").is_file()
