"""Loading AnimateDiff through the presets, switching FreeNoise, decoding latents."""

import pytest
import torch
from diffusers.models.attention import FreeNoiseTransformerBlock

from backends.animatediff.pipeline import configure_free_noise, decode_latents, has_variant, load_animatediff
from backends.core.jobs import CancelToken, JobCancelled, JobContext, Progress


def free_noise_blocks(pipe):
    return sum(isinstance(m, FreeNoiseTransformerBlock) for m in pipe.unet.modules())


def test_loads_once_with_the_official_scheduler(runtime):
    pipe = load_animatediff(runtime)
    assert load_animatediff(runtime) is pipe and runtime.models.loaded() == ["animatediff"]
    config = pipe.scheduler.config
    assert (type(pipe.scheduler).__name__, config.timestep_spacing, config.steps_offset, config.clip_sample) == (
        "DDIMScheduler", "linspace", 1, False)
    assert pipe.unet.dtype == torch.float32  # CPU policy


def test_variant_files_are_used_only_when_present(tmp_path):
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    assert not has_variant(tmp_path, "fp16") and not has_variant(tmp_path, None)
    (tmp_path / "unet" / "diffusion_pytorch_model.fp16.safetensors").write_bytes(b"")
    assert has_variant(tmp_path, "fp16")


def test_free_noise_switches_on_above_the_window_and_off_again(runtime):
    pipe = load_animatediff(runtime)
    configure_free_noise(pipe, 24, 16, 4, "sdpa")
    assert pipe.free_noise_enabled and free_noise_blocks(pipe) > 0
    configure_free_noise(pipe, 24, 16, 8, "sdpa")
    assert pipe._free_noise_context_stride == 8
    configure_free_noise(pipe, 16, 16, 8, "sdpa")  # v3 has no motion mid block: diffusers' own switch crashes
    assert not pipe.free_noise_enabled and free_noise_blocks(pipe) == 0


def test_decoding_reports_progress_per_chunk_and_stops(runtime):
    pipe = load_animatediff(runtime)
    latents = torch.randn(1, 4, 10, 8, 8, generator=torch.Generator().manual_seed(0))
    events = []
    frames = decode_latents(pipe, latents, JobContext(runtime, CancelToken(), events.append), chunk=4)
    assert frames.shape == (10, 64, 64, 3) and frames.dtype.name == "uint8"
    assert [(e.step, e.total) for e in events if isinstance(e, Progress)] == [(1, 3), (2, 3), (3, 3)]
    token = CancelToken()
    token.cancel()
    with pytest.raises(JobCancelled):
        decode_latents(pipe, latents, JobContext(runtime, token, events.append))
