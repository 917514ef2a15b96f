"""The Pyramid Flow job in demo mode (tiny folders built in the official layout, the real loaders)."""

import dataclasses
import json

import numpy as np
import pytest

from backends.core.devices import CudaCard, DevicePolicy
from backends.core.jobs import Artifact, CallEnded, CancelToken, Log, Preview, Progress, Result
from backends.core.presets import load_preset
from backends.core.settings import with_defaults
from backends.core.video_io import read_video
from backends.engines import check_job, run_engine
from backends.pyramid_flow.job import check_card, offload_mode
from backends.pyramid_flow.settings import PyramidFlowI2VSettings, PyramidFlowSettings, resolution_sizes

UNITS = 3


def demo_settings(cls=PyramidFlowSettings, engine="pyramid_flow", **values):
    preset = load_preset(engine).for_mode(True)
    settings = with_defaults(cls, preset.defaults, prompt="a paper boat on a pond", seed=5, **values)
    assert settings.units == UNITS  # the demo defaults give three units
    return settings


def events_of(engine, settings, runtime, cancel=None):
    events = list(run_engine(engine, settings, cancel=cancel, runtime=runtime))
    results = [e for e in events if isinstance(e, Result)]
    assert len(results) == 1
    return events, results[0]


class StopOnceWritten(CancelToken):
    """Stop pressed right after a given unit's video is on disk (deterministic: the job writes
    the file before its next check)."""

    def __init__(self, folder, unit):
        super().__init__()
        self.folder, self.pattern = folder, f"*.unit{unit:02d}.mp4"

    @property
    def cancelled(self):
        return super().cancelled or any(self.folder.rglob(self.pattern))

    def raise_if_cancelled(self):
        if self.cancelled:
            self.cancel()
        super().raise_if_cancelled()


class CallEndsOnceWritten(StopOnceWritten):
    """The GPU call's time is up right after a unit's video is on disk (as ``ctx.check`` says at a deadline)."""

    def raise_if_cancelled(self):
        if self.cancelled:
            raise CallEnded("this GPU call's time is up")


def test_pyramid_flow_demo_streams_a_growing_video_per_unit(runtime):
    settings = demo_settings()
    events, result = events_of("pyramid_flow", settings, runtime)

    videos = [e for e in events if isinstance(e, Artifact) and e.kind == "video"]
    assert len(videos) == UNITS + 1  # one per unit, then the finished video (the unit files are removed)
    assert [f"{u + 1}/{UNITS} units" in v.label for u, v in enumerate(videos[:-1])] == [True] * UNITS
    assert videos[-1].path == result.path
    progress = [e for e in events if isinstance(e, Progress)]
    total = 3 * settings.image_steps + 3 * settings.video_steps * (UNITS - 1)
    steps = [p.step for p in progress]  # the queue may coalesce progress: increasing, ending at the total
    assert steps == sorted(set(steps)) and steps[-1] == total and progress[-1].total == total
    assert all(isinstance(e.frames, np.ndarray) for e in events if isinstance(e, Preview))

    width, height = resolution_sizes(True)[settings.resolution]
    video = read_video(result.path)
    assert video.frames.shape == (1 + 8 * (UNITS - 1), height, width, 3)
    assert video.fps == pytest.approx(24)
    sidecar = json.loads(open(result.sidecar).read())
    assert sidecar["seed"] == 5 and sidecar["stopped"] is False
    assert sidecar["settings"]["prompt_suffix"] == ", hyper quality, Ultra HD, 8K"
    assert sidecar["guidance_used"] == [7.0, 5.0]  # the recommended values at 384p


class ReadUnitsAsWritten(CancelToken):
    """Reads each streamed unit video at the job's next check, in the job's thread, before the
    job may delete it (it keeps only the two newest while running)."""

    def __init__(self, folder):
        super().__init__()
        self.folder, self.frames = folder, {}

    def raise_if_cancelled(self):
        for path in self.folder.rglob("*.unit*.mp4"):
            self.frames.setdefault(path.name, read_video(path).frames.shape[0])
        super().raise_if_cancelled()


def test_pyramid_flow_unit_videos_grow_and_play(runtime):
    watcher = ReadUnitsAsWritten(runtime.outputs.root)
    events_of("pyramid_flow", demo_settings(), runtime, watcher)
    assert [watcher.frames[name] for name in sorted(watcher.frames)] == [1 + 8 * u for u in range(UNITS)]


def test_pyramid_flow_stop_after_a_unit_keeps_the_partial_video(runtime):
    cancel = StopOnceWritten(runtime.outputs.root, unit=2)
    _, result = events_of("pyramid_flow", demo_settings(), runtime, cancel)
    assert result.info == {"frames": 9, "stopped": True}
    assert read_video(result.path).frames.shape[0] == 9
    assert json.loads(open(result.sidecar).read())["stopped"] is True
    assert not list(runtime.outputs.root.rglob("*.unit*.mp4"))  # streamed parts are cleaned up


def test_pyramid_flow_image_to_video_starts_from_the_image(runtime, tmp_path):
    width, height = resolution_sizes(True)["384p"]
    image = np.zeros((height * 2, width * 2, 3), np.uint8)
    image[:, : width] = (220, 40, 40)
    from PIL import Image

    Image.fromarray(image).save(tmp_path / "start.png")
    settings = demo_settings(PyramidFlowI2VSettings, "pyramid_flow_i2v", image=str(tmp_path / "start.png"))
    events, result = events_of("pyramid_flow_i2v", settings, runtime)
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].total == 3 * settings.video_steps * (UNITS - 1)  # the image unit is encoded, not sampled
    sidecar = json.loads(open(result.sidecar).read())
    image = sidecar["settings"]["image"]  # by name and hash, as every input file
    assert image["name"] == "start.png" and len(image["sha256"]) == 64 and "/" not in json.dumps(image)
    assert sidecar["guidance_used"][1] == 4.0  # image-to-video's recommended video guidance
    assert read_video(result.path).frames.shape[0] == 1 + 8 * (UNITS - 1)


