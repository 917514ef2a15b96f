"""The engines this app knows, by name: each one's settings class, job and loader, imported only
when used so that starting the app loads nothing heavy."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from .core.devices import free_memory
from .core.jobs import CancelToken, Event, Log
from .core.runtime import Runtime, current


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
    cli_names: tuple[str, ...] = ()

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
    "onlyflow": Engine(
        name="onlyflow",
        tab="flow_video",
        settings_path="backends.onlyflow.settings:FlowVideoSettings",
        job_path="backends.onlyflow.job:run",
        load_path="backends.onlyflow.job:load",
        cli_names=("flow-video", "onlyflow"),
    ),
    "river": Engine(
        name="river",
        tab="frame_prediction",
        settings_path="backends.river.settings:FramePredictionSettings",
        job_path="backends.river.job:run",
        load_path="backends.river.job:load_default",
        cli_names=("frame-prediction", "river"),
    ),
    "river_train": Engine(
        name="river_train",
        tab="frame_prediction",
        settings_path="backends.river.settings:RiverTrainingSettings",
        job_path="backends.river.train_job:run",
        cli_names=("river-train",),
    ),
}


def get_engine(name: str) -> Engine:
    for engine in ENGINES.values():
        if name == engine.name or name in engine.cli_names:
            return engine
    known = sorted({n for e in ENGINES.values() for n in (e.name, *e.cli_names)})
    raise ValueError(f"unknown engine {name!r}; known: {', '.join(known)}")


def run_engine(name: str, settings: Any, cancel: CancelToken | None = None, runtime: Runtime | None = None) -> Iterator[Event]:
    """Run one job of engine ``name`` in one of the runtime's GPU slots; memory held by the job is
    freed however it ends."""
    cancel = cancel or CancelToken()
    runtime = runtime or current()
    job = get_engine(name).job
    cancel.raise_if_cancelled()  # stopped while still waiting in the queue
    if not runtime.gpu_slots.acquire(blocking=False):
        yield Log("waiting for the GPU: another job is finishing")
        while not runtime.gpu_slots.acquire(timeout=0.2):
            cancel.raise_if_cancelled()
    try:
        yield from job(settings, cancel=cancel, runtime=runtime)
    finally:
        runtime.gpu_slots.release()
        free_memory()
