import pytest

from backends.core.presets import load_preset


def test_animatediff_preset_reads_sources_defaults_and_limits():
    preset = load_preset("animatediff")
    assert preset.models["base"].repo == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert preset.models["motion_adapter"].repo == "guoyww/animatediff-motion-adapter-v1-5-3"
    assert "unet/diffusion_pytorch_model.fp16.safetensors" in preset.models["base"].allow_patterns
    assert preset.defaults["context_length"] == 16 and preset.limits["frames"][0] == 16
    assert set(preset.quality) == {"fast", "balanced", "quality"}
    assert preset.extra["scheduler"]["timestep_spacing"] == "linspace"


def test_demo_mode_lays_its_defaults_and_limits_over():
    preset = load_preset("animatediff")
    demo = preset.for_mode(demo=True)
    assert demo.defaults["width"] == 64 and demo.limits["width"][0] < preset.limits["width"][0]
    assert demo.defaults["negative_prompt"] == preset.defaults["negative_prompt"]
    assert preset.for_mode(demo=False) is preset


def test_onlyflow_takes_animatediff_models_and_an_optional_ip_adapter():
    from backends.core.ip_adapter import IMAGE_ENCODER, SUBFOLDER, WEIGHT_NAMES

    preset = load_preset("onlyflow")
    assert set(preset.models) == {"base", "motion_adapter", "onlyflow", "ip_adapter"}
    ip_adapter = preset.models["ip_adapter"]
    assert ip_adapter.repo == "h94/IP-Adapter" and ip_adapter.optional and ip_adapter.demo
    assert [role for role, ref in preset.models.items() if ref.optional] == ["ip_adapter"]
    assert {f"{SUBFOLDER}/{name}" for name in WEIGHT_NAMES} <= set(ip_adapter.allow_patterns)
    assert f"{SUBFOLDER}/{IMAGE_ENCODER}/model.safetensors" in ip_adapter.allow_patterns
    assert preset.defaults["ip_adapter_scale"] == 0.5 and preset.limits["ip_adapter_scale"] == [0.0, 1.0]


def test_unknown_engine(tmp_path):
    with pytest.raises(FileNotFoundError, match="no preset file"):
        load_preset("nope", tmp_path)
