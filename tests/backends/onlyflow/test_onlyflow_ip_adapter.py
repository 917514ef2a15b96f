"""The OnlyFlow job with a reference image (IP-Adapter) on the shared tiny pipeline: loaded when
asked, kept between jobs, dropped for jobs without an image, never in the long-video tab's way."""

import json

import cv2
import numpy as np
import pytest

from backends.animatediff.settings import LongVideoSettings
from backends.core.jobs import Result
from backends.core.video_io import VideoError, read_video
from backends.core.paths import describe_input
from backends.engines import run_engine

from .test_onlyflow_job import moving_texture, run_job


@pytest.fixture
def reference(tmp_path):
    path = tmp_path / "reference.png"
    cv2.imwrite(str(path), (np.random.default_rng(3).random((48, 40, 3)) * 255).astype(np.uint8))
    return str(path)


def frames_of(result):
    return read_video(result.path).frames.astype(int)


def test_reference_image_steers_the_result_and_is_unloaded_for_jobs_without_one(runtime, tmp_path, reference):
    video = str(moving_texture(tmp_path / "in.mp4"))
    _, plain = run_job(runtime, video=video)
    pipe = runtime.models.peek("animatediff")

    _, guided = run_job(runtime, video=video, reference_image=reference, ip_adapter_scale=0.8)
    assert np.abs(frames_of(plain) - frames_of(guided)).max() > 5
    sidecar = json.loads(open(guided.sidecar).read())
    assert sidecar["settings"]["reference_image"] == describe_input(reference) and sidecar["settings"]["ip_adapter_scale"] == 0.8
    assert sidecar["models"]["ip_adapter"] == "h94/IP-Adapter/models/ip-adapter_sd15.safetensors"
    assert "ip_adapter" not in json.loads(open(plain.sidecar).read())["models"]

    loaded = pipe._flowstudio_ip_adapter
    image_encoder = pipe.image_encoder
    run_job(runtime, video=video, reference_image=reference, ip_adapter_scale=0.3, steps=1)
    assert pipe._flowstudio_ip_adapter == loaded and pipe.image_encoder is image_encoder  # kept, not reloaded
    assert {p.scale[0] for p in pipe.unet.attn_processors.values() if hasattr(p, "scale")} == {0.3}

    _, again = run_job(runtime, video=video)
    assert runtime.models.peek("animatediff") is pipe and pipe._flowstudio_ip_adapter is None
    assert pipe.image_encoder is None and pipe.unet.encoder_hid_proj is None
    assert np.array_equal(frames_of(again), frames_of(plain))  # the unloaded pipeline is the plain one again


def test_a_long_video_job_after_a_reference_image_job_drops_the_ip_adapter(runtime, tmp_path, reference):
    run_job(runtime, video=str(moving_texture(tmp_path / "in.mp4")), reference_image=reference, steps=1)
    assert runtime.models.peek("animatediff")._flowstudio_ip_adapter is not None
    settings = LongVideoSettings(prompt="a lighthouse", frames=16, steps=1, width=64, height=64, seed=1)
    result = next(e for e in run_engine("animatediff", settings, runtime=runtime) if isinstance(e, Result))
    assert read_video(result.path).frames.shape[0] == 16
    assert runtime.models.peek("animatediff")._flowstudio_ip_adapter is None


def test_unreadable_reference_images_are_clear_errors_before_any_work(runtime, tmp_path):
    video = str(moving_texture(tmp_path / "in.mp4"))
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(VideoError, match="reference image: notes.png is not an image"):
        run_job(runtime, video=video, reference_image=str(tmp_path / "notes.png"))
    with pytest.raises(VideoError, match="reference image: image file not found: gone.png"):
        run_job(runtime, video=video, reference_image=str(tmp_path / "gone.png"))
    with pytest.raises(ValueError, match="ip_adapter_scale must be between 0 and 1, got 1.5"):
        run_job(runtime, video=video, reference_image=str(tmp_path / "notes.png"), ip_adapter_scale=1.5)
    assert not (runtime.outputs.root / "onlyflow").exists() or not any((runtime.outputs.root / "onlyflow").iterdir())
