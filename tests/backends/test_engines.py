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