def test_pyramid_flow_sd3_variant_runs_on_its_own_tiny_folder(runtime):
    _, result = events_of("pyramid_flow", demo_settings(variant="sd3"), runtime)
    assert read_video(result.path).frames.shape[0] == 1 + 8 * (UNITS - 1)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(seconds=8.0), "seconds"),
        (dict(resolution="1080p"), "resolution"),
        (dict(variant="sdxl"), "variant"),
        (dict(video_steps=2.5), "video_steps"),
        (dict(guidance=40.0), "guidance"),
        (dict(prompt=" "), "prompt"),
    ],
)
def test_pyramid_flow_settings_are_checked_before_the_job(runtime, change, message):
    import dataclasses

    with pytest.raises(ValueError, match=message):
        check_job("pyramid_flow", dataclasses.replace(demo_settings(), **change), runtime)


def test_pyramid_flow_i2v_needs_an_image(runtime):
    with pytest.raises(ValueError, match="image is missing"):
        check_job("pyramid_flow_i2v", demo_settings(PyramidFlowI2VSettings, "pyramid_flow_i2v"), runtime)


def test_pyramid_flow_768p_allows_ten_seconds_and_384p_five():
    limits = load_preset("pyramid_flow").limits
    PyramidFlowSettings(prompt="x", resolution="768p", seconds=10.0).check_inputs(limits)
    assert PyramidFlowSettings(prompt="x", resolution="768p", seconds=10.0).frames == 241
    assert PyramidFlowSettings(prompt="x", seconds=5.0).frames == 121
    with pytest.raises(ValueError, match="seconds"):
        PyramidFlowSettings(prompt="x", resolution="384p", seconds=10.0).check_inputs(limits)


def test_pyramid_flow_ended_by_a_call_deadline_resumes_to_the_video_of_an_uninterrupted_run(runtime):
    settings = demo_settings()
    _, whole = events_of("pyramid_flow", settings, runtime)
    expected = read_video(whole.path).frames

    events = []
    with pytest.raises(CallEnded):
        for event in run_engine("pyramid_flow", settings, cancel=CallEndsOnceWritten(runtime.outputs.root, unit=1),
                                runtime=runtime):
            events.append(event)
    saved = runtime.outputs.resume_path("pyramid_flow", settings)
    assert saved.is_file()
    shown = [e for e in events if isinstance(e, Artifact)][-1]  # the frames so far stay on show between calls
    assert shown.path == str(saved.with_suffix(".mp4")) and read_video(shown.path).frames.shape[0] == 1

    events, result = events_of("pyramid_flow", dataclasses.replace(settings, resume=True), runtime)
    assert any("resuming after unit 1 of 3" in e.message for e in events if isinstance(e, Log))
    assert not any("encoding the prompt" in e.message for e in events if isinstance(e, Log))  # saved with the state
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].total == 3 * settings.video_steps * (UNITS - 1)  # only what was left
    np.testing.assert_array_equal(read_video(result.path).frames, expected)
    assert not saved.exists() and not saved.with_suffix(".mp4").exists()


def test_pyramid_flow_resume_without_a_saved_state_starts_from_the_first_unit(runtime):
    events, result = events_of("pyramid_flow", dataclasses.replace(demo_settings(), resume=True), runtime)
    assert any("starting from the first unit" in e.message for e in events if isinstance(e, Log))
    assert result.info["frames"] == 1 + 8 * (UNITS - 1)


def test_pyramid_flow_offload_follows_the_policy_unless_chosen_and_only_on_cuda():
    small = DevicePolicy("cuda", "model", "sdpa", card=CudaCard("NVIDIA L4", (8, 9), 22.0))
    large = DevicePolicy("cuda", "none", "sdpa", card=CudaCard("NVIDIA A100-SXM4-80GB", (8, 0), 79.3))
    assert offload_mode("auto", small) == "model" and offload_mode("auto", large) == "none"
    assert offload_mode("sequential", large) == "sequential" and offload_mode("none", small) == "none"
    assert offload_mode("model", DevicePolicy("cpu", "none", "sdpa")) == "none"
    assert offload_mode("model", DevicePolicy("cuda", "none", "sdpa", zero_gpu=True)) == "none"


def test_pyramid_flow_refuses_a_card_without_half_precision_before_loading(runtime):
    p40 = DevicePolicy("cuda", "model", "sdpa", card=CudaCard("Tesla P40", (6, 1), 22.4))
    with pytest.raises(ValueError, match=r"bf16 or fp16.*this card \(Tesla P40, compute capability 6\.1\)"):
        check_card(p40)
    for fine in (DevicePolicy("cuda", "model", "sdpa", card=CudaCard("Tesla T4", (7, 5), 14.6)),
                 DevicePolicy("cuda", "none", "sdpa", zero_gpu=True), DevicePolicy("cpu", "none", "sdpa")):
        check_card(fine)
    on_p40 = dataclasses.replace(runtime, policy=p40)  # the job refuses before any weights are looked for
    with pytest.raises(ValueError, match="Tesla P40"):
        events_of("pyramid_flow", demo_settings(), on_p40)
