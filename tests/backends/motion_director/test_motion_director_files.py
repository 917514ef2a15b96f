"""The files of a real (tiny) training run, read the way the ecosystem's loaders read them."""

import re

import pytest
import torch
from safetensors.torch import load_file

from backends.core.loras import LoraChoice, apply_loras
from backends.motion_director.files import (OFFICIAL_KEY, file_names, official_motion_key, old_style_module_key,
                                            read_diffusers, read_kohya, read_metadata, read_motion_lora)
from backends.motion_director.lora import SPATIAL, TEMPORAL, set_path

from .conftest import FRAMES, SIZE


@pytest.fixture(scope="module")
def pipe(tiny_weights):
    from diffusers import AnimateDiffPipeline, MotionAdapter

    adapter = MotionAdapter.from_pretrained(tiny_weights["guoyww/animatediff-motion-adapter-v1-5-3"])
    pipe = AnimateDiffPipeline.from_pretrained(tiny_weights["stable-diffusion-v1-5/stable-diffusion-v1-5"],
                                               motion_adapter=adapter)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def render(pipe) -> torch.Tensor:
    return pipe(prompt="a ball", num_frames=FRAMES, height=SIZE, width=SIZE, num_inference_steps=2,
                generator=torch.Generator().manual_seed(0), output_type="latent").frames


def lora_layer_count(unet) -> int:
    from peft.tuners.lora import LoraLayer

    return sum(isinstance(m, LoraLayer) for m in unet.modules())


def original_animatediff_layout(motion_adapter_state: dict) -> dict:
    """diffusers MotionAdapter keys -> the original AnimateDiff motion-module checkpoint's keys."""
    renames = ((".attn1.", ".attention_blocks.0."), (".attn2.", ".attention_blocks.1."), (".norm1.", ".norms.0."),
               (".norm2.", ".norms.1."), (".norm3.", ".ff_norm."), (".pos_embed.", ".pos_encoder."))
    converted = {}
    for key, value in motion_adapter_state.items():
        key = re.sub(r"(motion_modules\.\d+)\.", r"\1.temporal_transformer.", key)
        for old, new in renames:
            key = key.replace(old, new)
        converted[key] = value
    return converted


def test_file_names_and_metadata(trained_run):
    _, files = trained_run
    assert {path.name for path in files.values()} == {f for k, f in file_names("tiny").items() if k != "settings"}
    header = read_metadata(files["temporal"])
    assert header["base_model"] == "stable-diffusion-v1-5/stable-diffusion-v1-5" and header["steps"] == "3"
    assert header["rank"] == "4" and header["prompt"]
    kohya = read_metadata(files["spatial"])
    assert kohya["ss_network_module"] == "networks.lora" and kohya["ss_network_dim"] == "4"
    assert kohya["ss_network_alpha"] == "4.0" and kohya["ss_steps"] == "3" and kohya["ss_resolution"] == f"({SIZE}, {SIZE})"


def test_temporal_keys_follow_the_official_motion_lora_pattern_exactly(trained_run):
    trainer, files = trained_run
    tensors = load_file(files["temporal"])
    assert tensors and all(OFFICIAL_KEY.match(key) for key in tensors), [k for k in tensors if not OFFICIAL_KEY.match(k)]
    assert not any("0_lora" in k or "processor.proj_lora" in k or k.startswith("unet.") for k in tensors)
    attention_layers = [m for m in trainer.adapter_weights()[TEMPORAL] if ".attn" in m]
    assert len(tensors) == 2 * len(attention_layers)
    rank = trainer.config.rank
    for key, value in tensors.items():
        assert value.shape[0 if ".down." in key else 1] == rank


def test_ade_key_derivation_maps_every_temporal_key_onto_the_original_motion_module(trained_run, tiny_weights):
    from diffusers import MotionAdapter

    _, files = trained_run
    adapter = MotionAdapter.from_pretrained(tiny_weights["guoyww/animatediff-motion-adapter-v1-5-3"])
    original = original_animatediff_layout(adapter.state_dict())
    tensors = load_file(files["temporal"])
    kept = {k: v for k, v in tensors.items() if "temporal" in k}  # ADE keeps only these
    assert kept == tensors
    downs = [k for k in kept if ".down." in k]
    assert len(downs) * 2 == len(kept)
    for key in downs:
        up = kept[key.replace(".down.", ".up.")]
        model_key = old_style_module_key(key)
        assert model_key in original, model_key
        assert (up @ kept[key]).shape == original[model_key].shape


