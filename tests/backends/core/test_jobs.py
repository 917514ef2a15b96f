import contextvars
import threading
import time

import numpy as np
import pytest

from backends.core.jobs import (Artifact, CallEnded, CancelToken, JobCancelled, JobContext, JobRun, Log, Preview, Progress,
                                Result, StepTimer, drain, format_seconds)


def test_step_timer_reports_rate_and_eta_without_the_warm_up_step():
    now = iter([0.0, 5.0, 6.0, 7.0]).__next__  # start, then steps end at 5 s (slow warm-up), 6 s, 7 s
    timer = StepTimer(4, "denoising", clock=now)
    first, second, third = timer.tick(), timer.tick(), timer.tick()
    assert (first.step, first.seconds_per_step, first.eta_s) == (1, 5.0, 15.0)
    assert (second.seconds_per_step, second.eta_s) == (1.0, 2.0)
    assert (third.step, third.eta_s) == (3, 1.0)
    assert "denoising 3/4" in third.describe() and "ETA 0:01" in third.describe()


def test_format_seconds():
    assert format_seconds(5) == "0:05"
    assert format_seconds(3725) == "1:02:05"


def test_cancel_token():
    token = CancelToken()
    token.raise_if_cancelled()
    token.cancel()
    assert token.cancelled
    with pytest.raises(JobCancelled):
        token.raise_if_cancelled()


def test_a_job_run_streams_events_as_they_come_and_ends_with_the_result():
    gate = threading.Event()

    def job(ctx):
        ctx.emit(Log("first"))
        gate.wait(5)  # blocks until the reader has seen the first event
        ctx.emit(Progress(1, 1))
        return Result("out.mp4", "out.json", 7)

    events = iter(JobRun(job, runtime=None))
    assert next(events) == Log("first")
    gate.set()
    assert list(events) == [Progress(1, 1), Result("out.mp4", "out.json", 7)]


def test_a_job_run_reraises_the_jobs_error_after_its_events():
    def job(ctx):
        ctx.emit(Log("x"))
        raise ValueError("bad input")

    seen = []
    with pytest.raises(ValueError, match="bad input"):
        for event in JobRun(job, runtime=None):
            seen.append(event)
    assert seen == [Log("x")]


def test_a_slow_reader_loses_no_log_artifact_or_result_and_sees_the_latest_progress():
    def job(ctx):
        for step in range(1, 2001):
            ctx.emit(Progress(step, 2000))
            ctx.emit(Preview(np.zeros((1, 2, 2, 3), np.uint8), step))
            if step % 100 == 0:
                ctx.emit(Log(f"log {step}"))
                ctx.emit(Artifact(f"part{step}.mp4", "video"))
        return Result("out.mp4", "out.json")

    run = JobRun(job, runtime=None)
    run.join(30)  # the reader reads nothing until the job is done
    events = list(run)
    assert [e.message for e in events if isinstance(e, Log)] == [f"log {s}" for s in range(100, 2001, 100)]
    assert len([e for e in events if isinstance(e, Artifact)]) == 20
    assert events[-1] == Result("out.mp4", "out.json")
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].step == 2000 and len(progress) <= 21  # coalesced between logs, the newest kept
    assert all(a.step < b.step for a, b in zip(progress, progress[1:]))  # in order


def test_the_job_outlives_its_reader_and_only_the_token_stops_it():
    token, finished = CancelToken(), threading.Event()

    def job(ctx):
        try:
            for step in range(1000):
                ctx.check()
                ctx.emit(Progress(step, 1000))
                time.sleep(0.005)
        finally:
            finished.set()

    run = JobRun(job, runtime=None, cancel=token)
    events = iter(run)
    next(events)
    events.close()  # the page went away
    time.sleep(0.05)
    assert not finished.is_set() and not run.finished
    token.cancel()
    run.join(5)
    assert finished.is_set() and isinstance(run.error, JobCancelled)


def test_after_stop_no_later_step_is_shown():
    token, release = CancelToken(), threading.Event()

    def job(ctx):
        ctx.emit(Progress(1, 3))
        ctx.emit(Log("kept"))
        ctx.emit(Progress(2, 3))  # a step that ended while the reader pressed Stop
        release.wait(5)
        ctx.check()

    events = iter(JobRun(job, runtime=None, cancel=token))
    assert next(events) == Progress(1, 3)
    token.cancel()
    release.set()
    assert next(events) == Log("kept")
    with pytest.raises(JobCancelled):
        next(events)


def test_the_deadline_ends_a_call_at_a_step_boundary():
    ctx = JobContext(None, CancelToken(), lambda event: None, deadline=time.monotonic() - 1)
    with pytest.raises(CallEnded):
        ctx.check()
    assert issubclass(CallEnded, JobCancelled)


def test_the_worker_sees_the_starting_threads_context():
    request = contextvars.ContextVar("request")
    request.set("visitor-1")
    seen = []
    list(JobRun(lambda ctx: seen.append(request.get(None)), runtime=None))
    assert seen == ["visitor-1"]


def test_drain_forwards_a_generators_events_and_returns_its_value():
    def generator():
        yield Log("a")
        yield Log("b")
        return 42

    seen = []
    assert drain(generator(), seen.append) == 42 and seen == [Log("a"), Log("b")]
