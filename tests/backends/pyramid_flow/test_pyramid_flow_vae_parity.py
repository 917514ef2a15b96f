"""CausalVideoVAE: plain, chunked and tiled encode/decode, and the streaming decoder, vs the official code."""

import pytest
import torch

from backends.pyramid_flow.causal_vae import StreamingDecoder

pytestmark = pytest.mark.parity

TOLERANCE = 1e-4


def close(ours, expected):
    assert ours.shape == expected.shape
    return (ours - expected).abs().max().item() < TOLERANCE


@pytest.fixture(scope="module")
def tile(pyramid_meta):
    return pyramid_meta["vae_tile_sample_min_size"]


def test_pyramid_flow_vae_encode_variants(tiny_vae, pyramid_io, pyramid_meta, tile):
    x = pyramid_io["vae_in"]
    with torch.no_grad():
        mean, logvar = tiny_vae.encode(x)
        chunk_mean, chunk_logvar = tiny_vae.encode(x, chunk=pyramid_meta["vae_encode_chunk_window"])
        tiled_mean, _ = tiny_vae.encode(x, tile=tile)
        image_mean, _ = tiny_vae.encode(x[:, :, :1])
    assert close(mean, pyramid_io["vae_enc_mean"]) and close(logvar, pyramid_io["vae_enc_logvar"])
    assert close(chunk_mean, pyramid_io["vae_enc_chunk_mean"]) and close(chunk_logvar, pyramid_io["vae_enc_chunk_logvar"])
    assert close(tiled_mean, pyramid_io["vae_enc_tiled_mean"])
    assert close(image_mean, pyramid_io["vae_img_enc_mean"])


def test_pyramid_flow_vae_decode_variants(tiny_vae, pyramid_io, tile):
    z = pyramid_io["vae_enc_mean"]
    with torch.no_grad():
        assert close(tiny_vae.decode(z), pyramid_io["vae_dec"])
        assert close(tiny_vae.decode(z, chunk=1), pyramid_io["vae_dec_chunk_w1"])
        assert close(tiny_vae.decode(z, chunk=2), pyramid_io["vae_dec_chunk_w2"])
        assert close(tiny_vae.decode(z, tile=tile), pyramid_io["vae_dec_tiled"])
        assert close(tiny_vae.decode(z, chunk=1, tile=tile), pyramid_io["vae_dec_tiled_chunk_w1"])
        assert close(tiny_vae.decode(pyramid_io["vae_img_enc_mean"]), pyramid_io["vae_img_dec"])


@pytest.mark.parametrize("tiled", [False, True])
def test_pyramid_flow_streaming_decode_equals_the_full_decode(tiny_vae, pyramid_io, tile, tiled):
    z = pyramid_io["vae_enc_mean"]
    stream = StreamingDecoder(tiny_vae, tile if tiled else None)
    with torch.no_grad():
        parts = [stream.push(z[:, :, i : i + 1]) for i in range(z.shape[2])]
    assert [p.shape[2] for p in parts] == [1] + [8] * (z.shape[2] - 1)
    assert close(torch.cat(parts, dim=2), pyramid_io["vae_dec_tiled" if tiled else "vae_dec"])
