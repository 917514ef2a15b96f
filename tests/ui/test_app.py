"""The app in-process, driven over HTTP with gradio_client like any API user would."""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import httpx
import pytest
import numpy as np
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import app as flow_app
from backends.core.video_io import write_mp4
from ui.app_ui import TABS

def long_video_args(prompt="a lighthouse at dusk", frames=16, steps=2, seed=1):
    """Keyword arguments of the /long_video endpoint (its parameters are named after the settings)."""
    return dict(prompt=prompt, negative_prompt="blurry", frames=frames, steps=steps, width=64, height=64, seed=seed)


def test_every_tab_answers_on_a_named_endpoint(served):
    client, _ = served
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    for tab in TABS:
        assert f"/{tab.id}" in endpoints, tab.id


def test_long_video_endpoint_streams_and_returns_a_saved_video(served):
    client, out = served
    job = client.submit(**long_video_args(), api_name="/long_video")
    updates = list(job)
    statuses = [u[0] for u in updates]
    assert any("denoising 1/2" in s for s in statuses) and any("ETA" in s for s in statuses)
    status, preview, video, gallery = job.result()
    assert Path(preview).exists() and Path(video["video"] if isinstance(video, dict) else video).exists()
    assert status.startswith("**Done · seed 1")
    assert len(list((out / "animatediff").glob("*.mp4"))) >= 1 and gallery


@pytest.mark.parametrize(
    "args, message",
    [
        (long_video_args(prompt=""), "prompt is empty"),
        (long_video_args(frames=8), "Value 8 is less than minimum value 16"),
        (long_video_args(steps=500), "Value 500 is greater than maximum value 100"),
    ],
)
def test_bad_input_is_a_clear_message_and_the_server_keeps_serving(served, args, message):
    client, _ = served
    with pytest.raises(AppError, match=message):
        client.predict(**args, api_name="/long_video")
    status, _, _, _ = client.predict(**long_video_args(steps=1), api_name="/long_video")
    assert status.startswith("**Done")


def wait_for(predicate, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_stop_endpoint_stops_an_api_job_and_frees_the_queue(served):
    client, out = served
    job = client.submit(**long_video_args(steps=60, seed=11), api_name="/long_video")
    assert wait_for(lambda: any("denoising" in str(u[0]) for u in job.outputs()))
    assert "Stopping" in client.predict(api_name="/long_video_stop")  # the same session's job
    status, *_ = job.result()
    assert status.startswith("**Stopped")
    status, *_ = client.predict(**long_video_args(steps=1, seed=12), api_name="/long_video")
    assert status.startswith("**Done")
    assert not list((out / "animatediff").glob("*_11.mp4"))  # the stopped job saved nothing


def test_a_job_whose_page_went_away_still_saves_its_result(served):
    client, out = served
    base = client.src.rstrip("/")
    values = long_video_args(steps=4, seed=21)
    parameters = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/long_video"]["parameters"]
    data = [values.get(p["parameter_name"], p["parameter_default"]) for p in parameters]
    event = httpx.post(f"{base}/gradio_api/call/long_video", json={"data": data}).json()["event_id"]
    with httpx.stream("GET", f"{base}/gradio_api/call/long_video/{event}", timeout=120) as stream:
        for line in stream.iter_lines():
            if "denoising" in line:
                break  # the browser tab closes mid-job
    assert wait_for(lambda: list((out / "animatediff").glob("*_21.mp4")))
    status, *_ = client.predict(**long_video_args(steps=1, seed=22), api_name="/long_video")
    assert status.startswith("**Done")


def test_four_jobs_at_once_all_finish_one_gpu_job_at_a_time(served):
    client, out = served
    seeds = [101, 102, 103, 104]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda s: client.predict(**long_video_args(seed=s), api_name="/long_video"), seeds))
    assert all(r[0].startswith("**Done") for r in results)
    sidecars = [json.loads(p.read_text()) for p in (out / "animatediff").glob("*.json")]
    mine = sorted((s for s in sidecars if s["seed"] in seeds), key=lambda s: s["started_unix"])
    assert [s["seed"] for s in mine] and sorted(s["seed"] for s in mine) == seeds
    assert len({s["output"] for s in mine}) == 4
    for earlier, later in zip(mine, mine[1:]):  # intervals do not overlap: one job at a time
        assert earlier["started_unix"] + earlier["elapsed_s"] <= later["started_unix"] + 0.05


