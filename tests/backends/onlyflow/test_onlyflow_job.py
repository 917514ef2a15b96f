"""The OnlyFlow job end to end on tiny models: flow video, previews, FreeNoise, gamma, sweep, errors."""

import json

import numpy as np
import pytest

from backends.core.jobs import Artifact, CancelToken, JobContext, Preview, Progress, Result
from backends.core.video_io import VideoError, read_video, write_mp4
from backends.engines import run_engine
from backends.onlyflow import job
from backends.onlyflow.settings import FlowVideoSettings


def moving_texture(path, frames=25, height=64, width=64, shift=2):
    rng = np.random.default_rng(0)
    canvas = (rng.random((height, width + frames * shift, 3)) * 255).astype(np.uint8)
    clip = np.stack([canvas[:, i * shift : i * shift + width] for i in range(frames)])
    return write_mp4(clip, path, fps=8)


def run_job(runtime, **values):
    settings = FlowVideoSettings(**{"prompt": "a fox running", "frames": 8, "steps": 2, "width": 64, "height": 64,
                                    "seed": 5, **values})
    events = list(run_engine("onlyflow", settings, runtime=runtime))
    return events, next(e for e in events if isinstance(e, Result))


def test_24_frames_through_free_noise_with_flow_video_previews_and_output(runtime, tmp_path):
    video = moving_texture(tmp_path / "in.mp4")
    events, result = run_job(runtime, video=str(video), frames=24, context_stride=4, gamma=1.0)
    flow_artifact = next(e for e in events if isinstance(e, Artifact) and "optical flow (opencv_dis)" in e.label)
    first_preview = next(i for i, e in enumerate(events) if isinstance(e, Preview))
    assert events.index(flow_artifact) < first_preview  # the flow is shown before generation
    flow = read_video(flow_artifact.path)
    assert flow.frames.shape == (24, 64, 64, 3)
    assert [e.frames.shape for e in events if isinstance(e, Preview)] == [(24, 8, 8, 3)] * 2
    assert [e.step for e in events if isinstance(e, Progress) and e.stage == "denoising"] == [1, 2]
    assert read_video(result.path).frames.shape == (24, 64, 64, 3)
    sidecar = json.loads(open(result.sidecar).read())
    assert sidecar["flow_method"] == "opencv_dis" and sidecar["settings"]["gamma"] == 1.0
    assert sidecar["models"]["onlyflow"] == "obvious-research/onlyflow/weights_fp16.ckpt@demo (tiny random weights)"
    compare = next(e for e in events if isinstance(e, Artifact) and e.label == "input | flow | result")
    assert read_video(compare.path).frames.shape[2] > 3 * 64


def test_reading_the_clip_and_each_frame_pairs_flow_are_progress_before_generation(runtime, tmp_path):
    events = []  # straight from the job (the app's queue would merge progress the reader has not taken yet)
    settings = FlowVideoSettings(prompt="a fox", video=str(moving_texture(tmp_path / "in.mp4")), frames=8, steps=2,
                                 width=64, height=64, seed=5)
    job.run(settings, JobContext(runtime, CancelToken(), events.append))
    progress = [(index, e) for index, e in enumerate(events) if isinstance(e, Progress)]
    first_preview = next(i for i, e in enumerate(events) if isinstance(e, Preview))
    flow_shown = next(i for i, e in enumerate(events) if isinstance(e, Artifact) and "optical flow" in e.label)
    before = [e for index, e in progress if index < flow_shown]
    assert before[0].stage == "reading the clip" and before[0].step == 0
    flow = [e for e in before if e.stage == "optical flow, frame pair"]
    assert [(e.step, e.total) for e in flow] == [(k, 8) for k in range(9)]  # 0/8 as it starts, then pair by pair
    assert all(e.eta_s is not None for e in flow[1:]) and flow[-1].eta_s == 0
    assert flow_shown < first_preview and all(e.stage != "denoising" for e in before)


def test_gamma_changes_the_output_on_the_same_seed(runtime, tmp_path):
    video = str(moving_texture(tmp_path / "in.mp4"))
    _, plain = run_job(runtime, video=video, gamma=0.0)
    _, guided = run_job(runtime, video=video, gamma=1.0)
    difference = np.abs(read_video(plain.path).frames.astype(int) - read_video(guided.path).frames.astype(int))
    assert difference.max() > 5


def test_gamma_sweep_is_one_side_by_side_video(runtime, tmp_path):
    video = str(moving_texture(tmp_path / "in.mp4"))
    events, result = run_job(runtime, video=video, sweep=(0.0, 1.0))
    assert [e.total for e in events if isinstance(e, Progress) and e.stage == "denoising"][-1] == 4
    sweep = read_video(result.path).frames
    assert sweep.shape[0] == 8 and sweep.shape[2] >= 4 * 64  # input | flow | gamma 0 | gamma 1


def test_short_clips_generate_as_many_frames_as_they_have(runtime, tmp_path):
    video = str(moving_texture(tmp_path / "short.mp4", frames=5))
    events, result = run_job(runtime, video=video, frames=16)
    assert any("generating 4" in getattr(e, "message", "") for e in events)
    assert read_video(result.path).frames.shape[0] == 4


def test_huge_inputs_are_downscaled_while_reading(runtime, tmp_path):
    big = write_mp4(np.random.default_rng(1).integers(0, 255, (3, 1080, 1920, 3), dtype=np.uint8), tmp_path / "big.mp4", 8)
    _, result = run_job(runtime, video=str(big), frames=2)
    assert read_video(result.path).frames.shape == (2, 64, 64, 3)


def test_bad_videos_are_clear_errors_and_leave_no_files(runtime, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(VideoError, match="not a video"):
        run_job(runtime, video=str(tmp_path / "notes.txt"))
    one_frame = write_mp4(np.zeros((1, 64, 64, 3), np.uint8), tmp_path / "one.mp4", 8)
    with pytest.raises(VideoError, match="at least 2 frames"):
        run_job(runtime, video=str(one_frame))
    with pytest.raises(ValueError, match="video is missing"):
        run_job(runtime, video="")
    assert not (runtime.outputs.root / "onlyflow").exists() or not any((runtime.outputs.root / "onlyflow").iterdir())
