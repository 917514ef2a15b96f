"""The engines this app knows, by name: each one's settings class, job and loader, imported only
when used so that starting the app loads nothing heavy."""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from .core.devices import free_memory
from .core.jobs import CancelToken, Event, JobContext, JobRun, Log
from .core.loras import HUB_ID, LoraChoice, check_lora_source, hub_lora_ref
from .core.presets import ModelRef, load_preset
from .core.runtime import Runtime, current
from .core.settings import checked, mode_defaults
from .core.sources import OFFLINE_REASON, MissingWeights

FIRST_USE = "They download when a job first needs them"


def _import(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Engine:
    name: str
    tab: str
    settings_path: str  # "package.module:Class"
    job_path: str  # "package.module:run"
    load_path: str | None = None  # "package.module:load" for ZeroGPU start-up placement
    weights_path: str | None = None  # "package.module:fn(settings, preset) -> [ModelRef]" when not all models are needed
    cli_names: tuple[str, ...] = ()
    resumable: bool = False  # its settings have `resume`: a run can go on from its last checkpoint

    @property
    def settings_cls(self) -> type:
        return _import(self.settings_path)

    @property
    def job(self) -> Callable[..., Iterator[Event]]:
        return _import(self.job_path)

    def load(self, runtime: Runtime) -> Any:
        return _import(self.load_path)(runtime) if self.load_path else None


ENGINES: dict[str, Engine] = {
    "animatediff": Engine(
        name="animatediff",
        tab="long_video",
        settings_path="backends.animatediff.settings:LongVideoSettings",
        job_path="backends.animatediff.job:run",
        load_path="backends.animatediff.pipeline:load_animatediff",
        cli_names=("long-video", "animatediff"),
    ),
    "pyramid_flow": Engine(
        name="pyramid_flow",
        tab="long_video",
        settings_path="backends.pyramid_flow.settings:PyramidFlowSettings",
        job_path="backends.pyramid_flow.job:run",
        weights_path="backends.pyramid_flow.settings:weights_needed",
        cli_names=("pyramid-flow",),
        resumable=True,
    ),
    "pyramid_flow_i2v": Engine(
        name="pyramid_flow_i2v",
        tab="image_to_video",
        settings_path="backends.pyramid_flow.settings:PyramidFlowI2VSettings",
        job_path="backends.pyramid_flow.job:run",
        weights_path="backends.pyramid_flow.settings:weights_needed",
        cli_names=("pyramid-flow-i2v",),
        resumable=True,
    ),
    "onlyflow": Engine(
        name="onlyflow",
        tab="flow_video",
        settings_path="backends.onlyflow.settings:FlowVideoSettings",
        job_path="backends.onlyflow.job:run",
        load_path="backends.onlyflow.job:load",
        cli_names=("flow-video", "onlyflow"),
    ),
    "consisti2v": Engine(
        name="consisti2v",
        tab="image_to_video",
        settings_path="backends.consisti2v.settings:ImageToVideoSettings",
        job_path="backends.consisti2v.job:run",
        load_path="backends.consisti2v.job:load",
        cli_names=("image-to-video", "consisti2v"),
    ),
    "river": Engine(
        name="river",
        tab="frame_prediction",
        settings_path="backends.river.settings:FramePredictionSettings",
        job_path="backends.river.job:run",
        load_path="backends.river.job:load_default",
        weights_path="backends.river.settings:weights_needed",
        cli_names=("frame-prediction", "river"),
    ),
    "river_train": Engine(
        name="river_train",
        tab="frame_prediction",
        settings_path="backends.river.settings:RiverTrainingSettings",
        job_path="backends.river.train_job:run",
        weights_path="backends.river.settings:training_weights_needed",
        cli_names=("river-train",),
        resumable=True,
    ),
    "motion_director": Engine(
        name="motion_director",
        tab="lora_trainer",
        settings_path="backends.motion_director.settings:MotionLoraSettings",
        job_path="backends.motion_director.job:run",
        weights_path="backends.motion_director.settings:weights_needed",
        cli_names=("motion-lora", "motion-director"),
        resumable=True,
    ),
}


def get_engine(name: str) -> Engine:
    for engine in ENGINES.values():
        if name == engine.name or name in engine.cli_names:
            return engine
    known = sorted({n for e in ENGINES.values() for n in (e.name, *e.cli_names)})
    raise ValueError(f"unknown engine {name!r}; known: {', '.join(known)}")


def check_job(name: str, settings: Any, runtime: Runtime) -> Any:
    """What can be known before a job starts (and, on ZeroGPU, before a GPU is asked for): the
    settings against the preset's limits (ValueError), and weights that cannot be had offline
    (MissingWeights). Returns the checked settings, the random seed drawn."""
    engine = get_engine(name)
    preset, settings = checked(settings, engine.name, runtime.demo)
    check_sources(settings, runtime)
    runtime.sources.check_available(weights_needed(engine, settings, preset), preset.label, engine.name)
    return settings


def weights_needed(engine: Engine, settings: Any, preset) -> list[ModelRef]:
    """The weights a job of ``engine`` with ``settings`` uses."""
    return _import(engine.weights_path)(settings, preset) if engine.weights_path else required_models(preset)


def missing_weights(name: str, runtime: Runtime, settings: Any = None, *, values: Mapping[str, Any] | None = None,
                    failure: MissingWeights | None = None, panel: bool = False) -> MissingWeights | None:
    """What a job of engine ``name`` would lack, worded for a person, or None when everything is
    here. ``settings``: the job's, else its defaults with ``values`` over them; ``failure``: the
    download that just failed; ``panel``: the Models panel can download them. Looks only on this
    machine (local folders, the Hugging Face cache), never on the network. Demo mode lacks
    nothing its defaults use (tiny stand-ins): None there."""
    if runtime.demo:
        return None
    engine = get_engine(name)
    preset = load_preset(engine.name)
    if settings is None:
        settings = default_settings(engine, preset, **(values or {}))
    missing = [ref for ref in weights_needed(engine, settings, preset) if not runtime.sources.available(ref)]
    if not missing:
        return None
    if runtime.sources.offline:
        reason, command = OFFLINE_REASON, True
    elif failure:  # a download just failed: advising another one would not help
        reason, command, panel = failure.reason, False, False
    else:
        reason, command = FIRST_USE, True
    return MissingWeights.of(preset.label, missing, reason, engine.name, command=command,
                             panel=panel and not runtime.sources.offline)


def default_settings(engine: Engine, preset, **values: Any) -> Any:
    """The engine's settings on their (normal-mode) defaults with ``values`` over them; the inputs
    a person must give (a prompt, a clip) left empty: enough to say which weights a job would use."""
    defaults, _ = mode_defaults(engine.settings_cls, preset, demo=False)
    inputs = {f.name: "" for f in dataclasses.fields(engine.settings_cls) if f.name not in defaults}
    return engine.settings_cls(**{**inputs, **defaults, **values})


def check_sources(settings: Any, runtime: Runtime) -> None:
    """Files and folders the settings name (fields marked ``path`` in their metadata, LoRA
    sources) through the runtime's rules: on a shared deployment, uploads and the app's folders only."""
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        items = value if isinstance(value, tuple) else (value,)
        if f.metadata.get("path"):
            for item in items:
                if item:
                    runtime.accept_path(f.name, item)
        for item in items:
            if isinstance(item, LoraChoice):
                check_lora_source(item.source, runtime.lora_folders(), runtime.shared)
                if not runtime.downloads and HUB_ID.match(item.source) and not runtime.sources.available(hub_lora_ref(item.source)):
                    # a stranger could make the server fetch any repo of the Hub
                    raise ValueError(f"LoRA {item.source!r}: this deployment does not download from the Hub; pick one "
                                     "of the LoRA list (Hub LoRAs that are already here are fine)")


def required_models(preset) -> list:
    """The weights a job of this preset always needs (optional ones come with their option)."""
    return [ref for ref in preset.models.values() if not ref.optional]


def start_engine(name: str, settings: Any, cancel: CancelToken | None = None, runtime: Runtime | None = None,
                 deadline: float | None = None, owner: str | None = None) -> JobRun:
    """Check, then start one job of engine ``name`` on its worker thread. It waits for one of
    the runtime's GPU slots there, and frees the memory it held however it ends. ``owner``: whose
    outputs it writes (a visitor of a shared deployment)."""
    runtime = runtime or current()
    if owner:
        runtime = dataclasses.replace(runtime, outputs=runtime.outputs.for_owner(owner))
    engine = get_engine(name)
    settings = check_job(name, settings, runtime)

    def job(ctx: JobContext):
        ctx.check()  # stopped while still waiting in the queue
        if not runtime.gpu_slots.acquire(blocking=False):
            ctx.emit(Log("waiting for the GPU: another job is finishing"))
            while not runtime.gpu_slots.acquire(timeout=0.2):
                ctx.check()
        ended_cleanly = False
        try:
            result = engine.job(settings, ctx)
            if result is not None:
                ctx.emit(result)  # out before the clean-up below
            ended_cleanly = True
        except MissingWeights as error:  # one set could not be had: name every one this job still lacks
            named = missing_weights(engine.name, runtime, settings, failure=error)
            raise named if named and set(error.repos) <= set(named.repos) else error
        finally:
            runtime.gpu_slots.release()
            free_memory(collect=not ended_cleanly)

    return JobRun(job, runtime, cancel, deadline, name=engine.name)


def run_engine(name: str, settings: Any, cancel: CancelToken | None = None, runtime: Runtime | None = None) -> Iterator[Event]:
    """The events of one job of engine ``name``, as they come; its errors are raised here."""
    yield from start_engine(name, settings, cancel, runtime)
