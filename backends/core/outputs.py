"""Saving results: every output gets a new file (never overwriting) and a JSON sidecar that holds
all settings, the seed, model ids and software versions, so the run can be repeated."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import platform
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from .paths import describe_input
from .video_io import write_mp4

FLOWSTUDIO_VERSION = "0.1.0"
_PACKAGES = ("torch", "diffusers", "transformers", "accelerate", "peft", "safetensors")


@functools.lru_cache(maxsize=1)
def _installed_versions() -> tuple[tuple[str, str], ...]:
    found = []
    for name in _PACKAGES:
        try:
            found.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            pass
    return tuple(found)


def software_versions() -> dict[str, str]:
    """Versions for a sidecar (read once: metadata lookups cost milliseconds each)."""
    return {"flowstudio": FLOWSTUDIO_VERSION, "python": platform.python_version(), **dict(_installed_versions())}


def settings_dict(settings: Any) -> dict[str, Any]:
    """A settings dataclass as plain JSON-able data (tuples of dataclasses included); input files
    (fields marked ``path``) by name and SHA-256, never by their place on the server."""
    data = dataclasses.asdict(settings)
    for f in dataclasses.fields(settings):
        if f.metadata.get("path"):
            value = data[f.name]
            data[f.name] = [describe_input(v) for v in value] if isinstance(value, (tuple, list)) else describe_input(value)
    return json.loads(json.dumps(data, default=str))


@dataclass(frozen=True)
class SavedOutput:
    path: Path
    sidecar: Path
    record: dict[str, Any]


class OutputStore:
    """``root/<engine>/<date-time>_<seed>.mp4`` + ``.json``; names are reserved atomically."""

    def __init__(self, root: str | Path, owner: str | None = None):
        self.root = Path(root)
        self.owner = owner  # on shared deployments: whose outputs these are (a hash of the visitor's session)

    def for_owner(self, owner: str | None) -> "OutputStore":
        """The same folder, writing outputs that name ``owner``."""
        return OutputStore(self.root, owner)

    def reserve(self, engine: str, tag: str | int | None = None) -> Path:
        """A fresh path stem (no suffix); its ``.json`` sidecar file is created to claim it."""
        folder = self.root / engine
        folder.mkdir(parents=True, exist_ok=True)
        base = time.strftime("%Y%m%d-%H%M%S") + (f"_{tag}" if tag is not None else "")
        for attempt in range(1, 10_000):
            stem = folder / (base if attempt == 1 else f"{base}-{attempt}")
            try:
                os.close(os.open(stem.with_suffix(".json"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                return stem
            except FileExistsError:
                continue
        raise RuntimeError(f"could not find a free output name in {folder}")

    def write_sidecar(self, stem: Path, record: Mapping[str, Any]) -> Path:
        sidecar = stem.with_suffix(".json")
        if self.owner:
            record = {**record, "owner": self.owner}
        sidecar.write_text(json.dumps(record, indent=2, default=str))
        return sidecar

    @contextmanager
    def claim(self, engine: str, tag: str | int | None = None) -> Iterator[Path]:
        """Reserve a stem for a job's files (``stem.mp4``, ``stem.flow.mp4``, ...); if the job
        fails or is stopped, everything written under it is removed."""
        stem = self.reserve(engine, tag)
        try:
            yield stem
        except BaseException:
            self.discard(stem)
            raise

    def resume_path(self, engine: str, settings: Any) -> Path:
        """Where a resumable job keeps its state between GPU calls: named by its settings (all but
        ``resume``) and owner, so the next call of the same job, and only it, finds it."""
        key = json.dumps([settings_dict(dataclasses.replace(settings, resume=False)), self.owner], sort_keys=True)
        return self.root / engine / f"resume-{hashlib.sha256(key.encode()).hexdigest()[:20]}.pt"

    def discard(self, stem: Path) -> None:
        for path in stem.parent.glob(stem.name + ".*"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    def finish_video(self, stem: Path, frames: np.ndarray, fps: float, record: Mapping[str, Any]) -> SavedOutput:
        """Write the main video of a claimed stem and its sidecar."""
        video = write_mp4(frames, stem.with_suffix(".mp4"), fps)
        full = {**record, "output": video.name, "frames": int(len(frames)), "fps": fps}
        return SavedOutput(video, self.write_sidecar(stem, full), full)

    def save_video(
        self, engine: str, frames: np.ndarray, fps: float, record: Mapping[str, Any], tag: str | int | None = None
    ) -> SavedOutput:
        with self.claim(engine, tag) as stem:
            return self.finish_video(stem, frames, fps, record)

    def list(self, engine: str | None = None, limit: int = 40, owner: str | None = None) -> list[SavedOutput]:
        """Newest first; only outputs whose sidecar and main file both exist (and, with ``owner``,
        only that owner's)."""
        folders = [self.root / engine] if engine else [p for p in self.root.glob("*") if p.is_dir()]
        found = []
        for sidecar in (s for folder in folders for s in folder.glob("*.json")):
            try:
                record = json.loads(sidecar.read_text() or "{}")
            except (OSError, json.JSONDecodeError):
                continue
            main = sidecar.with_name(record.get("output", "")) if record.get("output") else None
            if owner is not None and record.get("owner") != owner:
                continue
            if main and main.is_file():
                found.append(SavedOutput(main, sidecar, record))
        found.sort(key=lambda saved: saved.sidecar.stat().st_mtime, reverse=True)
        return found[:limit]


def sidecar_record(
    engine: str,
    settings: Any,
    seed: int | None,
    models: Mapping[str, str],
    device: str,
    dtype: str,
    started: float,
    **extra: Any,
) -> dict[str, Any]:
    """Everything needed to repeat a run; ``started`` is the job's start (``time.time()``)."""
    return {
        "engine": engine,
        "settings": settings_dict(settings),
        "seed": seed,
        "models": dict(models),
        "versions": software_versions(),
        "device": device,
        "dtype": dtype,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "started_unix": round(started, 3),
        "elapsed_s": round(time.time() - started, 3),
        **extra,
    }
