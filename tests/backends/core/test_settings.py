from dataclasses import dataclass

import pytest

from backends.animatediff.settings import LongVideoSettings
from backends.core.loras import LoraChoice
from backends.core.presets import EnginePreset
from backends.core.settings import MAX_SEED, check_range, from_dict, mode_defaults, resolve_seed, with_defaults


def test_range_messages_name_the_argument_and_value():
    check_range("steps", 5, (1, 10))
    with pytest.raises(ValueError, match=r"steps must be between 1 and 10, got 11"):
        check_range("steps", 11, (1, 10))


def test_random_seed_is_drawn_and_fixed_seed_kept():
    assert resolve_seed(42) == 42
    drawn = {resolve_seed(-1) for _ in range(5)}
    assert all(0 <= s <= MAX_SEED for s in drawn) and len(drawn) > 1
    with pytest.raises(ValueError, match="seed must be at most"):
        resolve_seed(MAX_SEED + 1)


def test_from_dict_rebuilds_nested_loras_and_integers():
    settings = from_dict(
        LongVideoSettings, {"prompt": "x", "frames": 24.0, "loras": [{"source": "a.ckpt", "weight": 0.5}]}
    )
    assert settings.frames == 24 and isinstance(settings.frames, int)
    assert settings.loras == (LoraChoice("a.ckpt", 0.5),)
    with pytest.raises(ValueError, match="unknown settings for LongVideoSettings: colour"):
        from_dict(LongVideoSettings, {"prompt": "x", "colour": 1})


def test_with_defaults_ignores_preset_keys_that_are_not_fields():
    settings = with_defaults(LongVideoSettings, {"steps": 9, "not_a_field": 1}, prompt="p")
    assert settings.steps == 9 and settings.prompt == "p"


def test_mode_defaults_follow_the_preset_and_its_limits():
    """Flags left out take the mode's preset defaults; a default the mode's narrower range excludes
    is pulled in (and said), a sentinel outside the full range too (0 = automatic) is kept."""

    @dataclass(frozen=True)
    class Tiny:
        prompt: str
        width: int = 512
        steps: int = 25
        rank: int = 0
        guidance: float = 7.5
        sweep: tuple[float, ...] = (0.0, 1.0)

    preset = EnginePreset("tiny", "Tiny", "tab", {}, {"steps": 25, "unknown": 1},
                          {"width": [256, 1024], "steps": [1, 100], "rank": [1, 64]},
                          extra={"demo": {"defaults": {"steps": 4}, "limits": {"width": [32, 256], "rank": [1, 8]}}})
    defaults, notes = mode_defaults(Tiny, preset, demo=True)
    assert defaults == {"width": 256, "steps": 4, "rank": 0, "guidance": 7.5, "sweep": (0.0, 1.0)}
    assert notes == ["width: the default 512 is outside this mode's range [32, 256]; using 256"]
    assert mode_defaults(Tiny, preset, demo=False) == ({**defaults, "width": 512, "steps": 25}, [])
