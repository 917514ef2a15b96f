"""The image-to-video job end to end in demo mode: image in, video and sidecar out, chunks streamed."""

import hashlib
import json

import cv2
import numpy as np
import pytest

from backends.consisti2v.settings import ImageToVideoSettings
from backends.core.jobs import Artifact, CancelToken, JobCancelled, Log, Preview, Result
from backends.core.video_io import VideoError, read_video
from backends.engines import run_engine, start_engine


def picture(path, width=96, height=64):
    rgb = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def settings_for(image, **values):
    return ImageToVideoSettings(**{"image": str(image), "prompt": "waves on a lake", "width": 64, "height": 64,
                                   "steps": 1, "seed": 4, **values})


def test_two_chunks_give_31_frames_with_the_first_chunk_streamed(runtime, tmp_path):
    image = picture(tmp_path / "lake.png")
    events = list(run_engine("consisti2v", settings_for(image, chunks=2), runtime=runtime))
    result = next(e for e in events if isinstance(e, Result))
    video = read_video(result.path).frames
    assert video.shape == (31, 64, 64, 3)
    streamed = [e for e in events if isinstance(e, Artifact)]
    assert len(streamed) == 1 and read_video(streamed[0].path).frames.shape[0] == 16
    assert events.index(streamed[0]) < max(i for i, e in enumerate(events) if isinstance(e, Preview))
    sidecar = json.loads(open(result.sidecar).read())
    assert sidecar["input_image"] == {"name": "lake.png", "sha256": hashlib.sha256(image.read_bytes()).hexdigest()}
    assert str(tmp_path) not in json.dumps(sidecar)  # no server paths
    assert sidecar["frames"] == 31 and sidecar["settings"]["chunks"] == 2


def test_a_tiny_image_runs_with_an_upscaling_notice(runtime, tmp_path):
    events = list(run_engine("consisti2v", settings_for(picture(tmp_path / "small.png", 24, 16)), runtime=runtime))
    assert any(isinstance(e, Log) and "upscaled" in e.message for e in events)
    assert read_video(next(e for e in events if isinstance(e, Result)).path).frames.shape == (16, 64, 64, 3)


def test_bad_inputs_are_refused_before_running(runtime, tmp_path):
    with pytest.raises(ValueError, match="image is missing"):
        list(run_engine("consisti2v", settings_for(""), runtime=runtime))
    (tmp_path / "song.mp3").write_bytes(b"ID3")
    with pytest.raises(VideoError, match="not an image"):
        list(run_engine("consisti2v", settings_for(tmp_path / "song.mp3"), runtime=runtime))
    with pytest.raises(ValueError, match="width"):
        list(run_engine("consisti2v", settings_for(tmp_path / "x.png", width=100), runtime=runtime))
    with pytest.raises(ValueError, match="steps"):
        list(run_engine("consisti2v", settings_for(tmp_path / "x.png", steps=2.5), runtime=runtime))


def test_stop_ends_the_job_and_keeps_no_files(runtime, tmp_path):
    cancel = CancelToken()
    job = start_engine("consisti2v", settings_for(picture(tmp_path / "lake.png"), steps=4), cancel, runtime)
    with pytest.raises(JobCancelled):
        for event in job:
            if isinstance(event, Preview):
                cancel.cancel()
    assert not list((runtime.outputs.root / "consisti2v").glob("*"))


def test_offline_without_weights_says_what_is_missing(tmp_path):
    from backends.core.runtime import Runtime
    from backends.core.sources import MissingWeights

    runtime = Runtime.create(offline=True, force_cpu=True, output_dir=tmp_path / "out", loras_dir=tmp_path / "loras",
                             models_dir=tmp_path / "models")
    with pytest.raises(MissingWeights, match="TIGER-Lab/ConsistI2V"):
        list(run_engine("consisti2v", settings_for(picture(tmp_path / "lake.png"), width=256, height=256),
                        runtime=runtime))