def flow_video_args(video, **values):
    return dict(video=handle_file(str(video)), prompt="a paper fox", frames=8, steps=2, width=64, height=64, seed=2,
                **values)


def test_flow_video_endpoint_returns_flow_result_and_comparison(served, tmp_path):
    client, out = served
    clip = write_mp4(np.random.default_rng(0).integers(0, 255, (12, 64, 96, 3), dtype=np.uint8), tmp_path / "c.mp4", 8)
    reference = tmp_path / "reference.png"
    cv2.imwrite(str(reference), np.full((40, 30, 3), 200, np.uint8))
    status, preview, result, gallery, flow, compare = client.predict(
        **flow_video_args(clip), reference_image=handle_file(str(reference)), ip_adapter_scale=0.7, api_name="/flow_video"
    )
    assert status.startswith("**Done") and Path(preview).exists()
    for video in (result, flow, compare):
        assert Path(video["video"] if isinstance(video, dict) else video).exists()
    sidecars = [json.loads(p.read_text())["settings"] for p in (out / "onlyflow").glob("*.json")]
    # inputs are recorded by name and SHA-256, never by their place in the server's upload cache
    assert any(s["ip_adapter_scale"] == 0.7 and s["reference_image"]["name"].endswith(".png")
               and len(s["reference_image"]["sha256"]) == 64 for s in sidecars)
    assert not any("/" in json.dumps(s["video"]) or "/" in json.dumps(s["reference_image"]) for s in sidecars)
    # Without the new parameters (as older callers send it): no reference image.
    status, *_ = client.predict(**flow_video_args(clip), sweep_gammas="0, 1", api_name="/flow_video_sweep")
    assert status.startswith("**Done") and len(list((out / "onlyflow").glob("*.mp4"))) >= 2


@pytest.mark.parametrize("content", [b"just some text, not a video", b"\x00\x00\x00\x18ftypmp42" + bytes(2000)],
                         ids=["text-file", "corrupt-mp4"])
def test_non_video_and_corrupt_uploads_are_clear_messages(served, tmp_path, content):
    client, _ = served
    bad = tmp_path / "upload.mp4"
    bad.write_bytes(content)
    with pytest.raises(AppError, match="video"):
        client.predict(**flow_video_args(bad), api_name="/flow_video")
    status, *_ = client.predict(**long_video_args(steps=1), api_name="/long_video")
    assert status.startswith("**Done")  # still serving


def test_train_then_predict_with_the_new_model(served, tmp_path):
    from backends.river.bouncing_balls import bouncing_balls

    client, out = served
    clips = tmp_path / "clips"
    clips.mkdir()
    for index in range(3):
        write_mp4(bouncing_balls(8, np.random.default_rng(index), size=32), clips / f"{index}.mp4", fps=8)
    status, preview, plot = client.predict(data=str(clips), name="balls", image_size=32, frames_per_sample=5,
                                           autoencoder_steps=2, steps=3, batch_size=2, preview_every=2, save_every=2,
                                           api_name="/river_train")
    assert status.startswith("**Done") and (out / "river_models" / "balls" / "model.pth").is_file()
    assert Path(preview).exists()
    assert {row[2] for row in plot["data"] if row[1] is not None} == {"autoencoder", "vector field"}  # a curve each
    status, preview, result, gallery, scores, compare = client.predict(
        model="balls", input=handle_file(str(clips / "0.mp4")), context_frames=2, predict_frames=3, steps=1, seed=4,
        api_name="/frame_prediction")
    assert status.startswith("**Done · seed 4") and Path(result["video"] if isinstance(result, dict) else result).exists()
    assert [row[0] for row in scores["data"]] == [1, 2, 3]
    compare = compare["video"] if isinstance(compare, dict) else compare
    assert Path(compare).name.endswith(".compare.mp4") and Path(compare).exists()
    with pytest.raises(AppError, match="model must be one of"):
        client.predict(model="missing", input=handle_file(str(clips / "0.mp4")), api_name="/frame_prediction")


