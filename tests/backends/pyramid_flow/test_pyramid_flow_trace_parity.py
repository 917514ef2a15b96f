"""The whole autoregressive 3-stage sampling trace of the official ``generate``, noises injected."""

import json

import pytest
import torch

from backends.pyramid_flow import scheduler as sched
from backends.pyramid_flow.sampling import TextConditioning, UnitSteps, sample_units

pytestmark = pytest.mark.parity

TOLERANCE = 2e-3


def test_pyramid_flow_full_trace_matches_official(tiny_dit, pyramid_io, pyramid_meta, pyramid_reference):
    pipeline = pyramid_meta["pipeline"]
    config = json.loads((pyramid_reference / "scheduler_reference.json").read_text())["config"]
    schedule = sched.pyramid_schedule(config["stage_range"], config["gamma"], shift=config["shift"])
    text = TextConditioning(pyramid_io["text_embeds"], pyramid_io["text_mask"], pyramid_io["pooled_embeds"])
    noise = pyramid_io["trace_init_noise"]

    starts = sched.shrink_noise(noise, schedule.num_stages)
    for unit in range(noise.shape[2]):
        assert torch.allclose(starts[:, :, unit : unit + 1], pyramid_io[f"trace_u{unit}_start"], atol=1e-6)

    with torch.no_grad():
        units = list(
            sample_units(
                tiny_dit, noise, text,
                UnitSteps(pipeline["num_inference_steps"], pipeline["guidance_scale"]),
                UnitSteps(pipeline["video_num_inference_steps"], pipeline["video_guidance_scale"]),
                schedule, lambda unit, stage, shape: pyramid_io[f"trace_u{unit}_blocknoise_s{stage}"],
            )
        )
    assert len(units) == pipeline["temp"]
    for unit, stages in enumerate(units):
        for stage, latent in enumerate(stages):
            expected = pyramid_io[f"trace_u{unit}_s{stage}_out"]
            assert (latent - expected).abs().max().item() < TOLERANCE, (unit, stage)
    latents = torch.cat([stages[-1] for stages in units], dim=2)
    assert (latents - pyramid_io["trace_out_latents"]).abs().max().item() < TOLERANCE
