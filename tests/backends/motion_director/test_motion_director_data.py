"""Clips, captions, frame sampling, buckets and bad inputs."""

import dataclasses

import numpy as np
import pytest

from backends.core.presets import load_preset
from backends.core.video_io import write_mp4
from backends.motion_director.data import bucket_size, caption_for, frame_step_for, load_clip, sample_frames
from backends.motion_director.example import EXAMPLE_CLIP, rolling_ball_frames
from backends.motion_director.settings import MotionLoraSettings

LIMITS = load_preset("motion_director").limits


def settings(**changes) -> MotionLoraSettings:
    return dataclasses.replace(MotionLoraSettings(videos=(str(EXAMPLE_CLIP),), prompt="a ball"), **changes)


def test_buckets_keep_the_aspect_ratio_at_the_target_long_side():
    assert bucket_size(1920, 1080, 384, bucketing=True) == (384, 256)
    assert bucket_size(1080, 1920, 512, bucketing=True) == (256, 512)  # 288 snapped down to 256
    assert bucket_size(1920, 1080, 384, bucketing=False) == (384, 384)
    assert bucket_size(640, 640, 512, bucketing=True) == (512, 512)


def test_frame_sampling_and_a_clip_too_short_for_it():
    frames = np.arange(20)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    assert list(sample_frames(frames, 4, 3, "x")[:, 0, 0, 0]) == [0, 3, 6, 9]
    with pytest.raises(ValueError, match=r"x is too short: 20 frames, but 16 frames at frame_step 3 need 46"):
        sample_frames(frames, 16, 3, "x")
    assert frame_step_for(30, 8) == 3 and frame_step_for(24, 12) == 2 and frame_step_for(60, 8) == 3


def test_a_text_file_beside_the_clip_overrides_the_prompt(tmp_path):
    clip = tmp_path / "clip.mp4"
    write_mp4(rolling_ball_frames(count=10), clip, fps=10)
    assert caption_for(clip, "the prompt") == "the prompt"
    (tmp_path / "clip.txt").write_text("  a ball rolls  \n")
    loaded = load_clip(clip, "the prompt", 8, 1, 0, 64, bucketing=True)
    assert loaded.caption == "a ball rolls" and loaded.frames.shape == (8, 64, 64, 3) and loaded.name == "clip.mp4"


def test_bad_clips_give_clear_messages(tmp_path):
    short = tmp_path / "short.mp4"
    write_mp4(rolling_ball_frames(count=5), short, fps=10)
    with pytest.raises(ValueError, match="short.mp4 is too short"):
        load_clip(short, "a ball", 16, 1, 0, 64, False)
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    with pytest.raises(ValueError, match="video: .*notes.mp4"):
        load_clip(not_video, "a ball", 16, 1, 0, 64, False)
    with pytest.raises(ValueError, match="prompt is empty"):
        load_clip(EXAMPLE_CLIP, "  ", 8, 1, 0, 64, False)


@pytest.mark.parametrize("name", ["../escape", "a/b", "a\\b", ".", "..", "", ".hidden", "x" * 101, "sp ace"])
def test_bad_names_are_refused(name):
    with pytest.raises(ValueError, match="name must use letters"):
        settings(name=name).check_inputs(LIMITS)


@pytest.mark.parametrize("changes, message", [
    ({"prompt": ""}, "prompt is empty"),
    ({"videos": ()}, "videos must be"),
    ({"steps": 16.5}, "steps must be a whole number"),
    ({"preset": "ultra"}, "preset must be one of"),
    ({"optimizer": "sgd"}, "optimizer must be one of"),
    ({"size": 300}, "size must be a multiple of 64"),
    ({"lr_temporal": 1.0}, "lr_temporal must be between"),
])
def test_bad_settings_name_the_argument(changes, message):
    with pytest.raises(ValueError, match=message):
        settings(**changes).check_inputs(LIMITS)


def test_good_names_and_the_defaults_pass_in_both_modes():
    for name in ("my_motion", "zoom-in.v2", "A1"):
        settings(name=name).check_inputs(LIMITS)
    preset = load_preset("motion_director")
    settings().check_inputs(preset.for_mode(True).limits)
    for key, value in preset.for_mode(True).defaults.items():
        assert hasattr(MotionLoraSettings, key) or key in {f.name for f in dataclasses.fields(MotionLoraSettings)}, key
