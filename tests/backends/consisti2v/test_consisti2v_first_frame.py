"""The first frame: missing, unreadable, tiny and extreme-aspect pictures."""

import cv2
import numpy as np
import pytest

from backends.consisti2v.first_frame import prepare_first_frame
from backends.core.video_io import VideoError, center_crop_resize


def write_image(path, width, height, seed=0):
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return rgb


@pytest.mark.parametrize("path", [None, "", "  "], ids=["none", "empty", "blank"])
def test_no_image_is_refused(path):
    with pytest.raises(VideoError, match="image is missing"):
        prepare_first_frame(path, 256, 256)


def test_a_non_image_file_is_refused(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    with pytest.raises(VideoError, match="not an image"):
        prepare_first_frame(text, 256, 256)
    fake = tmp_path / "broken.png"
    fake.write_bytes(b"\x89PNG garbage")
    with pytest.raises(VideoError, match="broken.png"):
        prepare_first_frame(fake, 256, 256)


def test_a_tiny_image_is_upscaled_with_a_notice(tmp_path):
    write_image(tmp_path / "tiny.png", 20, 12)
    frame = prepare_first_frame(tmp_path / "tiny.png", 256, 128)
    assert frame.pixels.shape == (128, 256, 3) and frame.pixels.dtype == np.uint8
    assert frame.source_size == (20, 12)
    assert any("upscaled" in note for note in frame.notes)


@pytest.mark.parametrize("size", [(1000, 50), (50, 1000)], ids=["wide", "tall"])
def test_extreme_aspect_ratio_keeps_the_centre(tmp_path, size):
    rgb = write_image(tmp_path / "strip.png", *size)
    frame = prepare_first_frame(tmp_path / "strip.png", 256, 256)
    assert frame.pixels.shape == (256, 256, 3)
    np.testing.assert_array_equal(frame.pixels, center_crop_resize(rgb, 256, 256))
    assert any("centre" in note for note in frame.notes)


def test_a_fitting_image_has_no_notes(tmp_path):
    write_image(tmp_path / "photo.jpg", 640, 480)
    assert prepare_first_frame(tmp_path / "photo.jpg", 256, 256).notes == ()
