"""Names and paths from a person: nothing leaves its folder; on a shared deployment only uploads
and the app's folders are reachable, and sidecars never hold a server path."""

import dataclasses
import hashlib
import json
import os
import stat

import numpy as np
import pytest

from backends.animatediff.settings import LongVideoSettings
from backends.core.loras import LoraChoice
from backends.core.paths import check_name, describe_input, inside, upload_folder
from backends.engines import check_job, run_engine
from backends.onlyflow.settings import FlowVideoSettings
from backends.river.settings import FramePredictionSettings, RiverTrainingSettings

SMALL = LongVideoSettings(prompt="a test", frames=16, steps=2, width=64, height=64, seed=1)


@pytest.mark.parametrize("name", ["my_model", "run-2", "v1.5", "A_b-C.d"])
def test_good_names(name):
    assert check_name("name", name) == name


@pytest.mark.parametrize("name", [".", "..", "", "a/b", "../x", "a\\b", ".hidden", "x.", "a..b", "/abs", "sp ace"])
def test_bad_names_are_refused(name):
    with pytest.raises(ValueError, match="name must use letters"):
        check_name("name", name)


def test_inside_refuses_what_leads_out_of_its_folder(tmp_path):
    assert inside(tmp_path, "a", "b.txt") == tmp_path / "a" / "b.txt"
    for parts in (("..",), ("a", "..", ".."), ("/etc/passwd",)):
        with pytest.raises(ValueError, match="leads outside"):
            inside(tmp_path, *parts)
    (tmp_path / "link").symlink_to("/etc")
    with pytest.raises(ValueError, match="leads outside"):
        inside(tmp_path, "link", "passwd")


def test_a_training_run_named_dot_dot_is_refused_before_it_writes_anything(runtime, tmp_path):
    for name in ("..", ".", "../../evil"):
        settings = RiverTrainingSettings(data=str(tmp_path), name=name)
        with pytest.raises(ValueError, match="name must use letters"):
            list(run_engine("river_train", settings, runtime=runtime))
    assert not any(runtime.outputs.root.glob("**/model.pth")) and not (runtime.outputs.root / "config.yaml").exists()


@pytest.fixture
def shared(runtime):
    return dataclasses.replace(runtime, shared=True)


def test_locally_any_file_may_be_named(runtime, tmp_path):
    (tmp_path / "lora.safetensors").write_bytes(b"x")
    check_job("animatediff", dataclasses.replace(SMALL, loras=(LoraChoice(str(tmp_path / "lora.safetensors")),)), runtime)
    check_job("river", FramePredictionSettings(input=str(tmp_path / "clip.mp4")), runtime)


def test_on_a_shared_deployment_server_paths_are_refused(shared, tmp_path):
    cases = [
        ("animatediff", dataclasses.replace(SMALL, loras=(LoraChoice("/etc/passwd"),)), "LoRA 'passwd'"),
        ("animatediff", dataclasses.replace(SMALL, loras=(LoraChoice("../../etc/passwd"),)), "LoRA"),
        ("river_train", RiverTrainingSettings(data="/etc", name="x"), "data: on a shared deployment"),
        ("river", FramePredictionSettings(input="/etc/passwd"), "input: on a shared deployment"),
        ("onlyflow", FlowVideoSettings(video=str(tmp_path / "x.mp4"), prompt="p", frames=8, steps=2, width=64,
                                       height=64), "video: on a shared deployment"),
    ]
    for engine, settings, message in cases:
        with pytest.raises(ValueError, match=message) as error:
            check_job(engine, settings, shared)
        assert "/etc" not in str(error.value) and str(tmp_path) not in str(error.value)  # no server path echoed


def test_on_a_shared_deployment_uploads_loras_and_hub_ids_are_accepted(shared, monkeypatch, tmp_path):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "uploads"))
    upload = upload_folder() / "abc" / "clip.mp4"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"x")
    (shared.loras_dir / "zoom.safetensors").write_bytes(b"x")
    loras = (LoraChoice("zoom.safetensors"), LoraChoice("guoyww/animatediff-motion-lora-zoom-in"))
    check_job("animatediff", dataclasses.replace(SMALL, loras=loras), shared)
    check_job("river", FramePredictionSettings(input=str(upload)), shared)
    inside_outputs = shared.outputs.root / "clips"
    inside_outputs.mkdir(parents=True)
    check_job("river_train", RiverTrainingSettings(data=str(inside_outputs), name="x"), shared)


