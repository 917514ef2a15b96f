"""miniFLUX DiT: each recorded call of the official pipeline, the RoPE ids and the attention mask."""

import pytest
import torch

from backends.pyramid_flow.miniflux_dit import attention_mask, video_position_ids

pytestmark = pytest.mark.parity

TOLERANCE = 1e-4


def call_inputs(io, name, count):
    return [io[f"dit_{name}_in{i}"] for i in range(count)]


def test_pyramid_flow_dit_calls_match_official(tiny_dit, pyramid_io, pyramid_meta):
    calls = pyramid_meta["dit_calls"]
    assert calls
    for name, call in calls.items():
        clips = call_inputs(pyramid_io, name, call["num_list_entries"])
        with torch.no_grad():
            out = tiny_dit(clips, pyramid_io[f"dit_{name}_timestep"], pyramid_io["text_embeds"], pyramid_io["text_mask"], pyramid_io["pooled_embeds"])
        expected = pyramid_io[f"dit_{name}_out"]
        assert list(out.shape) == call["out_shape"] == list(expected.shape), name
        assert (out - expected).abs().max().item() < TOLERANCE, name


def recorded_call_with_ids(io, meta):
    """The call whose position ids and mask were recorded (``dit_<name>_pos_ids``)."""
    (name,) = [n for n in meta["dit_calls"] if f"dit_{n}_pos_ids" in io]
    return name, call_inputs(io, name, meta["dit_calls"][name]["num_list_entries"])


def test_pyramid_flow_position_ids_interpolate_history(pyramid_io, pyramid_meta):
    name, clips = recorded_call_with_ids(pyramid_io, pyramid_meta)
    ids = video_position_ids([tuple(c.shape[2:]) for c in clips])
    for row in pyramid_io[f"dit_{name}_pos_ids"]:
        assert torch.allclose(ids, row, atol=1e-6, rtol=0)


def test_pyramid_flow_attention_mask_is_exact(pyramid_io, pyramid_meta):
    name, clips = recorded_call_with_ids(pyramid_io, pyramid_meta)
    ids = video_position_ids([tuple(c.shape[2:]) for c in clips])
    mask = attention_mask(pyramid_io["text_mask"], ids)
    assert torch.equal(mask.to(torch.uint8), pyramid_io[f"dit_{name}_attn_mask"])
