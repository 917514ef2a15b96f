"""The Models panel's data and the downloads behind its buttons and `--download ENGINE`."""

from __future__ import annotations

from typing import Iterator

from .core.jobs import CancelToken, Event, Log, run_in_thread
from .core.presets import load_preset
from .core.runtime import Runtime
from .engines import ENGINES, get_engine


def _size(size_bytes: int | None, size_gb: float | None) -> str:
    if size_bytes:
        return f"{size_bytes / 1e9:.2f} GB"
    return f"~{size_gb:g} GB" if size_gb else ""


def weight_rows(runtime: Runtime) -> list[list[str]]:
    """One row per set of weights: engine, role, repo, present, where, size."""
    rows = []
    for engine in ENGINES.values():
        preset = load_preset(engine.name)
        for ref in preset.models.values():
            status = runtime.sources.status(ref)
            repo = ref.id
            role = f"{ref.role} (optional)" if ref.optional else ref.role
            rows.append([preset.label, role, repo, "yes" if status.present else "no", status.where,
                         _size(status.size_bytes, ref.size_gb)])
    return rows


def download(engine_name: str, *, cancel: CancelToken, runtime: Runtime, optional: bool = False) -> Iterator[Event]:
    """Fetch every set of weights an engine needs that is not here yet; weights only an option
    uses (``optional`` in the preset) too when ``optional``, else they come on first use."""
    engine = get_engine(engine_name)
    preset = load_preset(engine.name)

    def work(emit) -> None:
        for ref in preset.models.values():
            cancel.raise_if_cancelled()
            if ref.optional and not optional:
                emit(Log(f"{ref.repo}: optional ({ref.role}), skipped: it downloads on first use, or ask for optional weights"))
                continue
            status = runtime.sources.status(ref)
            if status.present:
                emit(Log(f"{ref.repo}: already here ({status.where})"))
                continue
            path = runtime.sources.download(ref, preset.label, emit)
            emit(Log(f"{ref.repo}: saved in {path}"))

    yield from run_in_thread(work, cancel)
