"""The app job and the headless command: files written, Stop keeps a checkpoint, Resume continues."""

import json

import pytest
from safetensors.torch import load_file

from backends.cli import main
from backends.core.checkpoints import load_checkpoint
from backends.core.jobs import Artifact, CancelToken, JobCancelled, Metric, Result
from backends.core.presets import load_preset
from backends.core.settings import with_defaults
from backends.engines import start_engine
from backends.motion_director.example import EXAMPLE_CLIP
from backends.motion_director.files import OFFICIAL_KEY
from backends.motion_director.settings import ENGINE, MotionLoraSettings
from backends.core.runtime import DEMO_OUTPUTS


def demo_settings(**values) -> MotionLoraSettings:
    defaults = load_preset(ENGINE).for_mode(True).defaults
    return with_defaults(MotionLoraSettings, defaults, **{"videos": (str(EXAMPLE_CLIP),), "prompt": "a red ball",
                                                         "name": "ball", **values})


def temporal_steps(events) -> list[int]:
    return [e.step for e in events if isinstance(e, Metric) and e.name == "temporal"]


def test_stop_keeps_a_checkpoint_and_resume_continues_the_count_and_the_curve(runtime):
    cancel, events = CancelToken(), []
    with pytest.raises(JobCancelled):
        run = start_engine(ENGINE, demo_settings(steps=6, validation_every=100), cancel, runtime)
        for event in run:
            events.append(event)
            if isinstance(event, Metric) and event.name == "temporal" and event.step == 2:
                cancel.cancel()
    folder = runtime.outputs.root / "loras" / "ball"
    state = load_checkpoint(folder / "checkpoint.pt")
    stopped = state["step"]
    assert 2 <= stopped < 6 and [r["step"] for r in state["history"]] == list(range(1, stopped + 1))
    assert (folder / "ball_temporal.safetensors").is_file()  # usable at once
    assert any(isinstance(e, Artifact) and e.path.endswith("training_clips.mp4") for e in events)

    with pytest.raises(ValueError, match="taken by an earlier run"):
        list(start_engine(ENGINE, demo_settings(steps=6), CancelToken(), runtime))

    resumed = list(start_engine(ENGINE, demo_settings(steps=6, validation_every=100, resume=True), CancelToken(),
                                runtime))
    assert temporal_steps(resumed) == list(range(1, 7))  # the old curve re-sent, then new steps
    result = resumed[-1]
    assert isinstance(result, Result) and result.info["steps"] == 6
    state = load_checkpoint(folder / "checkpoint.pt")
    assert state["step"] == 6 and [r["step"] for r in state["history"]] == list(range(1, 7))
    assert state["optimizers"]["temporal"]["state"]  # the optimiser state travelled
    record = json.loads((folder / "ball.json").read_text())
    assert record["steps_done"] == 6 and record["settings"]["name"] == "ball" and len(record["losses"]) == 6
    assert record["samples"] == ["samples/sample_step00006.mp4"] and (folder / record["samples"][0]).is_file()


def test_headless_run_writes_every_file(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["motion-lora", "--demo", "--output-dir", str(out), "--video", str(EXAMPLE_CLIP), "--video",
            str(EXAMPLE_CLIP), "--prompt", "a red ball", "--name", "cli-run", "--steps", "2", "--frames", "8",
            "--frame-step", "2", "--validation-every", "2", "--preset", "low", "--no-domain-adapter"]
    assert main(args) == 0
    folder = out / DEMO_OUTPUTS / "loras" / "cli-run"  # demo outputs are kept apart
    for name in ("cli-run_temporal.safetensors", "cli-run_temporal_diffusers.safetensors", "cli-run_spatial.safetensors",
                 "cli-run.json", "samples/sample_step00002.mp4", "training_clips.mp4"):
        assert (folder / name).is_file(), name
    assert all(OFFICIAL_KEY.match(key) for key in load_file(folder / "cli-run_temporal.safetensors"))
    record = json.loads((folder / "cli-run.json").read_text())
    assert len(record["clips"]) == 2 and record["settings"]["domain_adapter"] is False
    assert "saved" in capsys.readouterr().out
    assert main([*args[:-1], "--steps", "3", "--resume"]) == 0
    assert json.loads((folder / "cli-run.json").read_text())["steps_done"] == 3
