"""The Motion LoRA tab over HTTP: train on the example clip, see the files, try the LoRAs."""

from pathlib import Path

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from backends.core.jobs import Metric
from backends.motion_director.example import EXAMPLE_CLIP
from ui.lora_trainer import loss_curve


def test_train_shows_curves_and_samples_then_try_it_renders_with_the_loras(served):
    client, out = served
    status, preview, result, plot, clips_video, sample = client.predict(
        videos=[handle_file(str(EXAMPLE_CLIP))], prompt="a red ball rolling", name="tab_ball", steps=2,
        validation_every=2, api_name="/lora_trainer")
    assert status.startswith("**Done") and Path(preview).exists()
    assert {row[2] for row in plot["data"]} == {"spatial", "temporal", "debiased"}
    for video in (result, clips_video, sample):
        assert Path(video["video"] if isinstance(video, dict) else video).exists()
    folder = out / "loras" / "tab_ball"
    assert (folder / "tab_ball_temporal.safetensors").is_file() and (folder / "tab_ball_spatial.safetensors").is_file()

    status, *_ = client.predict(prompt="a ball in the snow", name="tab_ball", temporal_weight=1.0, spatial_weight=0.5,
                                seed=3, api_name="/lora_trainer_try")
    assert status.startswith("**Done · seed 3")
    with pytest.raises(AppError, match="No trained LoRA named 'nothing'"):
        client.predict(prompt="x", name="nothing", api_name="/lora_trainer_try")
    with pytest.raises(AppError, match="name must use letters"):
        client.predict(videos=[handle_file(str(EXAMPLE_CLIP))], prompt="x", name="../up", api_name="/lora_trainer")


def test_loss_curve_has_one_series_per_loss():
    frame = loss_curve([Metric("spatial", 1, 0.5), Metric("temporal", 1, 2.0), Metric("debiased", 1, 1.0)])
    assert list(frame["series"]) == ["spatial", "temporal", "debiased"] and list(frame["step"]) == [1, 1, 1]
