"""The released UNet's layout: config.json builds the full-size model, the weights load strictly."""

import json
import struct

import pytest
import torch
from safetensors.torch import load_file, save_file

from backends.consisti2v.checkpoint import CONFIG_NAME, WEIGHT_NAMES, load_unet
from backends.consisti2v.unet import VideoLDMUNet3DConditionModel
from backends.core.checkpoints import CheckpointError

from .conftest import max_difference

DTYPE_CODES = {"float32": ("F32", 4), "float16": ("F16", 2), "bfloat16": ("BF16", 2)}


def write_sparse_safetensors(path, manifest: dict) -> None:
    """A valid safetensors file with the manifest's keys, shapes and dtypes whose data region is a
    hole (reads as zeros, takes no disk): a meta-device load reads only the header."""
    header, offset = {}, 0
    for key, (shape, dtype) in manifest.items():
        code, size = DTYPE_CODES[dtype.removeprefix("torch.")]
        length = size * int(torch.Size(shape).numel())
        header[key] = {"dtype": code, "shape": shape, "data_offsets": [offset, offset + length]}
        offset += length
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)) + encoded)
        handle.truncate(8 + len(encoded) + offset)


@pytest.fixture(scope="module")
def released_config(consisti2v_reference):
    return json.loads((consisti2v_reference / "unet_config_expected.json").read_text())


@pytest.fixture(scope="module")
def manifest(consisti2v_reference):
    return json.loads((consisti2v_reference / "manifest_unet.json").read_text())


def released_layout(folder, config: dict, manifest: dict):
    unet = folder / "unet"
    unet.mkdir(parents=True)
    (unet / CONFIG_NAME).write_text(json.dumps(config))
    write_sparse_safetensors(unet / WEIGHT_NAMES[0], manifest)
    return unet


def test_full_size_model_has_the_manifest_keys_and_parameter_count(released_config, manifest):
    with torch.device("meta"):
        unet = VideoLDMUNet3DConditionModel.from_unet_config(released_config["config"])
    ours = {key: list(tensor.shape) for key, tensor in unet.state_dict().items()}
    assert ours == {key: shape for key, (shape, _) in manifest.items()}
    assert sum(p.numel() for p in unet.parameters()) + sum(b.numel() for b in unet.buffers()) == \
        released_config["param_counts"]["total"]


def test_released_layout_loads_strictly_on_meta(tmp_path, released_config, manifest):
    unet = load_unet(released_layout(tmp_path, released_config["config"], manifest), device="meta")
    assert unet.config.n_frames == released_config["config"]["n_frames"]
    assert all(t.is_meta for t in unet.state_dict().values())


@pytest.mark.parametrize("change", ["extra", "missing"])
def test_extra_or_missing_key_fails_with_its_name(tmp_path, released_config, manifest, change):
    manifest = dict(manifest)
    if change == "extra":
        name = "down_blocks.0.first_frame_conv.weight"
        manifest[name] = [[4, 4, 3, 3], "float32"]
    else:
        name = sorted(key for key in manifest if "tempo_attns" in key)[-1]
        del manifest[name]
    with pytest.raises(CheckpointError, match=f"{change if change == 'missing' else 'unexpected'} keys: {name}"):
        load_unet(released_layout(tmp_path, released_config["config"], manifest), device="meta")


def test_unsupported_config_entry_is_named(released_config):
    config = {**released_config["config"], "first_frame_condition_mode": "conv2d"}
    with pytest.raises(ValueError, match="first_frame_condition_mode"):
        VideoLDMUNet3DConditionModel.from_unet_config(config)
    with pytest.raises(ValueError, match="made_up_option"):
        VideoLDMUNet3DConditionModel.from_unet_config({**released_config["config"], "made_up_option": 1})


def test_weights_load_with_their_data(tmp_path, consisti2v_reference, reference_tensors):
    """The fixture's float16 weights in the released folder layout load and reproduce the official output."""
    folder = tmp_path / "unet"
    folder.mkdir()
    config = json.loads((consisti2v_reference / "tiny_unet_config.json").read_text())
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    save_file(load_file(str(consisti2v_reference / "tiny_unet.safetensors")), str(folder / WEIGHT_NAMES[0]))
    unet = load_unet(folder, dtype=torch.float32)
    io = reference_tensors("io")
    with torch.no_grad():
        ours = unet(io["sample"], io["timestep"], io["encoder_hidden_states"], io["first_frame_latents"], io["frame_stride"])
    assert max_difference(ours, io["noise_pred"]) < 1e-4