@pytest.fixture(scope="module")
def offline_app(tmp_path_factory, free_port):
    """The real app (no demo, no weights on this machine, no network)."""
    out = tmp_path_factory.mktemp("offline_outputs")
    app = flow_app.launch(flow_app.parse_args(["--offline", "--cpu", "--output-dir", str(out), "--port", str(free_port())]),
                          prevent_thread_lock=True)
    yield Client(app.local_url, verbose=False)
    app.close()


def test_without_weights_each_tab_says_what_it_needs(offline_app, tmp_path):
    clip = write_mp4(np.zeros((4, 64, 64, 3), np.uint8), tmp_path / "c.mp4", 8)
    with pytest.raises(AppError, match="Weights for AnimateDiff \\+ FreeNoise are not in the local cache: "
                                       "stable-diffusion-v1-5/stable-diffusion-v1-5"):
        offline_app.predict(prompt="a boat", api_name="/long_video")
    with pytest.raises(AppError, match="not in the local cache: stable-diffusion-v1-5"):
        offline_app.predict(video=handle_file(str(clip)), prompt="a boat", frames=2, width=256, height=256,
                            api_name="/flow_video")
    with pytest.raises(AppError, match="not in the local cache: cvg-unibe/river_kth_64"):
        offline_app.predict(model="river_kth_64", input=handle_file(str(clip)), api_name="/frame_prediction")
    picture = tmp_path / "p.png"
    cv2.imwrite(str(picture), np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(AppError, match="Weights for ConsistI2V \\(image-to-video\\) are not in the local cache: "
                                       "TIGER-Lab/ConsistI2V"):
        offline_app.predict(image=handle_file(str(picture)), prompt="a boat", api_name="/image_to_video")
    with pytest.raises(AppError, match="not in the local cache: stable-diffusion-v1-5.*guoyww/animatediff"):
        offline_app.predict(videos=[handle_file(str(clip))], prompt="a boat", api_name="/lora_trainer")


def weights_notices(client) -> list[str]:
    """The text of every tab's missing-weights notice as the page opens."""
    return [c["props"]["value"] for c in client.config["components"]
            if "weights-notice" in (c.get("props", {}).get("elem_classes") or [])]


def test_each_tab_says_which_weights_it_lacks_when_it_opens(offline_app, served):
    notices = weights_notices(offline_app)
    assert len(notices) == 7  # one per engine section; frame prediction's follows the model picker
    flow = next(n for n in notices if "OnlyFlow" in n)
    assert flow.startswith("⚠️ Weights for OnlyFlow (flow-guided AnimateDiff) are not in the local cache: "
                           "stable-diffusion-v1-5/stable-diffusion-v1-5 (about 2 GB), "
                           "guoyww/animatediff-motion-adapter-v1-5-3 (about 1.7 GB), "
                           "obvious-research/onlyflow/weights_fp16.ckpt (about 0.44 GB). This app runs offline")
    assert "`python app.py --download onlyflow`" in flow and ".." not in flow and "ENGINE" not in flow
    assert "Models panel" not in flow  # offline, its Download would refuse
    assert any("ConsistI2V" in n for n in notices) and any("MotionDirector" in n for n in notices)
    assert notices.count("") == 1  # the embedded bouncing-balls model needs nothing
    served_client, _ = served
    assert set(weights_notices(served_client)) == {""}  # demo mode lacks nothing


def test_downloads_are_refused_on_a_shared_deployment_unless_allowed(tmp_path, free_port):
    args = ["--public", "--offline", "--cpu", "--tabs", "frame_prediction", "--output-dir", str(tmp_path)]
    app = flow_app.launch(flow_app.parse_args([*args, "--port", str(free_port())]), prevent_thread_lock=True)
    try:
        client = Client(app.local_url, verbose=False)
        button = next(c for c in client.config["components"] if c["props"].get("value") == "Download")
        assert button["props"]["interactive"] is False
        with pytest.raises(AppError, match="Downloads are off on this shared deployment"):
            client.predict("animatediff", False, api_name="/download_weights")
    finally:
        app.close()
    app = flow_app.launch(flow_app.parse_args([*args, "--allow-downloads", "--port", str(free_port())]),
                          prevent_thread_lock=True)
    try:  # the operator allowed them: the download runs (and, offline, says what it cannot fetch)
        with pytest.raises(AppError, match="not in the local cache: stable-diffusion-v1-5"):
            Client(app.local_url, verbose=False).predict("animatediff", False, api_name="/download_weights")
    finally:
        app.close()
