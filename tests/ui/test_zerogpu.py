"""ZeroGPU: the Space starts with the real `spaces` package and its GPU function decorated before
launch; every tab's job runs through that function as `spaces` runs it (arguments and events
pickled, the duration asked with the call's own arguments, only a gr.Error keeping its text);
jobs that cannot fit a call are refused before a GPU is asked for; trainers and Pyramid Flow
continue over calls."""

import dataclasses
import pickle
import re
import subprocess
import sys
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from backends.animatediff.settings import LongVideoSettings
from backends.core import runtime as runtime_module
from backends.core.jobs import CallEnded, CancelToken, JobContext, Log, Result
from backends.core.presets import load_preset
from backends.core.settings import with_defaults
from backends.core.video_io import read_video, write_mp4
from backends.onlyflow.settings import FlowVideoSettings
from backends.pyramid_flow.settings import PyramidFlowSettings
from backends.river.bouncing_balls import bouncing_balls
from backends.river.settings import FramePredictionSettings, RiverTrainingSettings
from ui import common, zerogpu

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_space_starts_with_the_real_spaces_package_and_its_gpu_function_decorated_before_launch(free_port):
    result = subprocess.run([sys.executable, "tests/ui/zerogpu_sim.py", "--demo", "--port", str(free_port())],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    # `spaces` reports at launch; with nothing decorated a Space fails "No @spaces.GPU function detected"
    assert "decorated at launch: 2" in result.stdout  # our function and its wrapper, as spaces keeps them
    assert "gpu function wrapped by spaces: True" in result.stdout


class ZeroGpuContract:
    """What `spaces.GPU` does to a generator function, in this process: the duration callable gets
    the call's own arguments, arguments and every yielded event go through pickle, an exception
    other than gr.Error reaches the caller as "ZeroGPU worker error", and closing the caller's
    generator closes the task's."""

    def __init__(self):
        self.durations: list[int] = []
        self.calls = 0

    def GPU(self, duration):
        def wrap(task):
            def handler(*args, **kwargs):
                self.calls += 1
                self.durations.append(duration(*args, **kwargs))
                args, kwargs = pickle.loads(pickle.dumps((args, kwargs)))
                events = task(*args, **kwargs)
                try:
                    for event in events:
                        yield pickle.loads(pickle.dumps(event))
                except gr.Error:
                    raise
                except Exception as error:
                    raise gr.Error(type(error).__name__, title="ZeroGPU worker error") from None
                finally:
                    events.close()

            return handler

        return wrap


@pytest.fixture
def zero_gpu(runtime, monkeypatch):
    contract = ZeroGpuContract()
    monkeypatch.setitem(sys.modules, "spaces", contract)
    monkeypatch.setattr(zerogpu, "_gpu_call", None)
    zerogpu.decorate()
    policy = dataclasses.replace(runtime.policy, zero_gpu=True)
    runtime = dataclasses.replace(runtime, policy=policy)
    monkeypatch.setattr(runtime_module, "_current", runtime)  # what the forked worker inherits
    return contract, runtime


def run_page_job(engine, settings, runtime):
    """What a tab's Generate does: the job through ui.common, on ZeroGPU here."""
    views = list(common.drive(engine, settings, CancelToken(), runtime, lambda *a, **k: None))
    return views[-1]


def clip(path, frames=12, size=64):
    return str(write_mp4(bouncing_balls(frames, np.random.default_rng(3), size=size), path, fps=8))


def test_every_tabs_job_runs_through_the_decorated_gpu_function(zero_gpu, tmp_path):
    contract, runtime = zero_gpu
    jobs = [
        ("animatediff", LongVideoSettings(prompt="a koi pond", frames=16, steps=2, width=64, height=64, seed=1)),
        ("onlyflow", FlowVideoSettings(prompt="a fox", video=clip(tmp_path / "in.mp4"), frames=8, steps=2,
                                       width=64, height=64, seed=1)),
        ("river", FramePredictionSettings(input=clip(tmp_path / "balls.mp4"), predict_frames=2, steps=2, seed=1)),
    ]
    for engine, settings in jobs:
        before = contract.calls
        view = run_page_job(engine, settings, runtime)
        assert contract.calls == before + 1, engine
        assert view.result is not None and Path(view.result.path).is_file(), engine
    assert contract.durations == [zerogpu.first_call_seconds(e, s) for e, s in jobs]


def test_an_error_in_the_worker_reaches_the_page_with_its_text(zero_gpu, tmp_path):
    contract, runtime = zero_gpu
    (tmp_path / "not-a-video.mp4").write_text("hello")
    settings = FlowVideoSettings(prompt="a fox", video=str(tmp_path / "not-a-video.mp4"), frames=8, steps=2,
                                 width=64, height=64, seed=1)
    with pytest.raises(gr.Error) as error:
        run_page_job("onlyflow", settings, runtime)
    assert contract.calls == 1 and "ZeroGPU worker error" not in str(error.value)
    assert "video" in str(error.value).lower()


def test_bad_settings_and_jobs_too_long_for_one_call_spend_no_gpu(zero_gpu):
    contract, runtime = zero_gpu
    with pytest.raises(ValueError, match="steps"):
        common.start_job("animatediff", LongVideoSettings(prompt="x", frames=16, steps=0, width=64, height=64),
                         CancelToken(), runtime)
    huge = LongVideoSettings(prompt="x", frames=256, steps=100, width=256, height=256, seed=1)
    with pytest.raises(ValueError, match=r"more than one ZeroGPU call allows \(600 s\)"):
        run_page_job("animatediff", huge, runtime)
    assert contract.calls == 0


def test_a_trainer_continues_over_several_gpu_calls_from_its_checkpoints(zero_gpu, tmp_path, monkeypatch):
    contract, runtime = zero_gpu
    monkeypatch.setattr(zerogpu, "CALL_LIMIT_S", 1)  # calls of 1 s: training needs several
    monkeypatch.setattr(zerogpu, "MIN_CALL_S", 1)
    monkeypatch.setattr(zerogpu, "RESUME_MARGIN_S", 0)
    folder = tmp_path / "clips"
    folder.mkdir()
    for index in range(3):
        write_mp4(bouncing_balls(8, np.random.default_rng(index), size=16), folder / f"{index}.mp4", fps=8)
    settings = RiverTrainingSettings(data=str(folder), name="balls", image_size=16, frames_per_sample=5,
                                     autoencoder_steps=4, steps=300, batch_size=2, inner_dim=32, preview_every=1000,
                                     save_every=1000, resume=False)
    events = list(common.start_job("river_train", settings, CancelToken(), runtime))
    assert contract.calls >= 2
    messages = [e.message for e in events if isinstance(e, Log)]
    assert any("resumes from the checkpoint" in m for m in messages)
    assert any("resuming vector-field training at step" in m or "resuming autoencoder training" in m for m in messages)
    assert isinstance(events[-1], Result) and Path(events[-1].path).is_file()


def test_pyramid_flow_goes_on_over_gpu_calls_to_the_video_of_a_single_call(zero_gpu, monkeypatch):
    contract, runtime = zero_gpu
    settings = with_defaults(PyramidFlowSettings, load_preset("pyramid_flow").for_mode(True).defaults,
                             prompt="a paper boat on a pond", seed=5)  # 3 units in demo mode
    whole = run_page_job("pyramid_flow", settings, runtime)
    assert contract.calls == 1

    # every GPU call's time is up right after it finished a unit no call had finished before
    newest = {"unit": 0}
    check = JobContext.check

    def check_with_a_deadline_after_each_new_unit(ctx):
        check(ctx)
        units = [int(m[1]) for p in runtime.outputs.root.rglob("*.mp4") if (m := re.search(r"\.unit(\d+)\.mp4$", p.name))]
        if ctx.deadline is not None and max(units, default=0) > newest["unit"]:
            newest["unit"] = max(units)
            raise CallEnded("this GPU call's time is up")

    monkeypatch.setattr(JobContext, "check", check_with_a_deadline_after_each_new_unit)
    events = list(common.start_job("pyramid_flow", settings, CancelToken(), runtime))
    assert contract.calls == 1 + 4  # one per unit, and one that decodes the saved units and finishes
    assert sum("resumes from the checkpoint" in e.message for e in events if isinstance(e, Log)) == 3
    assert min(contract.durations[2:]) >= zerogpu.resume_seconds(settings) + zerogpu.RESUME_MARGIN_S
    assert isinstance(events[-1], Result)
    np.testing.assert_array_equal(read_video(events[-1].path).frames, read_video(whole.result.path).frames)


def test_pyramid_flow_is_asked_for_what_it_needs_and_refused_only_where_a_call_cannot_go_on():
    default = PyramidFlowSettings(prompt="x")  # 5 s at 384p
    assert zerogpu.first_call_seconds("pyramid_flow", default) == default.gpu_seconds() < zerogpu.CALL_LIMIT_S
    long = PyramidFlowSettings(prompt="x", resolution="768p", seconds=10.0)
    assert long.gpu_seconds() > zerogpu.CALL_LIMIT_S  # several calls
    assert zerogpu.first_call_seconds("pyramid_flow", long) == zerogpu.CALL_LIMIT_S
    with pytest.raises(ValueError, match="more than one ZeroGPU call allows"):
        zerogpu.first_call_seconds("pyramid_flow", dataclasses.replace(long, video_steps=50))
