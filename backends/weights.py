"""The Models panel's data and the downloads behind its buttons and `--download ENGINE`."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from .core.jobs import CancelToken, Event, JobContext, JobRun, Log
from .core.presets import ModelRef, load_preset
from .core.runtime import Runtime
from .core.sources import folder_size
from .engines import ENGINES, get_engine
from .river.catalog import EMBEDDED_DIR

ROOT = Path(__file__).resolve().parents[1]  # the app's folder
# Weights that come with the app itself (engine -> name -> folder): listed as present, never fetched.
SHIPPED = {"river": {"bouncing_balls": EMBEDDED_DIR}}
WHERE = {"Hugging Face cache": "HF cache", "missing": "—"}  # sources' words, shortened for the table


def _size(size_bytes: int | None, size_gb: float | None) -> str:
    if size_bytes:
        return f"{size_bytes / 1e9:.2f} GB" if size_bytes >= 1e9 else f"{size_bytes / 1e6:.1f} MB"
    return f"~{size_gb:g} GB" if size_gb else ""


def _own_models(engine: str) -> list[ModelRef]:
    """The weights ``engine``'s preset names itself (not those it takes from the engine it builds on)."""
    return [ref for ref in load_preset(engine).models.values() if ref.engine == engine]


def weight_rows(runtime: Runtime) -> list[list[str]]:
    """One row per set of weights, under the engine whose preset names it: engine, role, repo,
    present ("yes", "no", or "demo": a tiny stand-in), where, size."""
    rows = []
    for engine in ENGINES:
        label = load_preset(engine).label
        for name, folder in SHIPPED.get(engine, {}).items():
            rows.append([label, name, folder.relative_to(ROOT).as_posix(), "yes", "shipped with the app",
                         _size(folder_size(folder), None)])
        for ref in _own_models(engine):
            status = runtime.sources.status(ref)
            demo = status.present and status.path is None  # a tiny stand-in, built when first used
            rows.append([label, f"{ref.role} (optional)" if ref.optional else ref.role, ref.id,
                         "demo" if demo else "yes" if status.present else "no",
                         "tiny stand-in" if demo else WHERE.get(status.where, status.where),
                         _size(status.size_bytes, ref.size_gb)])
    return rows


def download_choices() -> list[tuple[str, str]]:
    """(label, engine) of each engine with weights of its own to fetch."""
    return [(load_preset(engine).label, engine) for engine in ENGINES if _own_models(engine)]


def reused_weights() -> list[str]:
    """Engines that run on another one's weights, in words ("X uses Y's weights too")."""
    notes = []
    for engine in ENGINES:
        preset = load_preset(engine)
        if preset.extra.get("uses"):
            notes.append(f"{preset.label} uses {load_preset(preset.extra['uses']).label}'s weights too")
    return notes


def download(engine_name: str, *, cancel: CancelToken, runtime: Runtime, optional: bool = False) -> Iterator[Event]:
    """Fetch every set of weights an engine needs that is not here yet; weights only an option
    uses (``optional`` in the preset) too when ``optional``, else they come on first use.
    Offline, it refuses at once when anything is missing."""
    engine = get_engine(engine_name)
    preset = load_preset(engine.name)
    wanted = [ref for ref in preset.models.values() if optional or not ref.optional]
    if runtime.sources.offline:  # refuse at once, naming all that is missing, rather than try the Hub
        runtime.sources.check_available(wanted, preset.label, engine.name, command=False)

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
