"""Fixtures for the ConsistI2V tests: the official-code reference set (REFERENCE_DIR/consisti2v)."""

import json

import pytest
import torch
from safetensors.torch import load_file

from backends.consisti2v.unet import VideoLDMUNet3DConditionModel
from backends.core.checkpoints import load_state_dict_strict


@pytest.fixture(scope="session")
def consisti2v_reference(reference_dir):
    folder = reference_dir / "consisti2v"
    if not folder.is_dir():
        pytest.fail(f"{folder} does not exist; the ConsistI2V parity fixture is missing")
    return folder


@pytest.fixture(scope="session")
def fixture_meta(consisti2v_reference):
    return json.loads((consisti2v_reference / "fixture_meta.json").read_text())


@pytest.fixture(scope="session")
def reference_tensors(consisti2v_reference):
    """``reference_tensors("io")`` -> the tensors of ``io.safetensors``."""
    cache = {}

    def read(name: str) -> dict[str, torch.Tensor]:
        if name not in cache:
            cache[name] = load_file(str(consisti2v_reference / f"{name}.safetensors"))
        return cache[name]

    return read


@pytest.fixture(scope="session")
def fixture_unet(consisti2v_reference):
    """The fixture's tiny UNet, built from its config and loaded strictly, upcast to float32."""
    config = json.loads((consisti2v_reference / "tiny_unet_config.json").read_text())
    unet = VideoLDMUNet3DConditionModel.from_unet_config(config)
    weights = load_file(str(consisti2v_reference / "tiny_unet.safetensors"))
    load_state_dict_strict(unet, {k: v.float() for k, v in weights.items()}, "fixture UNet")
    return unet.eval()


def max_difference(ours: torch.Tensor, expected: torch.Tensor) -> float:
    assert ours.shape == expected.shape, (tuple(ours.shape), tuple(expected.shape))
    return (ours.float() - expected.float()).abs().max().item()
