"""Camera-motion videos for FrameInit."""

import pytest
import torch

from backends.consisti2v.camera_motion import camera_motion_video


@pytest.fixture
def image():
    torch.manual_seed(0)
    return torch.rand(1, 3, 24, 40) * 2 - 1


@pytest.mark.parametrize("motion", ["pan_left", "pan_right", "zoom_in", "zoom_out"])
def test_shape_and_range(image, motion):
    video = camera_motion_video(image, motion, 6)
    assert video.shape == (1, 3, 6, 24, 40)
    assert video.min() >= -1 and video.max() <= 1
    assert not torch.allclose(video[:, :, 0], video[:, :, -1])


def test_zoom_in_starts_and_zoom_out_ends_on_the_image(image):
    assert (camera_motion_video(image, "zoom_in", 5)[:, :, 0] - image).abs().max() < 1e-5
    assert (camera_motion_video(image, "zoom_out", 5)[:, :, -1] - image).abs().max() < 1e-5


def test_pans_are_mirror_images(image):
    left = camera_motion_video(image, "pan_left", 5)
    right = camera_motion_video(image.flip(-1), "pan_right", 5)
    assert (left - right.flip(-1)).abs().max() < 1e-5


def test_unknown_motion_is_refused(image):
    with pytest.raises(ValueError, match="camera_motion"):
        camera_motion_video(image, "spin", 5)
