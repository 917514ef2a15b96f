"""The AnimateDiff + FreeNoise job on tiny models, loaded through the real Hub-id loading code."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from backends.animatediff.settings import LongVideoSettings
from backends.core.jobs import CancelToken, JobCancelled, Preview, Progress, Result
from backends.core.loras import LoraChoice, diffusers_to_motion_lora
from backends.core.settings import from_dict
from backends.core.video_io import read_video
from backends.engines import run_engine

SMALL = dict(prompt="a red ball bouncing", frames=16, steps=3, width=64, height=64, seed=7)


def run_to_end(settings, runtime, cancel=None):
    events = list(run_engine("animatediff", settings, cancel=cancel, runtime=runtime))
    results = [e for e in events if isinstance(e, Result)]
    assert len(results) == 1
    return events, results[0]


def test_job_streams_progress_previews_and_saves_a_playable_video(runtime):
    settings = LongVideoSettings(**SMALL)
    events, result = run_to_end(settings, runtime)

    denoise = [e for e in events if isinstance(e, Progress) and e.stage == "denoising"]
    assert [e.step for e in denoise] == [1, 2, 3]
    assert all(e.total == 3 and e.eta_s is not None for e in denoise)
    assert denoise[-1].eta_s == 0

    previews = [e for e in events if isinstance(e, Preview)]
    assert len(previews) == 3
    assert previews[0].frames.shape == (16, 8, 8, 3) and previews[0].frames.dtype == np.uint8

    video = read_video(result.path)
    assert video.frames.shape == (16, 64, 64, 3)
    assert video.fps == pytest.approx(8)
    sidecar = json.loads(open(result.sidecar).read())
    assert sidecar["seed"] == 7 and sidecar["settings"]["frames"] == 16
    assert sidecar["models"]["base"] == "stable-diffusion-v1-5/stable-diffusion-v1-5@local folder"
    assert {"torch", "diffusers", "flowstudio"} <= set(sidecar["versions"])


def _decoded(result):
    return read_video(result.path).frames.astype(np.int16)


def test_sidecar_settings_reproduce_the_same_frames(runtime):
    _, first = run_to_end(LongVideoSettings(**{**SMALL, "seed": -1}), runtime)
    sidecar = json.loads(open(first.sidecar).read())
    assert sidecar["settings"]["seed"] == first.seed >= 0  # a random seed is resolved and kept
    again = from_dict(LongVideoSettings, sidecar["settings"])
    _, second = run_to_end(again, runtime)
    assert first.path != second.path  # never overwrites
    assert np.abs(_decoded(first) - _decoded(second)).max() <= 1  # same frames (codec rounding only)


def test_stop_mid_run_ends_within_a_step_and_the_next_job_runs(runtime):
    cancel = CancelToken()
    seen = []
    with pytest.raises(JobCancelled):
        for event in run_engine("animatediff", LongVideoSettings(**{**SMALL, "steps": 20}), cancel=cancel, runtime=runtime):
            if isinstance(event, Progress) and event.stage == "denoising":
                seen.append(event.step)
                if event.step == 2:
                    cancel.cancel()
    assert seen == [1, 2]  # stopped right at the step where Stop was pressed
    assert list((runtime.outputs.root / "animatediff").glob("*.mp4")) == []
    _, result = run_to_end(LongVideoSettings(**SMALL), runtime)
    assert read_video(result.path).frames.shape[0] == 16


def test_free_noise_makes_long_videos(runtime):
    settings = LongVideoSettings(**{**SMALL, "frames": 24, "steps": 2, "context_stride": 4})
    events, result = run_to_end(settings, runtime)
    assert read_video(result.path).frames.shape == (24, 64, 64, 3)
    assert next(e for e in events if isinstance(e, Preview)).frames.shape[0] == 24


def write_motion_lora(runtime, file_name, seed=0):
    """A MotionLoRA in the official AnimateDiff layout, made for the tiny adapter's motion modules."""
    from backends.animatediff.pipeline import load_animatediff

    unet = load_animatediff(runtime).unet
    generator = torch.Generator().manual_seed(seed)
    lora = {}
    for name, module in unet.named_modules():
        if "motion_modules" in name and name.endswith((".attn1", ".attn2")):
            for proj, layer in (("to_q", module.to_q), ("to_k", module.to_k), ("to_v", module.to_v), ("to_out", module.to_out[0])):
                lora[f"{name}.processor.{proj}_lora.down.weight"] = torch.randn(4, layer.in_features, generator=generator)
                lora[f"{name}.processor.{proj}_lora.up.weight"] = torch.randn(layer.out_features, 4, generator=generator)
    official = diffusers_to_motion_lora(lora)
    torch.save({"state_dict": official}, runtime.loras_dir / file_name)
    return official


def test_official_motion_lora_file_loads_and_changes_the_output(runtime):
    official = write_motion_lora(runtime, "zoom.ckpt")
    assert all(".temporal_transformer." in k and ".attention_blocks." in k for k in official)

    _, plain = run_to_end(LongVideoSettings(**SMALL), runtime)
    _, with_lora = run_to_end(LongVideoSettings(**SMALL, loras=(LoraChoice("zoom.ckpt", 0.8),)), runtime)
    _, plain_again = run_to_end(LongVideoSettings(**SMALL), runtime)  # unloading restores the model
    assert np.abs(_decoded(plain) - _decoded(with_lora)).max() > 5
    assert np.abs(_decoded(plain) - _decoded(plain_again)).max() <= 1


def test_a_lora_that_fits_nothing_is_a_clear_error(runtime):
    torch.save({"something.else.lora.down.weight": torch.zeros(2, 2)}, runtime.loras_dir / "other.ckpt")
    with pytest.raises(ValueError, match="matched no layer"):
        run_to_end(LongVideoSettings(**SMALL, loras=(LoraChoice("other.ckpt"),)), runtime)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"prompt": "  "}, "prompt is empty"),
        ({"frames": 8}, "frames must be between 16 and 256"),
        ({"frames": 1000}, "frames must be between"),
        ({"width": 66}, "width must be a multiple of 8"),
        ({"steps": 0}, "steps must be between"),
    ],
)
def test_bad_settings_fail_before_any_work(runtime, change, message):
    with pytest.raises(ValueError, match=message):
        run_to_end(dataclasses.replace(LongVideoSettings(**SMALL), **change), runtime)


def test_two_jobs_at_once_with_different_loras_and_free_noise_equal_their_sequential_twins(runtime):
    import threading

    write_motion_lora(runtime, "a.ckpt", seed=1)
    write_motion_lora(runtime, "b.ckpt", seed=2)
    jobs = [LongVideoSettings(**{**SMALL, "steps": 2}, loras=(LoraChoice("a.ckpt", 0.7),)),
            LongVideoSettings(**{**SMALL, "steps": 2, "frames": 24, "context_stride": 4}, loras=(LoraChoice("b.ckpt", 1.0),))]
    sequential = [read_video(run_to_end(settings, runtime)[1].path).frames for settings in jobs]
    two_slots = dataclasses.replace(runtime, gpu_slots=threading.BoundedSemaphore(2))  # --concurrency 2
    results = [None, None]

    def run(index):
        results[index] = run_to_end(jobs[index], two_slots)[1]

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for index in (0, 1):
        assert np.array_equal(read_video(results[index].path).frames, sequential[index]), index
