"""The image-to-video tab's crop preview and example picture (no server needed)."""

import cv2
import numpy as np

from backends.consisti2v.example import EXAMPLE_IMAGE, lake_at_sunset
from ui.image_to_video import crop_preview


def test_preview_is_the_centre_crop_with_notes(tmp_path):
    path = tmp_path / "strip.png"
    cv2.imwrite(str(path), np.zeros((40, 400, 3), np.uint8))
    pixels, notes = crop_preview(str(path), 256, 128)
    assert pixels.shape == (128, 256, 3)
    assert "upscaled" in notes and "centre" in notes


def test_preview_of_a_bad_file_is_a_message(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00" * 64)
    pixels, notes = crop_preview(str(path), 256, 256)
    assert pixels is None and "not an image" in notes
    assert crop_preview(None, 256, 256) == (None, "")


def test_example_picture_is_small_and_drawn_by_its_code():
    assert EXAMPLE_IMAGE.stat().st_size < 100_000
    stored = cv2.cvtColor(cv2.imread(str(EXAMPLE_IMAGE)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(stored, lake_at_sunset())