def test_round_trip_is_exact(trained_run):
    trainer, files = trained_run
    weights = trainer.adapter_weights()
    official = read_motion_lora(load_file(files["temporal"]))
    diffusers_file = read_diffusers(load_file(files["temporal_diffusers"]))
    kohya = read_kohya(load_file(files["spatial"]))
    assert set(diffusers_file) == set(weights[TEMPORAL])
    for module, layer in weights[TEMPORAL].items():
        assert torch.equal(diffusers_file[module].down, layer.down)
        assert torch.equal(diffusers_file[module].up, layer.baked_up())
        if ".attn" in module:
            stored = official[old_style_module_key(official_motion_key(module) + ".down.weight")]
            assert torch.equal(stored.down, layer.down) and torch.equal(stored.up, layer.baked_up())
    assert len(kohya) == len(weights[SPATIAL])
    for module, layer in weights[SPATIAL].items():
        stored = kohya["lora_unet_" + module.replace(".", "_")]
        assert stored.scale == 1.0 and torch.equal(stored.down, layer.down) and torch.equal(stored.up, layer.baked_up())
    assert any(layer.up.abs().max() > 0 for layer in weights[SPATIAL].values())  # training moved the zero-init ups


def test_each_file_loads_into_diffusers_and_changes_the_output(trained_run, pipe):
    from diffusers.loaders import StableDiffusionLoraLoaderMixin

    from backends.core.loras import motion_lora_to_diffusers

    trainer, files = trained_run
    weights = trainer.adapter_weights()
    base = render(pipe)
    spatial_state, _ = StableDiffusionLoraLoaderMixin.lora_state_dict(str(files["spatial"]))
    cases = {
        "temporal (official, our conversion)": (motion_lora_to_diffusers(load_file(files["temporal"])),
                                                sum(".attn" in m for m in weights[TEMPORAL])),
        "temporal (diffusers file, directly)": (str(files["temporal_diffusers"]), len(weights[TEMPORAL])),
        "spatial (kohya)": (str(files["spatial"]), len(weights[SPATIAL])),
    }
    assert spatial_state
    for label, (source, layers) in cases.items():
        pipe.load_lora_weights(source, adapter_name="trained")
        assert lora_layer_count(pipe.unet) == layers, label
        changed = (render(pipe) - base).abs().max().item()
        pipe.unload_lora_weights()
        assert changed > 1e-4, label


def test_loaded_files_reproduce_the_trained_unet(trained_run, make_models):
    """diffusers file + kohya file at weight 1 in a fresh pipeline = the trained UNet at scale 1."""
    from diffusers import AnimateDiffPipeline

    trainer, files = trained_run
    models = make_models(True)  # the same base: the domain adapter merged
    pipe = AnimateDiffPipeline(vae=models.vae, text_encoder=models.text_encoder, tokenizer=models.tokenizer,
                               unet=models.unet, motion_adapter=None, scheduler=models.sample_scheduler)
    pipe.load_lora_weights(str(files["temporal_diffusers"]), adapter_name="temporal")
    pipe.load_lora_weights(str(files["spatial"]), adapter_name="spatial")
    pipe.set_adapters(["temporal", "spatial"], adapter_weights=[1.0, 1.0])
    trained = trainer.models.unet.eval()
    set_path(trained, 1.0, 1.0, train=None)
    clip = trainer.clips[0]
    text = clip.text.repeat_interleave(FRAMES, 0)
    with torch.no_grad():
        expected = trained(clip.latents, 400, encoder_hidden_states=text).sample
        got = pipe.unet(clip.latents, 400, encoder_hidden_states=text).sample
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()


def test_core_loras_loads_all_three_kinds_by_path(trained_run, pipe, runtime):
    _, files = trained_run
    base = render(pipe)
    for kind in ("temporal", "temporal_diffusers", "spatial"):
        names = apply_loras(pipe, (LoraChoice(str(files[kind]), 1.0),), runtime.loras_dir, runtime.sources)
        assert names == ["lora_0"]
        assert (render(pipe) - base).abs().max().item() > 1e-4, kind
    apply_loras(pipe, (), runtime.loras_dir, runtime.sources)
