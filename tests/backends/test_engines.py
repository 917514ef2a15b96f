import threading

import pytest

from backends.core.jobs import CancelToken, JobCancelled, Log
from backends.engines import ENGINES, get_engine, run_engine


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
    events = run_engine("animatediff", None, cancel=cancel, runtime=runtime)
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
        next(run_engine("animatediff", None, cancel=cancel, runtime=runtime))
