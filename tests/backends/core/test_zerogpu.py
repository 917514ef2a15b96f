"""ZeroGPU: jobs go through ``spaces.GPU`` with a duration from the job's size; Stop closes them."""

import sys
import types

import pytest

from backends.animatediff.settings import LongVideoSettings
from backends.core import zerogpu
from backends.core.jobs import CancelToken, JobCancelled, Log


def fake_spaces(monkeypatch, calls):
    """A stand-in for the `spaces` package (its real decorator needs a ZeroGPU Space)."""

    def GPU(duration):
        def wrap(task):
            def wrapped(*args):
                calls.append(duration(*args))
                yield from task(*args)

            return wrapped

        return wrap

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=GPU))
    zerogpu._wrapped_gpu_job.cache_clear()


def test_duration_grows_with_the_job_and_stays_in_bounds():
    small = LongVideoSettings(prompt="x", frames=16, steps=10, width=256, height=256)
    large = LongVideoSettings(prompt="x", frames=128, steps=40, width=512, height=512)
    assert 15 <= zerogpu.gpu_duration("animatediff", small) < zerogpu.gpu_duration("animatediff", large) <= 600


def test_on_zero_gpu_the_job_runs_through_spaces_gpu_and_stop_closes_it(monkeypatch):
    calls, closed = [], []

    def fake_gpu_job(engine, settings):
        try:
            for i in range(100):
                yield Log(f"step {i}")
        finally:
            closed.append(True)

    monkeypatch.setattr(zerogpu, "_gpu_job", fake_gpu_job)
    fake_spaces(monkeypatch, calls)
    token = CancelToken()
    settings = LongVideoSettings(prompt="x")
    seen = []
    with pytest.raises(JobCancelled):
        for event in zerogpu.stream_job("animatediff", settings, token, zero_gpu=True):
            seen.append(event)
            if len(seen) == 3:
                token.cancel()
    assert len(seen) == 3 and closed == [True]
    assert calls == [zerogpu.gpu_duration("animatediff", settings)]
    zerogpu._wrapped_gpu_job.cache_clear()
