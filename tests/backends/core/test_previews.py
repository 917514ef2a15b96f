import numpy as np
import pytest
import torch

from backends.core.previews import LATENT_RGB, contact_sheet, enlarged, latents_to_rgb


def test_latents_map_linearly_to_rgb_frames():
    latents = torch.zeros(1, 4, 3, 5, 6)
    latents[0, 0] = 1.0  # only channel 0 on: colour = first row of the factor matrix
    frames = latents_to_rgb(latents)
    assert frames.shape == (3, 5, 6, 3) and frames.dtype == np.uint8
    expected = np.clip((np.array(LATENT_RGB["sd15"][0][0]) + 1) * 127.5, 0, 255).astype(np.uint8)
    assert np.abs(frames[1, 2, 3].astype(int) - expected.astype(int)).max() <= 1
    assert (latents_to_rgb(torch.zeros(4, 2, 2, 2)) == 127).all()


def test_wrong_layout_is_rejected():
    with pytest.raises(ValueError, match="latent channels"):
        latents_to_rgb(torch.zeros(16, 2, 4, 4))
    with pytest.raises(ValueError, match="must be"):
        latents_to_rgb(torch.zeros(4, 4, 4))


def test_contact_sheet_tiles_every_frame_in_order():
    frames = np.stack([np.full((8, 8, 3), 10 * i, np.uint8) for i in range(5)])
    sheet = contact_sheet(frames, columns=3, gap=2, min_tile=8)
    assert sheet.shape == (2 * 8 + 2, 3 * 8 + 2 * 2, 3)
    assert sheet[0, 0, 0] == 0 and sheet[0, 10, 0] == 10 and sheet[10, 10, 0] == 40
    assert sheet[10, 20, 0] == 0  # the sixth tile is empty
    assert contact_sheet(frames[:1], min_tile=32).shape == (32, 32, 3)  # small latents are enlarged


def test_small_frames_are_enlarged_by_a_whole_factor_nearest():
    frames = np.random.default_rng(0).integers(0, 255, (2, 16, 12, 3), dtype=np.uint8)
    big = enlarged(frames, 64)
    assert big.shape == (2, 64, 48, 3)  # x4: the longer side reaches 64
    assert np.array_equal(big[:, ::4, ::4], frames) and np.array_equal(big[:, 3::4, 3::4], frames)
    assert enlarged(frames, 16) is frames and enlarged(frames, 17).shape == (2, 32, 24, 3)
