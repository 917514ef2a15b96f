import threading
import time

import pytest

from backends.core.jobs import CancelToken, JobCancelled, Log, Progress, StepTimer, format_seconds, run_in_thread


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


def test_run_in_thread_streams_events_as_they_come():
    gate = threading.Event()

    def work(emit):
        emit(Log("first"))
        gate.wait(5)  # blocks until the consumer has seen the first event
        emit(Progress(1, 1))

    events = run_in_thread(work, CancelToken())
    assert next(events) == Log("first")
    gate.set()
    assert list(events) == [Progress(1, 1)]


def test_run_in_thread_reraises_worker_errors():
    def work(emit):
        emit(Log("x"))
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        list(run_in_thread(work, CancelToken()))


def test_closing_the_stream_cancels_and_joins_the_worker():
    token = CancelToken()
    finished = threading.Event()

    def work(emit):
        try:
            for step in range(1000):
                emit(Progress(step, 1000))
                token.raise_if_cancelled()
                time.sleep(0.01)
        finally:
            finished.set()

    events = run_in_thread(work, token)
    next(events)
    events.close()  # the browser went away
    assert token.cancelled and finished.is_set()
