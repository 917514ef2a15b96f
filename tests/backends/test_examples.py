"""The shipped example inputs: small, readable, and what the code that made them makes."""

import numpy as np
import pytest

from backends.core.video_io import read_video
from backends.examples import EXAMPLES_DIR, bouncing_balls_examples, example_prompts, panning_scene, write_examples

SHIPPED = sorted(p for p in EXAMPLES_DIR.rglob("*") if p.is_file())


def test_examples_are_small_and_their_clips_play():
    assert SHIPPED
    for path in SHIPPED:
        assert path.stat().st_size < 1_000_000, path
    clips = [p for p in SHIPPED if p.suffix == ".mp4"]
    assert {p.parent.name for p in clips} >= {"flow_video", "frame_prediction"}
    for clip in clips:
        assert read_video(clip).frames.shape[0] >= 10, clip


def test_generated_clips_match_what_ships(tmp_path):
    written = write_examples(tmp_path)
    for path in written:
        shipped = read_video(EXAMPLES_DIR / path.relative_to(tmp_path)).frames.astype(int)
        assert np.abs(read_video(path).frames.astype(int) - shipped).mean() < 1.0, path


def test_example_clips_show_what_they_say():
    flow = panning_scene()
    assert flow.shape == (17, 256, 256, 3) and not np.array_equal(flow[0], flow[-1])  # OnlyFlow takes frames + 1
    balls = bouncing_balls_examples()
    grey = balls["grey_ball"][0].astype(int)
    lit = grey.max(axis=-1) > 100
    assert np.ptp(grey[lit], axis=-1).max() <= 1  # grey: all channels equal
    assert all(clip.shape == (10, 64, 64, 3) for clip in balls.values())


@pytest.mark.parametrize("tab", ["long_video", "flow_video"])
def test_each_generating_tab_has_prompt_suggestions(tab):
    prompts = example_prompts(tab)
    assert len(prompts) >= 3 and all(isinstance(p, str) and 10 < len(p) < 200 for p in prompts)
    assert example_prompts("no_such_tab") == []
