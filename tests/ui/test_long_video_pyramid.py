"""The Pyramid Flow sections (Long text-to-video, and from a picture in the Image-to-video tab),
driven over HTTP with gradio_client on the demo app: each streams its growing "so far" video and
returns one of 1 + 8·(units − 1) frames (tiny weights, demo sizes)."""

import json
from pathlib import Path

import cv2
import numpy as np
from gradio_client import handle_file

from backends.core.presets import load_preset
from backends.core.video_io import read_video
from backends.pyramid_flow.settings import PyramidFlowSettings, resolution_sizes

UNITS = PyramidFlowSettings(prompt="x", seconds=load_preset("pyramid_flow").for_mode(True).defaults["seconds"]).units


def video_path(value) -> Path:
    return Path(value["video"] if isinstance(value, dict) else value)


def check_streamed_and_final(job, out: Path, engine: str):
    updates = list(job)
    status, preview, result, gallery, so_far = job.result()
    assert status.startswith("**Done"), status
    frames = read_video(video_path(result)).frames
    width, height = resolution_sizes(True)["384p"]
    assert frames.shape == (1 + 8 * (UNITS - 1), height, width, 3)
    # the "so far" view showed the video growing unit by unit, and ends on the finished one
    assert video_path(so_far).name == video_path(result).name
    shown = {Path(u[-1]).suffixes[0] for u in updates if isinstance(u[-1], str)}  # other updates leave it as it is
    assert {".unit01", ".unit02"} <= shown, shown
    sidecars = [json.loads(p.read_text()) for p in (out / engine).glob("*.json")]
    assert any(s["frames"] == len(frames) and s["stopped"] is False for s in sidecars)
    return sidecars


def test_long_video_pyramid_endpoint_streams_and_returns_the_whole_video(served):
    client, out = served
    job = client.submit(prompt="a koi pond in the rain", seed=4, api_name="/long_video_pyramid")
    sidecars = check_streamed_and_final(job, out, "pyramid_flow")
    assert sidecars[0]["settings"]["cpu_offload"] == "auto" and sidecars[0]["units_planned"] == UNITS


def test_image_to_video_pyramid_endpoint_starts_from_the_picture(served, tmp_path):
    client, out = served
    picture = tmp_path / "first.png"
    cv2.imwrite(str(picture), np.full((64, 96, 3), 120, np.uint8))
    job = client.submit(image=handle_file(str(picture)), prompt="a boat drifting", seed=3,
                        api_name="/image_to_video_pyramid")
    sidecars = check_streamed_and_final(job, out, "pyramid_flow_i2v")
    assert sidecars[0]["settings"]["image"]["name"] == "first.png"
    assert sidecars[0]["guidance_used"][1] == 4.0  # the authors' later-frame guidance from a picture