def test_without_downloads_a_shared_deployment_refuses_hub_loras_it_does_not_have(shared):
    closed = dataclasses.replace(shared, downloads=False)  # shared, and no --allow-downloads
    (closed.loras_dir / "zoom.safetensors").write_bytes(b"x")
    settings = dataclasses.replace(SMALL, loras=(LoraChoice("someone/huge-repo"),))
    with pytest.raises(ValueError, match="does not download from the Hub"):
        check_job("animatediff", settings, closed)
    check_job("animatediff", dataclasses.replace(SMALL, loras=(LoraChoice("zoom.safetensors"),)), closed)


@pytest.mark.parametrize("field, value", [("frames", 16.5), ("steps", 2.5), ("steps", "3"), ("seed", True),
                                          ("guidance", "high"), ("prompt", 7)])
def test_settings_of_the_wrong_type_are_refused_with_a_plain_message(runtime, field, value):
    with pytest.raises(ValueError, match=f"{field} must be"):
        check_job("animatediff", dataclasses.replace(SMALL, **{field: value}), runtime)


@pytest.mark.parametrize("field, value", [("context_frames", 2.5), ("samples", 1.5), ("predict_frames", 2.2)])
def test_river_integer_settings_refuse_fractions(runtime, field, value):
    with pytest.raises(ValueError, match=f"{field} must be a whole number"):
        check_job("river", dataclasses.replace(FramePredictionSettings(input="x.mp4"), **{field: value}), runtime)


def test_whole_floats_count_as_integers(runtime):
    assert check_job("animatediff", dataclasses.replace(SMALL, frames=16.0, steps=2.0), runtime).frames == 16


def test_sidecars_name_inputs_by_file_name_and_hash_and_files_are_not_executable(runtime, tmp_path):
    from backends.core.outputs import sidecar_record

    clip = tmp_path / "private" / "clip.mp4"
    clip.parent.mkdir()
    clip.write_bytes(b"video bytes")
    settings = FramePredictionSettings(input=str(clip), images=(str(clip),))
    record = sidecar_record("river", settings, 1, {}, "cpu", "float32", 0.0)
    expected = {"name": "clip.mp4", "sha256": hashlib.sha256(b"video bytes").hexdigest()}
    assert record["settings"]["input"] == describe_input(clip) == expected
    assert record["settings"]["images"] == [expected] and str(tmp_path) not in json.dumps(record)
    saved = runtime.outputs.save_video("river", np.zeros((2, 16, 16, 3), np.uint8), 8, record, tag=1)
    assert stat.S_IMODE(os.stat(saved.sidecar).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(saved.path).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(saved.path.parent).st_mode) == 0o755


def test_each_visitor_sees_their_own_outputs(runtime):
    mine, theirs = runtime.outputs.for_owner("aaa"), runtime.outputs.for_owner("bbb")
    frames = np.zeros((2, 16, 16, 3), np.uint8)
    saved = mine.save_video("river", frames, 8, {"settings": {}}, tag=1)
    theirs.save_video("river", frames, 8, {"settings": {}}, tag=2)
    assert [s.path for s in runtime.outputs.list("river", owner="aaa")] == [saved.path]
    assert len(runtime.outputs.list("river")) == 2  # a local (or --shared-gallery) page sees all


def test_a_lora_trained_here_is_offered_and_accepted_on_a_shared_deployment(shared):
    from backends.core.loras import lora_choices

    trained = shared.outputs.root / "loras" / "spin"
    trained.mkdir(parents=True)
    (trained / "spin_temporal.safetensors").write_bytes(b"x")
    (shared.loras_dir / "zoom.safetensors").write_bytes(b"x")
    choices = lora_choices(shared.loras_dir, shared.lora_folders()[1])
    assert choices[0] == ("zoom.safetensors", "zoom.safetensors")
    assert choices[1] == ("trained: spin/spin_temporal.safetensors", str(trained / "spin_temporal.safetensors"))
    check_job("animatediff", dataclasses.replace(SMALL, loras=(LoraChoice(choices[1][1]),)), shared)
