"""Fixtures for the OnlyFlow tests: the official-code reference set, loaded once per session."""

import json

import pytest
import torch
from diffusers import UNetMotionModel
from safetensors.torch import load_file

from backends.core.checkpoints import load_state_dict_strict
from backends.onlyflow.attention_processor import flow_processor_specs
from backends.onlyflow.checkpoint import load_onlyflow_adapter


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The test machine's cores are shared; a second torch thread mostly waits on them."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_pipeline(session_runtime):
    """The shared tiny AnimateDiff pipeline (loaded through the app's loader) and OnlyFlow weights for it."""
    from backends.animatediff.pipeline import load_animatediff
    from backends.onlyflow.tiny import tiny_onlyflow_adapter

    pipe = load_animatediff(session_runtime)
    return pipe, tiny_onlyflow_adapter(pipe.unet)


@pytest.fixture(scope="session")
def onlyflow_reference(reference_dir):
    folder = reference_dir / "onlyflow"
    if not folder.is_dir():
        pytest.fail(f"{folder} does not exist; the OnlyFlow parity fixture is missing")
    return folder


@pytest.fixture(scope="session")
def reference_io(onlyflow_reference):
    return load_file(str(onlyflow_reference / "io.safetensors"))


@pytest.fixture(scope="session")
def reference_unet(onlyflow_reference):
    """The fixture's tiny UNetMotionModel, loaded strictly, in float32 eval mode."""
    config = json.loads((onlyflow_reference / "tiny_unet_motion_config.json").read_text())
    unet = UNetMotionModel.from_config(config)
    load_state_dict_strict(unet, load_file(str(onlyflow_reference / "tiny_unet_motion.safetensors")), "tiny UNet")
    return unet.eval()


@pytest.fixture(scope="session")
def reference_adapter(onlyflow_reference, reference_unet):
    """The fixture's tiny OnlyFlow weights, loaded strictly for the tiny UNet."""
    config = json.loads((onlyflow_reference / "tiny_flow_encoder_config.json").read_text())
    adapter = load_onlyflow_adapter(
        onlyflow_reference / "tiny_onlyflow.ckpt", flow_processor_specs(reference_unet), config, dtype=torch.float32
    )
    return adapter.eval()
