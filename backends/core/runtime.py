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
from .paths import check_allowed, upload_folder

TRAINED_LORAS = "loras"  # under the outputs folder: LoRAs trained in the app (outputs/loras/<name>/)
# Demo mode's outputs (noise from tiny random weights, LoRAs and models trained on them) go in their
# own folder under the outputs folder, so they never mix with real ones.
DEMO_OUTPUTS = "demo"
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
    # A share link, a login or a Space: every visitor is a stranger (see `accept_path`).
    shared: bool = False
    shared_gallery: bool = False  # on a shared deployment, everyone sees every output (else each their own)
    # The Models panel may start downloads: not on a shared deployment (strangers would start
    # multi-GB downloads) unless the operator allows it (--allow-downloads).
    downloads: bool = True
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
        shared: bool = False,
        shared_gallery: bool = False,
        allow_downloads: bool = False,
    ) -> "Runtime":
        policy = choose_policy(offload=offload, force_cpu=force_cpu or demo)
        sources = ModelSources.from_env(
            models_dir=models_dir, overrides=dict(model_paths or {}), offline=offline, demo=demo, demo_dir=demo_dir
        )
        outputs = OutputStore(Path(output_dir) / DEMO_OUTPUTS if demo else output_dir)
        return cls(policy, sources, ModelCache(policy.keep_models), outputs, Path(loras_dir), demo,
                   shared, shared_gallery, not shared or allow_downloads, threading.BoundedSemaphore(concurrency))

    def lora_folders(self) -> list[Path]:
        """Where LoRAs come from: the LoRA folder, and those trained here (outputs/loras/)."""
        return [self.loras_dir, self.outputs.root / TRAINED_LORAS]

    def app_folders(self) -> list[Path]:
        """The folders a visitor of a shared deployment may name files in."""
        folders = [self.loras_dir, self.outputs.root]
        return folders + ([self.sources.models_dir] if self.sources.models_dir else [])

    def accept_path(self, field: str, value: str | Path) -> Path:
        """A file or folder a person named: anything locally; on a shared deployment only an
        upload or something inside the app's folders (ValueError otherwise)."""
        if not self.shared:
            return Path(value)
        return check_allowed(field, value, [*self.app_folders(), upload_folder()])


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
