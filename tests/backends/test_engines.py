import threading

import pytest

from backends.animatediff.settings import LongVideoSettings
from backends.core.jobs import CancelToken, JobCancelled, Log
from backends.engines import ENGINES, check_job, get_engine, run_engine

SMALL = LongVideoSettings(prompt="a test", frames=16, steps=2, width=64, height=64, seed=1)


def test_engines_are_found_by_name_and_cli_name():
    assert get_engine("long-video").name == "animatediff"
    assert get_engine("flow-video").name == "onlyflow"
    assert get_engine("frame-prediction").name == "river" and get_engine("river-train").name == "river_train"
    with pytest.raises(ValueError, match="unknown engine 'nope'; known: animatediff"):
        get_engine("nope")
    for engine in ENGINES.values():  # every engine's settings class and job import
        assert engine.settings_cls.__dataclass_fields__ and callable(engine.job)


def test_a_job_waits_for_a_busy_gpu_slot_and_can_be_stopped_while_waiting(runtime):
    runtime.gpu_slots.acquire()  # a job whose page went away is still finishing
    cancel = CancelToken()
    events = run_engine("animatediff", SMALL, cancel=cancel, runtime=runtime)
    assert next(events) == Log("waiting for the GPU: another job is finishing")
    threading.Timer(0.3, cancel.cancel).start()
    with pytest.raises(JobCancelled):
        next(events)
    runtime.gpu_slots.release()
    assert runtime.gpu_slots.acquire(blocking=False)  # the waiting job did not keep a slot
    runtime.gpu_slots.release()


def test_a_job_stopped_before_it_starts_runs_nothing(runtime):
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(JobCancelled):
        next(run_engine("animatediff", SMALL, cancel=cancel, runtime=runtime))


def test_settings_and_weights_are_checked_before_the_job_starts(runtime):
    import dataclasses

    from backends.core.sources import MissingWeights

    with pytest.raises(ValueError, match="steps"):
        check_job("animatediff", dataclasses.replace(SMALL, steps=0), runtime)
    assert check_job("animatediff", dataclasses.replace(SMALL, seed=-1), runtime).seed >= 0  # the seed is drawn
    from backends.core.sources import ModelSources

    offline = dataclasses.replace(runtime, sources=ModelSources(offline=True, cache_dir=str(runtime.outputs.root / "no-cache")))
    with pytest.raises(MissingWeights) as missing:
        check_job("animatediff", SMALL, offline)
    message = str(missing.value)
    assert "stable-diffusion-v1-5/stable-diffusion-v1-5" in message and "guoyww/animatediff-motion-adapter-v1-5-3" in message
    assert "--download animatediff" in message and ".." not in message


def test_a_failed_download_names_every_set_of_weights_the_job_still_lacks(tmp_path, monkeypatch):
    import numpy as np

    from backends.core.runtime import Runtime
    from backends.core.sources import MissingWeights, ModelSources
    from backends.core.video_io import write_mp4
    from backends.onlyflow.settings import FlowVideoSettings

    def no_network(self, ref, engine_label, emit=None):  # what a download on a machine without internet raises
        raise MissingWeights.of(engine_label, [ref], "The download failed: no route to the Hub.", command=False)

    monkeypatch.setattr(ModelSources, "download", no_network)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # online (the tests run offline)
    runtime = Runtime.create(force_cpu=True, output_dir=tmp_path / "out", loras_dir=tmp_path / "loras")
    runtime.sources.cache_dir = tmp_path / "hub"  # an empty cache: nothing is here
    clip = write_mp4(np.zeros((4, 64, 64, 3), np.uint8), tmp_path / "clip.mp4", 8)
    settings = FlowVideoSettings(video=str(clip), prompt="a boat", frames=2, width=256, height=256, steps=1)
    with pytest.raises(MissingWeights) as error:
        list(run_engine("onlyflow", settings, runtime=runtime))
    message = str(error.value)
    assert ("Weights for OnlyFlow (flow-guided AnimateDiff) are not in the local cache: "
            "stable-diffusion-v1-5/stable-diffusion-v1-5 (about 2 GB), guoyww/animatediff-motion-adapter-v1-5-3 "
            "(about 1.7 GB), obvious-research/onlyflow/weights_fp16.ckpt (about 0.44 GB). "
            "The download failed: no route to the Hub. Put a copy of each repository in") in message
    assert "ENGINE" not in message and ".." not in message and "Models panel" not in message


def test_what_a_tab_lacks_is_known_from_the_local_cache_alone(tmp_path, tiny_weights, monkeypatch):
    from backends.core.runtime import Runtime
    from backends.core.sources import ModelSources
    from backends.engines import missing_weights

    monkeypatch.setattr(ModelSources, "download", lambda *a, **k: pytest.fail("the network was used"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # online (the tests run offline)
    runtime = Runtime.create(force_cpu=True, output_dir=tmp_path / "out", model_paths=tiny_weights)
    runtime.sources.cache_dir = tmp_path / "hub"
    assert missing_weights("animatediff", runtime) is None  # both folders are here
    lacking = missing_weights("onlyflow", runtime, panel=True)
    assert lacking.repos == ("obvious-research/onlyflow",)
    assert str(lacking).endswith("(about 0.44 GB). They download when a job first needs them. Download them with "
                                 "`python app.py --download onlyflow` or in the Models panel, or put a copy of each "
                                 "repository in $FLOWSTUDIO_MODELS_DIR/obvious-research/onlyflow "
                                 "(or map one with --model-path REPO=PATH).")
    assert missing_weights("river", runtime) is None  # the embedded model is the default
    assert missing_weights("river", runtime, values={"model": "river_kth_64"}).repos == ("cvg-unibe/river_kth_64",)
    assert missing_weights("pyramid_flow", runtime, values={"variant": "sd3"}).repos == ("rain1011/pyramid-flow-sd3",)
    offline = Runtime.create(offline=True, force_cpu=True, output_dir=tmp_path / "out")
    assert "This app runs offline" in str(missing_weights("consisti2v", offline, panel=True))
    assert "Models panel" not in str(missing_weights("consisti2v", offline, panel=True))  # it would refuse
    assert missing_weights("consisti2v", Runtime.create(demo=True, force_cpu=True, output_dir=tmp_path)) is None
