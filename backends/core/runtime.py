"""The process-wide runtime every job receives: device policy, weight sources, model cache,
output store and LoRA folder. Built once by ``app.py`` (or a test) from flags and environment."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from .devices import DevicePolicy, choose_policy
from .model_cache import ModelCache
from .outputs import OutputStore
from .quiet import silence_unactionable_warnings
from .sources import ModelSources


@dataclass
class Runtime:
    policy: DevicePolicy
    sources: ModelSources
    models: ModelCache
    outputs: OutputStore
    loras_dir: Path
    demo: bool = False
    # GPU jobs running at once. Held by the job itself, so a job whose page went away (it keeps
    # running to save its result) still blocks the next one until it is done.
    gpu_slots: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(1))

    @classmethod
    def create(
        cls,
        *,
        demo: bool = False,
        offline: bool = False,
        offload: str | None = None,
        output_dir: str | Path = "outputs",
        loras_dir: str | Path = "loras",
        models_dir: str | Path | None = None,
        model_paths: Mapping[str, str] | None = None,
        demo_dir: str | Path | None = None,
        force_cpu: bool = False,
        concurrency: int = 1,
    ) -> "Runtime":
        policy = choose_policy(offload=offload, force_cpu=force_cpu or demo)
        sources = ModelSources.from_env(
            models_dir=models_dir, overrides=dict(model_paths or {}), offline=offline, demo=demo, demo_dir=demo_dir
        )
        return cls(policy, sources, ModelCache(policy.keep_models), OutputStore(output_dir), Path(loras_dir), demo,
                   threading.BoundedSemaphore(concurrency))


_current: Runtime | None = None


def configure(runtime: Runtime) -> Runtime:
    """Make ``runtime`` the one jobs use when none is passed (the ZeroGPU worker needs this:
    arguments of a GPU call are pickled, a model cache is not); quiet the libraries' unactionable warnings."""
    global _current
    silence_unactionable_warnings()
    _current = runtime
    return runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("no runtime configured: call backends.core.runtime.configure() first")
    return _current
