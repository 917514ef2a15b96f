"""Fixtures for the Pyramid Flow tests: the reference folder, its tensors and the tiny official models."""

import json

import pytest
from safetensors.torch import load_file


@pytest.fixture(scope="session")
def pyramid_reference(reference_dir):
    folder = reference_dir / "pyramid_flow"
    if not folder.is_dir():
        pytest.fail(f"{folder} does not exist; the Pyramid Flow parity tests need it")
    return folder


@pytest.fixture(scope="session")
def pyramid_io(pyramid_reference):
    return load_file(str(pyramid_reference / "io.safetensors"))


@pytest.fixture(scope="session")
def pyramid_meta(pyramid_reference):
    return json.loads((pyramid_reference / "fixture_meta.json").read_text())


@pytest.fixture(scope="session")
def tiny_dit(pyramid_reference):
    from backends.pyramid_flow.loading import load_dit_file

    return load_dit_file(pyramid_reference / "tiny_dit_config.json", pyramid_reference / "tiny_dit.safetensors")


@pytest.fixture(scope="session")
def tiny_vae(pyramid_reference):
    from backends.pyramid_flow.loading import load_vae_file

    return load_vae_file(pyramid_reference / "tiny_vae_config.json", pyramid_reference / "tiny_vae.safetensors")
