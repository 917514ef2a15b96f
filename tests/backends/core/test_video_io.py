import json
import subprocess

import cv2
import imageio_ffmpeg
import numpy as np
import pytest

from backends.core.video_io import (
    VideoError,
    CAPTION_FONT,
    CAPTION_MARGIN,
    CAPTION_SCALES,
    caption_layout,
    captioned,
    center_crop_resize,
    probe_video,
    read_clip,
    read_images,
    read_video,
    sample_times,
    side_by_side,
    write_gif,
    write_mp4,
)


def moving_square(n=12, h=48, w=64):
    frames = np.zeros((n, h, w, 3), np.uint8)
    for i in range(n):
        frames[i, 10:30, 2 + 3 * i : 22 + 3 * i] = (250, 40, 40)
    return frames


def stream_info(path):
    """Codec and pixel format of the first video stream, as ffmpeg reports them."""
    out = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    return next(line for line in out.stderr.splitlines() if "Video:" in line)


def test_mp4_is_browser_playable_h264_yuv420p_and_reads_back(tmp_path):
    frames = moving_square()
    path = write_mp4(frames, tmp_path / "a.mp4", fps=8)
    info = stream_info(path)
    assert "h264" in info and "yuv420p" in info
    video = read_video(path)
    assert video.frames.shape == frames.shape and video.fps == pytest.approx(8)
    assert np.abs(video.frames.astype(int) - frames.astype(int)).mean() < 6
    assert probe_video(path)[:2] == (12, 8.0)


def test_odd_sizes_are_padded_to_even(tmp_path):
    path = write_mp4(np.full((3, 33, 45, 3), 128, np.uint8), tmp_path / "odd.mp4", fps=4)
    assert read_video(path).frames.shape == (3, 34, 46, 3)


def test_float_frames_in_0_1_are_accepted(tmp_path):
    path = write_mp4(np.full((2, 16, 16, 3), 0.5, np.float32), tmp_path / "f.mp4", fps=4)
    assert abs(int(read_video(path).frames.mean()) - 128) <= 2


def test_resampling_to_a_lower_fps_keeps_duration(tmp_path):
    path = write_mp4(moving_square(n=30), tmp_path / "a.mp4", fps=30)
    video = read_video(path, fps=8)
    assert video.fps == 8 and len(video.frames) == 8  # one second at 8 fps
    assert len(read_video(path, fps=60).frames) == 30  # never invents frames
    assert len(read_video(path, max_frames=5).frames) == 5


def test_sample_times_pattern():
    keep = sample_times(30, 10)
    assert [next(keep) for _ in range(9)] == [True, False, False] * 3


def test_size_crops_the_centre_and_resizes(tmp_path):
    frames = np.zeros((2, 40, 80, 3), np.uint8)
    frames[:, :, 20:60] = 255  # a white centre square
    video = read_video(write_mp4(frames, tmp_path / "wide.mp4", fps=4), size=(32, 32))
    assert video.frames.shape == (2, 32, 32, 3) and video.frames.mean() > 240
    assert center_crop_resize(frames[0], 40, 40).shape == (40, 40, 3)


def test_huge_videos_are_downscaled_while_reading(tmp_path):
    path = write_mp4(np.zeros((2, 1440, 2560, 3), np.uint8), tmp_path / "big.mp4", fps=4)
    assert read_video(path, max_side=512).frames.shape == (2, 288, 512, 3)


def test_clear_errors_for_files_that_are_not_videos(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        read_video(tmp_path / "missing.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match="empty"):
        read_video(tmp_path / "empty.mp4")
    (tmp_path / "notes.txt").write_text(json.dumps({"not": "a video"}))
    with pytest.raises(VideoError):
        read_video(tmp_path / "notes.txt")
    good = write_mp4(moving_square(), tmp_path / "good.mp4", fps=8).read_bytes()
    (tmp_path / "corrupt.mp4").write_bytes(good[:200] + bytes(len(good) - 200))
    with pytest.raises(VideoError):
        read_video(tmp_path / "corrupt.mp4")


def test_images_and_gif(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((20, 30, 3), 40 * i, np.uint8))
    video = read_images([tmp_path / f"{i}.png" for i in range(3)])
    assert video.frames.shape == (3, 20, 30, 3)
    with pytest.raises(VideoError, match="not found: missing.png"):
        read_images([tmp_path / "missing.png"])
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(VideoError, match="notes.png is not an image"):
        read_images([tmp_path / "notes.png"])
    gif = write_gif(video.frames, tmp_path / "a.gif", fps=5)
    assert read_video(gif).frames.shape[0] == 3


def test_side_by_side_matches_heights():
    a, b = np.zeros((4, 20, 10, 3), np.uint8), np.zeros((5, 40, 40, 3), np.uint8)
    assert side_by_side([a, b], gap=2).shape == (4, 40, 20 + 2 + 40, 3)


def test_captions_add_a_labelled_strip_of_one_height():
    wide, narrow = np.zeros((3, 20, 200, 3), np.uint8), np.zeros((3, 20, 64, 3), np.uint8)
    labelled = captioned([wide, wide], ["input", "gamma 0.5"])
    assert [clip.shape for clip in labelled] == [(3, 40, 200, 3)] * 2  # roomy panels: one line, a 20-px strip
    assert labelled[1][:, :20].max() > 100 and labelled[1][:, 20:].max() == 0
    mixed = captioned([wide, narrow], ["input", "flow (opencv_dis)"])
    assert mixed[0].shape[1] == mixed[1].shape[1] > 40  # the narrow one wraps; the strips stay aligned


@pytest.mark.parametrize("text", ["flow (opencv_dis)", "flow (raft_large)", "gamma 0.25", "gamma -1.5", "sample 12",
                                  "truth", "input"])
def test_captions_fit_a_64_pixel_panel_at_a_readable_size(text):
    lines, scale = caption_layout(text, 64)
    assert " ".join(lines) == text and scale >= CAPTION_SCALES[0] - 0.01  # nothing cut off, not shrunk to dots
    assert all(cv2.getTextSize(line, CAPTION_FONT, scale, 1)[0][0] <= 64 - 2 * CAPTION_MARGIN for line in lines)
    strip = captioned([np.zeros((1, 64, 64, 3), np.uint8)], [text])[0][0, :-64]
    assert strip[:, -2:].max() < 60 and strip[:, :2].max() < 60 and strip[:, 24:40].max() > 150  # drawn, clear of the edges


def test_a_word_wider_than_the_panel_is_split_not_cut():
    lines, scale = caption_layout("supercalifragilistic", 64)
    assert "".join(lines) == "supercalifragilistic" and len(lines) > 1
    assert all(cv2.getTextSize(line, CAPTION_FONT, scale, 1)[0][0] <= 64 - 2 * CAPTION_MARGIN for line in lines)


def test_read_clip_takes_a_video_or_a_folder_of_frames(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), np.full((8, 8, 3), 50 * i, np.uint8))
    assert read_clip(tmp_path, max_frames=2).frames.shape == (2, 8, 8, 3)
    assert read_clip(write_mp4(moving_square(), tmp_path / "v.mp4", 8)).frames.shape[0] == 12
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError, match="no image files"):
        read_clip(tmp_path / "empty")
