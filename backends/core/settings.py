"""Helpers every engine's settings dataclass uses: range checks with clear messages, seeds,
and rebuilding settings from plain data (a sidecar, an API call, CLI flags)."""

from __future__ import annotations

import dataclasses
import random
import typing
from typing import Any, Mapping, Sequence, TypeVar

S = TypeVar("S")
MAX_SEED = 2**31 - 1


def check_range(name: str, value: float, bounds: Sequence[float]) -> None:
    low, high = bounds
    if not (low <= value <= high):
        raise ValueError(f"{name} must be between {low:g} and {high:g}, got {value!r}")


def check_int(name: str, value: Any, bounds: Sequence[float]) -> None:
    """A whole number within ``bounds`` (for checks called before ``checked``'s type pass)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    check_range(name, value, bounds)


def check_number(name: str, value: Any, bounds: Sequence[float]) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    check_range(name, value, bounds)


def check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def check_multiple(name: str, value: int, multiple: int) -> None:
    if value % multiple:
        raise ValueError(f"{name} must be a multiple of {multiple}, got {value}")


def check_text(name: str, value: str, max_chars: int, required: bool = True) -> None:
    if required and not (value or "").strip():
        raise ValueError(f"{name} is empty: write what the video should show")
    if len(value or "") > max_chars:
        raise ValueError(f"{name} is too long ({len(value)} characters, at most {max_chars})")


def resolve_seed(seed: int | None) -> int:
    """A negative or missing seed means 'random': draw one, so it can be reported and reused."""
    if seed is None or seed < 0:
        return random.SystemRandom().randint(0, MAX_SEED)
    if seed > MAX_SEED:
        raise ValueError(f"seed must be at most {MAX_SEED}, got {seed}")
    return int(seed)


def _convert(hint: Any, value: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
        return from_dict(hint, value)
    if origin is tuple and value is not None:
        item_hint = args[0] if args else Any
        return tuple(_convert(item_hint, item) for item in value)
    if hint is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if hint is float and isinstance(value, int):
        return float(value)
    return value


def from_dict(cls: type[S], data: Mapping[str, Any]) -> S:
    """Build a settings dataclass from plain data; unknown keys are an error naming them."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown settings for {cls.__name__}: {', '.join(sorted(unknown))}")
    return cls(**{key: _convert(hints[key], value) for key, value in data.items()})


def with_defaults(cls: type[S], defaults: Mapping[str, Any], **values: Any) -> S:
    """Settings from preset defaults (those that are fields of ``cls``) overridden by ``values``."""
    names = {f.name for f in dataclasses.fields(cls)}
    return from_dict(cls, {**{k: v for k, v in defaults.items() if k in names}, **values})


def mode_defaults(cls: type, preset: Any, demo: bool) -> tuple[dict[str, Any], list[str]]:
    """Defaults of ``cls``'s fields in a mode of ``preset`` (an `EnginePreset`): the mode's preset
    defaults, else the dataclass's. Where the mode narrows a ``[low, high]`` limit, a number that
    the full limit allows but the mode's does not is pulled to the nearest end (a value outside
    both, such as 0 for "automatic", is left alone). Returns (defaults, one note per pulled default)."""
    mode = preset.for_mode(demo)
    defaults, notes = {}, []
    for field in dataclasses.fields(cls):
        if field.name in mode.defaults:
            value = mode.defaults[field.name]
        elif field.default is not dataclasses.MISSING:
            value = field.default
        elif field.default_factory is not dataclasses.MISSING:
            value = field.default_factory()
        else:
            continue  # required: the caller gives it
        full, narrowed = preset.limits.get(field.name), mode.limits.get(field.name)
        if (isinstance(value, (int, float)) and not isinstance(value, bool)
                and isinstance(narrowed, (list, tuple)) and isinstance(full, (list, tuple))
                and full[0] <= value <= full[1]):
            low, high = narrowed
            pulled = type(value)(min(max(value, low), high))
            if pulled != value:
                notes.append(f"{field.name}: the default {value!r} is outside this mode's range "
                             f"[{low:g}, {high:g}]; using {pulled!r}")
                value = pulled
        defaults[field.name] = value
    return defaults, notes


def check_types(settings: Any) -> None:
    """Each field holds its declared type: an API may send ``frames=16.5`` or ``steps="x"``; a
    whole float (16.0, what number widgets send) counts as an int."""
    hints = typing.get_type_hints(type(settings))
    for f in dataclasses.fields(settings):
        hint, value = hints[f.name], getattr(settings, f.name)
        if hint is int and (isinstance(value, bool) or not (isinstance(value, int) or
                                                             (isinstance(value, float) and value.is_integer()))):
            raise ValueError(f"{f.name} must be a whole number, got {value!r}")
        if hint is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"{f.name} must be a number, got {value!r}")
        if hint is str and not isinstance(value, str):
            raise ValueError(f"{f.name} must be text, got {value!r}")
        if hint is bool and not isinstance(value, bool):
            raise ValueError(f"{f.name} must be true or false, got {value!r}")


def whole_numbers(settings: S) -> S:
    """``settings`` with whole floats in int fields made ints."""
    hints = typing.get_type_hints(type(settings))
    changes = {f.name: int(getattr(settings, f.name)) for f in dataclasses.fields(settings)
               if hints[f.name] is int and isinstance(getattr(settings, f.name), float)}
    return dataclasses.replace(settings, **changes) if changes else settings


def checked(settings: S, engine: str, demo: bool) -> tuple[Any, S]:
    """(preset, settings): ``settings`` checked for types and against the engine preset's limits
    (demo mode has its own), with a random seed drawn, so it can be reported and the run repeated."""
    from .presets import load_preset

    preset = load_preset(engine).for_mode(demo)
    check_types(settings)
    settings = whole_numbers(settings)
    settings.check_inputs(preset.limits)
    if hasattr(settings, "seed"):
        settings = dataclasses.replace(settings, seed=resolve_seed(settings.seed))
    return preset, settings
