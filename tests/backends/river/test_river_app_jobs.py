"""The app's RIVER jobs through the engine registry: predicting from a clip with a model from the
list, and training on a folder of clips until the new model is in that list."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import save_file

from backends.core.jobs import Artifact, CancelToken, JobCancelled, Metric, Preview, Progress, Result
from backends.core.video_io import VideoError, read_video, write_mp4
from backends.engines import run_engine
from backends.river.bouncing_balls import bouncing_balls
from backends.river.job import TRAINED_MODELS, available_models
from backends.river.model import Model
from backends.river.settings import FramePredictionSettings, RiverTrainingSettings

from .conftest import tiny_config


@pytest.fixture
def tiny_model(runtime):
    """A model folder as the trainer writes it (config.yaml + model.safetensors) under the outputs."""
    torch.manual_seed(0)
    config = tiny_config()
    model = Model(config["model"])
    folder = runtime.outputs.root / TRAINED_MODELS / "tiny"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    return "tiny"


def clip_file(path, frames=8, size=16):
    return write_mp4(bouncing_balls(frames, np.random.default_rng(5), size=size), path, fps=8)


def run_events(engine, settings, runtime, cancel=None):
    events = list(run_engine(engine, settings, cancel=cancel, runtime=runtime))
    return events, next(e for e in events if isinstance(e, Result))


def test_prediction_streams_frames_scores_and_saves(runtime, tiny_model, tmp_path):
    settings = FramePredictionSettings(input=str(clip_file(tmp_path / "c.mp4")), model=tiny_model, context_frames=2,
                                       predict_frames=4, sampler="euler", steps=2, samples=2, seed=3)
    events, result = run_events("river", settings, runtime)
    previews = [e for e in events if isinstance(e, Preview)]
    steps = [p.step for p in previews]  # a slow reader gets the newest preview only (they coalesce)
    assert steps == sorted(set(steps)) and steps[-1] == 4 and previews[0].frames.shape == (2, 192, 192, 3)
    assert [e.step for e in events if isinstance(e, Progress) and e.stage == "predicting"][-1] == 8
    psnr = [e.value for e in events if isinstance(e, Metric) and e.name == "psnr"]
    assert len(psnr) == 4 and len([e for e in events if isinstance(e, Metric) and e.name == "psnr_repeat_last"]) == 4
    size = tiny_config()["data"]["crop_size"]
    assert read_video(result.path).frames.shape == (6, size, size, 3)  # sample 1 at the model's size
    assert read_video(result.info["files"]["-2.mp4"]).frames.shape == (6, size, size, 3)
    compare = next(e for e in events if isinstance(e, Artifact) and e.label.startswith("Comparison"))
    assert compare.path == result.info["files"][".compare.mp4"]
    assert read_video(compare.path).frames.shape[2] > 3 * 192  # truth | sample 1 | sample 2, enlarged
    sidecar = json.loads(open(result.sidecar).read())
    assert sidecar["psnr"] == pytest.approx(psnr) and sidecar["settings"]["model"] == "tiny"
    assert sidecar["nfe_per_frame"] == 2 and sidecar["seed"] == 3
    assert set(sidecar["files"]) == {Path(p).name for p in result.info["files"].values()}


def test_prediction_can_save_lossless_frames(runtime, tiny_model, tmp_path):
    import cv2

    clip = clip_file(tmp_path / "c.mp4")
    settings = FramePredictionSettings(input=str(clip), model=tiny_model, predict_frames=3, steps=1, samples=2,
                                       save_frames=True, seed=2)
    _, result = run_events("river", settings, runtime)
    folder = Path(result.info["files"][".frames"])
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png")) == [
        f"sample{s}/{i:03d}.png" for s in (1, 2) for i in range(5)
    ]
    first = cv2.cvtColor(cv2.imread(str(folder / "sample2" / "000.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(first, read_video(clip).frames[0])  # the context frame as read, losslessly


def test_images_and_a_start_frame_choose_the_context(runtime, tiny_model, tmp_path):
    import cv2

    frames = bouncing_balls(6, np.random.default_rng(1), size=16)
    paths = []
    for i, frame in enumerate(frames):
        paths.append(str(tmp_path / f"{i}.png"))
        cv2.imwrite(paths[-1], cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    settings = FramePredictionSettings(images=tuple(paths), model=tiny_model, start_frame=2, context_frames=2,
                                       predict_frames=2, steps=1, seed=1)
    _, result = run_events("river", settings, runtime)
    assert json.loads(open(result.sidecar).read())["psnr"]  # frames 4-5 are the true continuation
    folder_settings = FramePredictionSettings(input=str(tmp_path), model=tiny_model, predict_frames=2, steps=1)
    assert read_video(run_events("river", folder_settings, runtime)[1].path).frames.shape[0] == 4


def test_bad_requests_are_clear(runtime, tiny_model, tmp_path):
    with pytest.raises(ValueError, match="input is missing"):
        run_events("river", FramePredictionSettings(model=tiny_model), runtime)
    with pytest.raises(ValueError, match=r"model must be one of bouncing_balls, river_bair_64"):
        run_events("river", FramePredictionSettings(input=str(clip_file(tmp_path / "c.mp4")), model="nope"), runtime)
    with pytest.raises(VideoError, match="2 context frames are needed"):
        run_events("river", FramePredictionSettings(input=str(clip_file(tmp_path / "c.mp4")), start_frame=7,
                                                    model=tiny_model), runtime)
    with pytest.raises(ValueError, match="sampler must be one of"):
        run_events("river", FramePredictionSettings(input="x.mp4", sampler="dopri5"), runtime)


def test_releases_are_listed_and_missing_ones_say_how_to_get_them(runtime, tmp_path):
    names = [entry.name for entry in available_models(runtime)]
    assert names[:5] == ["bouncing_balls", "river_bair_64", "river_bair_256", "river_kth_64",
                         "river_clevrer_128"]
    offline = dataclasses.replace(runtime, sources=type(runtime.sources)(offline=True, cache_dir=tmp_path))
    settings = FramePredictionSettings(input=str(clip_file(tmp_path / "c.mp4")), model="river_kth_64")
    with pytest.raises(Exception, match="cvg-unibe/river_kth_64"):
        run_events("river", settings, offline)


def clips_folder(folder, count=3, frames=8, size=16):
    folder.mkdir()
    for index in range(count):
        write_mp4(bouncing_balls(frames, np.random.default_rng(index), size=size), folder / f"{index}.mp4", fps=8)
    return folder


def training(tmp_path, **values):
    return RiverTrainingSettings(**{"data": str(clips_folder(tmp_path / "clips")), "name": "balls", "image_size": 16,
                                    "frames_per_sample": 5, "autoencoder_steps": 3, "steps": 4, "batch_size": 2,
                                    "inner_dim": 32, "preview_every": 2, "save_every": 2, **values})


def test_training_both_stages_makes_a_model_in_the_list(runtime, tmp_path):
    events, result = run_events("river_train", training(tmp_path), runtime)
    metrics = [e for e in events if isinstance(e, Metric)]
    # each stage's metrics under its own name (one curve per stage), each stage counting its own steps
    assert [m.step for m in metrics if m.name == "autoencoder loss"] == [3]  # logged every 10 steps and at the end
    assert [m.step for m in metrics if m.name == "vector field loss"] == [4]
    assert {m.name for m in metrics} >= {"autoencoder psnr", "vector field lr"} and not {"loss", "lr"} & {m.name for m in metrics}
    assert any(isinstance(e, Preview) for e in events)
    assert "balls" in [entry.name for entry in available_models(runtime)]
    assert json.loads(open(result.sidecar).read())["settings"]["steps"] == 4
    settings = FramePredictionSettings(input=str(tmp_path / "clips" / "0.mp4"), model="balls", predict_frames=2, steps=1)
    assert read_video(run_events("river", settings, runtime)[1].path).frames.shape[0] == 4


def test_stop_keeps_a_checkpoint_and_training_resumes(runtime, tmp_path):
    cancel = CancelToken()
    settings = training(tmp_path, steps=50)
    in_vector_field = False
    with pytest.raises(JobCancelled):
        for event in run_engine("river_train", settings, cancel=cancel, runtime=runtime):
            in_vector_field = in_vector_field or (isinstance(event, Progress) and event.stage == "vector field")
            if in_vector_field and isinstance(event, Metric) and event.name == "vector field loss":
                cancel.cancel()
    folder = runtime.outputs.root / TRAINED_MODELS / "balls"
    assert (folder / "model.pth").is_file() and "balls" in [e.name for e in available_models(runtime)]
    resumed, result = run_events("river_train", dataclasses.replace(settings, steps=14), runtime)
    assert any("resuming vector-field training at step" in getattr(e, "message", "") for e in resumed)
    assert json.loads(open(result.sidecar).read())["steps"] == 14


def test_training_on_uploaded_clips_keeps_them_in_the_run_folder(runtime, tmp_path):
    uploads = clips_folder(tmp_path / "uploads", count=2)
    settings = dataclasses.replace(training(tmp_path, data=""), clips=tuple(str(p) for p in sorted(uploads.glob("*.mp4"))))
    run_events("river_train", settings, runtime)
    folder = runtime.outputs.root / TRAINED_MODELS / "balls"
    assert sorted(p.name for p in (folder / "clips").glob("*.mp4")) == ["0.mp4", "1.mp4"]
    assert (folder / "model.pth").is_file()
