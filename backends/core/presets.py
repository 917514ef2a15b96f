"""Engine presets: Hub sources, defaults, limits and quality levels, read from `presets/*.yaml`.

Capabilities and defaults are data; the UI and the settings checks read them from here
instead of hard-coding numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PRESETS_DIR = Path(__file__).resolve().parents[2] / "presets"


@dataclass(frozen=True)
class ModelRef:
    """One set of weights: a Hub repo (or a single file in it) that a local folder can stand in for."""

    role: str
    repo: str
    filename: str | None = None  # a single file (hf_hub_download) instead of a snapshot
    subfolder: str | None = None
    variant: str | None = None
    allow_patterns: tuple[str, ...] | None = None
    size_gb: float | None = None
    demo: str | None = None  # name of the tiny-model builder used in demo mode
    optional: bool = False  # needed only by an option (e.g. a reference image): fetched when used, not by default
    engine: str = ""  # the engine whose preset names it (`python app.py --download ENGINE` fetches it)

    @property
    def id(self) -> str:
        return f"{self.repo}/{self.filename}" if self.filename else self.repo

    @classmethod
    def from_yaml(cls, role: str, data: dict[str, Any], engine: str = "") -> "ModelRef":
        patterns = data.get("allow_patterns")
        return cls(
            role=role,
            repo=data["repo"],
            filename=data.get("filename"),
            subfolder=data.get("subfolder"),
            variant=data.get("variant"),
            allow_patterns=tuple(patterns) if patterns else None,
            size_gb=data.get("size_gb"),
            demo=data.get("demo"),
            optional=bool(data.get("optional", False)),
            engine=engine,
        )


@dataclass(frozen=True)
class EnginePreset:
    engine: str
    label: str
    tab: str
    models: dict[str, ModelRef]
    defaults: dict[str, Any]
    limits: dict[str, Any]
    quality: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # engine-specific sections (scheduler, notes)

    def for_mode(self, demo: bool) -> "EnginePreset":
        """The preset with demo-mode defaults and limits laid over, when ``demo``."""
        if not demo or "demo" not in self.extra:
            return self
        demo_part = self.extra["demo"]
        return EnginePreset(
            self.engine,
            self.label,
            self.tab,
            self.models,
            {**self.defaults, **demo_part.get("defaults", {})},
            {**self.limits, **demo_part.get("limits", {})},
            self.quality,
            self.extra,
        )


@lru_cache(maxsize=None)
def load_preset(engine: str, folder: Path = PRESETS_DIR) -> EnginePreset:
    path = Path(folder) / f"{engine}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no preset file for engine {engine!r} at {path}")
    data = yaml.safe_load(path.read_text())
    known = {"engine", "label", "tab", "models", "defaults", "limits", "quality"}
    # `uses: other` takes the other engine's models first (an engine built on another one).
    models = dict(load_preset(data["uses"], folder).models) if data.get("uses") else {}
    models.update({role: ModelRef.from_yaml(role, ref, data["engine"]) for role, ref in (data.get("models") or {}).items()})
    return EnginePreset(
        engine=data["engine"],
        label=data["label"],
        tab=data["tab"],
        models=models,
        defaults=dict(data.get("defaults") or {}),
        limits=dict(data.get("limits") or {}),
        quality=dict(data.get("quality") or {}),
        extra={k: v for k, v in data.items() if k not in known},
    )
