"""The flow encoder beyond the parity fixture: windows for long clips, any frame size."""

import pytest
import torch

from backends.onlyflow.flow_encoder import FlowEncoder, encode_flow, flow_windows
from backends.core.tiny_models import TINY_WIDTHS
from backends.onlyflow.checkpoint import FLOW_ENCODER_CONFIG

TINY_FLOW_ENCODER_CONFIG = {**FLOW_ENCODER_CONFIG, "channels": list(TINY_WIDTHS)}


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return FlowEncoder(**TINY_FLOW_ENCODER_CONFIG).eval()


def test_windows_start_every_stride_and_the_last_ones_are_shorter():
    assert flow_windows(8, 16, 12) == [(0, 8)]
    assert flow_windows(16, 16, 12) == [(0, 16)]
    assert flow_windows(24, 16, 12) == [(0, 16), (12, 24)]
    assert flow_windows(40, 16, 12) == [(0, 16), (12, 28), (24, 40), (36, 40)]


def test_features_follow_the_latent_pyramid_for_non_square_frames(encoder):
    flow = torch.randn(2, 2, 5, 64, 192)
    with torch.no_grad():
        features = encoder(flow)
    widths = TINY_FLOW_ENCODER_CONFIG["channels"]
    assert [tuple(f.shape) for f in features] == [
        (2, widths[level], 5, 8 // 2**level, 24 // 2**level) for level in range(4)
    ]


def test_one_pass_takes_at_most_the_positional_table(encoder):
    with pytest.raises(ValueError, match="at most 16 frames per pass, got 17"):
        encoder(torch.zeros(1, 2, 17, 64, 64))


def test_short_clips_are_one_window(encoder):
    flow = torch.randn(1, 2, 16, 64, 64)
    with torch.no_grad():
        direct = encoder(flow)
    for ours, theirs in zip(encode_flow(encoder, flow, 16, 12), direct):
        assert torch.equal(ours, theirs)


def test_overlapping_windows_are_averaged_per_frame(encoder):
    flow = torch.randn(1, 2, 24, 64, 64)
    with torch.no_grad():
        first, second = encoder(flow[:, :, :16]), encoder(flow[:, :, 12:])
    for level, feature in enumerate(encode_flow(encoder, flow, 16, 12)):
        assert feature.shape[2] == 24
        torch.testing.assert_close(feature[:, :, :12], first[level][:, :, :12])
        torch.testing.assert_close(feature[:, :, 12:16], (first[level][:, :, 12:] + second[level][:, :, :4]) / 2)
        torch.testing.assert_close(feature[:, :, 16:], second[level][:, :, 4:])


def test_long_clips_encode(encoder):
    features = encode_flow(encoder, torch.randn(1, 2, 41, 64, 128), 16, 12)
    assert all(f.shape[2] == 41 and torch.isfinite(f).all() for f in features)


@pytest.mark.parametrize("context_length, stride", [(0, 4), (17, 4), (16, 0)])
def test_bad_windows_are_refused(encoder, context_length, stride):
    with pytest.raises(ValueError, match="context_length|stride"):
        encode_flow(encoder, torch.zeros(1, 2, 20, 64, 64), context_length, stride)


def test_unreleased_variants_are_refused():
    with pytest.raises(ValueError, match="use_conv=True is not supported"):
        FlowEncoder(channels=[16, 24, 32, 32], use_conv=True)
