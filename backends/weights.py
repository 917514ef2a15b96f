"""The Models panel's data and the downloads behind its buttons and `--download ENGINE`."""

from __future__ import annotations

from typing import Iterator

from .core.jobs import CancelToken, Event, JobContext, JobRun, Log
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
    uses (``optional`` in the preset) too when ``optional``, else they come on first use.
    Offline, it refuses at once when anything is missing."""
    engine = get_engine(engine_name)
    preset = load_preset(engine.name)
    wanted = [ref for ref in preset.models.values() if optional or not ref.optional]
    if runtime.sources.offline:  # refuse at once, naming all that is missing, rather than try the Hub
        runtime.sources.check_available(wanted, preset.label, engine.name)

    def job(ctx: JobContext) -> None:
        for ref in preset.models.values():
            ctx.check()
            if ref.optional and not optional:
                ctx.emit(Log(f"{ref.repo}: optional ({ref.role}), skipped: it downloads on first use, or ask for optional weights"))
                continue
            status = runtime.sources.status(ref)
            if status.present:
                ctx.emit(Log(f"{ref.repo}: already here ({status.where})"))
                continue
            path = runtime.sources.download(ref, preset.label, ctx.emit)
            ctx.emit(Log(f"{ref.repo}: saved in {path}"))

    yield from JobRun(job, runtime, cancel, name=f"download-{engine.name}")
