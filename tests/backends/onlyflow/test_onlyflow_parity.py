"""Parity with the official OnlyFlow code on the reference fixture (REFERENCE_DIR/onlyflow)."""

import pytest
import torch

from backends.onlyflow.attention_processor import FlowContext, install_flow_processors

pytestmark = pytest.mark.parity

TOLERANCE = 1e-4  # float32; the fixture notes give 20x headroom for a different operation order


def official_layout(feature: torch.Tensor) -> torch.Tensor:
    """(B, C, F, h, w) -> the official encoder's ((B*F), C, h, w)."""
    batch, channels, frames, height, width = feature.shape
    return feature.transpose(1, 2).reshape(batch * frames, channels, height, width)


def prediction_key(gamma: float) -> str:
    return "noise_pred_gamma" + f"{gamma:g}".replace(".", "p")


@pytest.fixture(scope="module")
def features(reference_adapter, reference_io):
    with torch.no_grad():
        return reference_adapter.flow_encoder(reference_io["flow"])


def unet_prediction(unet, io, adapter=None, features=None, gamma=0.0):
    arguments = (io["sample"], io["timestep"])
    with torch.no_grad():
        if adapter is None:
            return unet(*arguments, encoder_hidden_states=io["encoder_hidden_states"]).sample
        context = FlowContext()
        with install_flow_processors(unet, adapter.processors, context), context.use(features, gamma):
            return unet(*arguments, encoder_hidden_states=io["encoder_hidden_states"]).sample


def test_flow_encoder_features_match_official(features, reference_io):
    levels = sorted(k for k in reference_io if k.startswith("flow_feature_"))
    assert len(features) == len(levels) == 4
    for feature, key in zip(features, levels):
        expected = reference_io[key]
        ours = official_layout(feature)
        assert ours.shape == expected.shape, key
        assert (ours - expected).abs().max().item() < TOLERANCE, key


def test_unet_prediction_matches_official_at_every_gamma(reference_unet, reference_adapter, features, reference_io):
    gammas = reference_io["gammas"].tolist()
    assert gammas, "the fixture lists no gamma"
    for gamma in gammas:
        expected = reference_io[prediction_key(gamma)]
        ours = unet_prediction(reference_unet, reference_io, reference_adapter, features, gamma)
        assert ours.shape == expected.shape
        assert (ours - expected).abs().max().item() < TOLERANCE, f"gamma {gamma}"


def test_gamma_zero_is_plain_animatediff(reference_unet, reference_adapter, features, reference_io):
    plain = unet_prediction(reference_unet, reference_io)
    with_flow = unet_prediction(reference_unet, reference_io, reference_adapter, features, 0.0)
    assert torch.equal(with_flow, plain)
    assert (plain - reference_io["noise_pred_vanilla"]).abs().max().item() < TOLERANCE
    # and the flow does change the prediction when gamma is not zero
    assert not torch.allclose(unet_prediction(reference_unet, reference_io, reference_adapter, features, 1.0), plain)


def test_processors_are_removed_after_use(reference_unet, reference_adapter, features, reference_io):
    before = {name: type(p) for name, p in reference_unet.attn_processors.items()}
    unet_prediction(reference_unet, reference_io, reference_adapter, features, 1.0)
    assert {name: type(p) for name, p in reference_unet.attn_processors.items()} == before
    assert not any(".processor." in key for key in reference_unet.state_dict())


def test_processor_probe_matches_official(
    onlyflow_reference, reference_unet, reference_adapter, features, reference_io
):
    from safetensors import safe_open

    with safe_open(str(onlyflow_reference / "io.safetensors"), "pt") as handle:
        module_path = handle.metadata()["probe_module"]
    processor_path = module_path + ".processor"
    processor = reference_adapter.processors[processor_path]
    attn = reference_unet.get_submodule(module_path)
    hidden = reference_io["probe_hidden_in_gamma1"]
    context = FlowContext()
    with install_flow_processors(reference_unet, {processor_path: processor}, context), context.use(features, 1.0):
        flow = context.sequences(processor.level, 0, hidden.shape[1], like=hidden)
        assert (flow - reference_io["probe_flow_feature_gamma1"]).abs().max().item() < TOLERANCE
        with torch.no_grad():
            out = attn(hidden)
    assert (out - reference_io["probe_out_gamma1"]).abs().max().item() < TOLERANCE
