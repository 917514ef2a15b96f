"""Our VideoLDM UNet against the official code's outputs on the fixture's tiny UNet."""

import pytest
import torch

from .conftest import max_difference

pytestmark = pytest.mark.parity

NOISE_PRED_TOLERANCE = 1e-4
INTERMEDIATE_TOLERANCE = 1e-5


def predict(unet, io):
    with torch.no_grad():
        return unet(io["sample"], io["timestep"], io["encoder_hidden_states"], io["first_frame_latents"], io["frame_stride"])


def test_noise_prediction_matches_official(fixture_unet, reference_tensors):
    io = reference_tensors("io")
    assert max_difference(predict(fixture_unet, io), io["noise_pred"]) < NOISE_PRED_TOLERANCE


def test_python_int_timestep_and_stride_give_the_same_prediction(fixture_unet, reference_tensors):
    io = reference_tensors("io")
    with torch.no_grad():
        ours = fixture_unet(io["sample"], int(io["timestep"]), io["encoder_hidden_states"], io["first_frame_latents"],
                            int(io["frame_stride"]))
    assert max_difference(ours, io["noise_pred"]) < NOISE_PRED_TOLERANCE


def test_intermediates_match_official(fixture_unet, reference_tensors):
    """Every ``<module path>.in`` / ``.out`` entry of the debug fixture, captured by a hook."""
    expected = reference_tensors("debug_intermediates")
    captured, handles = {}, []
    for key in expected:
        path, _, where = key.rpartition(".")
        assert where in ("in", "out"), key

        def hook(module, args, output, key=key, where=where):
            value = args[0] if where == "in" else output
            captured[key] = value[0] if isinstance(value, tuple) else value

        handles.append(fixture_unet.get_submodule(path).register_forward_hook(hook))
    try:
        predict(fixture_unet, reference_tensors("io"))
    finally:
        for handle in handles:
            handle.remove()
    for key, value in expected.items():
        assert max_difference(captured[key], value) < INTERMEDIATE_TOLERANCE, key


def test_unused_checkpoint_tensors_change_nothing(fixture_unet, reference_tensors):
    io = reference_tensors("io")
    before = predict(fixture_unet, io)
    unused = [p for name, p in fixture_unet.named_parameters() if "time_emb_proj" in name and ".conv3ds." in name
              or "rotary_bias" in name]
    assert unused
    with torch.no_grad():
        for parameter in unused:
            parameter.mul_(3.0)
        try:
            assert torch.equal(predict(fixture_unet, io), before)
        finally:
            for parameter in unused:
                parameter.div_(3.0)


def test_wrong_frame_count_is_refused(fixture_unet, reference_tensors):
    io = reference_tensors("io")
    with pytest.raises(ValueError, match="frames"):
        predict(fixture_unet, {**io, "sample": io["sample"][:, :, 1:]})
