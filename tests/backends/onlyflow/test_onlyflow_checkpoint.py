"""Loading the OnlyFlow container: full size on meta, strictness, training keys, fp16, safetensors twin."""

import json

import pytest
import torch
from diffusers import UNetMotionModel

from backends.core.checkpoints import CheckpointError
from backends.onlyflow.attention_processor import FlowProcessorSpec, flow_processor_specs
from backends.onlyflow.checkpoint import (
    ENCODER_KEY,
    FLOW_ENCODER_CONFIG,
    PROCESSORS_KEY,
    OnlyFlowAdapter,
    checkpoint_file_to_read,
    convert_to_safetensors,
    load_onlyflow_adapter,
    read_container,
)


@pytest.fixture(scope="module")
def manifest(onlyflow_reference):
    return json.loads((onlyflow_reference / "manifest.json").read_text())


@pytest.fixture(scope="module")
def manifest_specs(manifest):
    return [
        FlowProcessorSpec(p["path"], p["hidden_size"], p["flow_level"])
        for p in manifest["unet_side"]["flow_processors"]
    ]


@pytest.fixture(scope="module")
def full_size_checkpoint(manifest, tmp_path_factory):
    """Random tensors of every key and shape the manifest lists, in the official container."""
    generator = torch.Generator().manual_seed(0)

    def random_state_dict(entries):
        return {
            key: torch.empty(shape, dtype=getattr(torch, dtype)).normal_(generator=generator)
            for key, (shape, dtype) in entries.items()
        }

    container = {key: random_state_dict(manifest[key]) for key in (ENCODER_KEY, PROCESSORS_KEY)}
    path = tmp_path_factory.mktemp("full") / "weights_fp16.ckpt"
    torch.save(container, path)
    yield path
    path.unlink()  # 435 MB: do not leave it in pytest's kept temp folders


def meta_container(manifest):
    return {
        key: {
            name: torch.empty(shape, dtype=torch.float16, device="meta") for name, (shape, _) in manifest[key].items()
        }
        for key in (ENCODER_KEY, PROCESSORS_KEY)
    }


def test_full_size_unet_on_meta_has_the_manifest_processors(manifest, manifest_specs):
    with torch.device("meta"):
        unet = UNetMotionModel(cross_attention_dim=768, use_motion_mid_block=False, motion_max_seq_length=32)
    assert flow_processor_specs(unet) == manifest_specs
    assert len(unet.attn_processors) == manifest["unet_side"]["num_attention_processors_total"]


def test_manifest_checkpoint_loads_strictly_on_meta(full_size_checkpoint, manifest, manifest_specs):
    adapter = load_onlyflow_adapter(
        full_size_checkpoint, manifest_specs, manifest["flow_encoder_config"], device="meta"
    )
    container = adapter.container()
    for key in (ENCODER_KEY, PROCESSORS_KEY):
        assert {k: list(v.shape) for k, v in container[key].items()} == {k: s for k, (s, _) in manifest[key].items()}
    assert sum(t.numel() for t in container[ENCODER_KEY].values()) == manifest["flow_encoder_numel"]
    assert all(t.is_meta and t.dtype == torch.float16 for t in adapter.state_dict().values())


def test_released_encoder_config_constant_matches_manifest(manifest):
    assert FLOW_ENCODER_CONFIG == manifest["flow_encoder_config"]


@pytest.mark.parametrize("container_key", [ENCODER_KEY, PROCESSORS_KEY])
def test_one_missing_or_extra_key_is_named(manifest, manifest_specs, container_key):
    with torch.device("meta"):
        adapter = OnlyFlowAdapter(manifest_specs, manifest["flow_encoder_config"])
    container = meta_container(manifest)
    dropped = sorted(container[container_key])[7]
    del container[container_key][dropped]
    with pytest.raises(CheckpointError, match=f"missing keys: {dropped}"):
        adapter.load_container(container)

    container = meta_container(manifest)
    container[container_key]["down_blocks.9.extra.weight"] = torch.empty(3, device="meta")
    with pytest.raises(CheckpointError, match=r"unexpected keys: down_blocks\.9\.extra\.weight"):
        adapter.load_container(container)


def test_wrong_shape_is_named(manifest, manifest_specs):
    with torch.device("meta"):
        adapter = OnlyFlowAdapter(manifest_specs, manifest["flow_encoder_config"])
    container = meta_container(manifest)
    key = "encoder_conv_in.weight"
    container[ENCODER_KEY][key] = torch.empty(1, 2, 3, 3, device="meta")
    with pytest.raises(CheckpointError, match=f"shape mismatch: {key}"):
        adapter.load_container(container)


def test_training_checkpoint_keys_are_ignored_and_unknown_ones_refused(onlyflow_reference, reference_unet, tmp_path):
    config = json.loads((onlyflow_reference / "tiny_flow_encoder_config.json").read_text())
    container = torch.load(onlyflow_reference / "tiny_onlyflow.ckpt", weights_only=True)
    specs = flow_processor_specs(reference_unet)

    training = dict(
        container, epoch=3, global_step=1200, optimizer_state_dict={"state": {}, "param_groups": [{"lr": 1e-5}]}
    )
    torch.save(training, tmp_path / "checkpoint-step-1200.ckpt")
    adapter = load_onlyflow_adapter(tmp_path / "checkpoint-step-1200.ckpt", specs, config)
    assert torch.equal(adapter.flow_encoder.encoder_conv_in.weight, container[ENCODER_KEY]["encoder_conv_in.weight"])

    torch.save(dict(container, ema_state_dict={}), tmp_path / "odd.ckpt")
    with pytest.raises(CheckpointError, match="ema_state_dict"):
        load_onlyflow_adapter(tmp_path / "odd.ckpt", specs, config)

    torch.save({ENCODER_KEY: container[ENCODER_KEY]}, tmp_path / "half.ckpt")
    with pytest.raises(CheckpointError, match=PROCESSORS_KEY):
        load_onlyflow_adapter(tmp_path / "half.ckpt", specs, config)


def test_fp16_file_and_safetensors_twin(onlyflow_reference, reference_unet, tmp_path):
    config = json.loads((onlyflow_reference / "tiny_flow_encoder_config.json").read_text())
    container = torch.load(onlyflow_reference / "tiny_onlyflow.ckpt", weights_only=True)
    specs = flow_processor_specs(reference_unet)
    half = {key: {k: v.half() for k, v in state.items()} for key, state in container.items()}
    ckpt = tmp_path / "weights_fp16.ckpt"
    torch.save(half, ckpt)

    from_pickle = load_onlyflow_adapter(ckpt, specs, config)
    assert all(t.dtype == torch.float16 for t in from_pickle.state_dict().values())
    assert (
        load_onlyflow_adapter(ckpt, specs, config, dtype=torch.float32).flow_encoder.encoder_conv_in.weight.dtype
        == torch.float32
    )

    twin = convert_to_safetensors(ckpt)
    assert twin == tmp_path / "weights_fp16.safetensors"
    assert checkpoint_file_to_read(ckpt) == twin
    twin_container = read_container(twin)
    for key in (ENCODER_KEY, PROCESSORS_KEY):
        assert twin_container[key].keys() == half[key].keys()
        assert all(torch.equal(twin_container[key][k], half[key][k]) for k in half[key])
    from_twin = load_onlyflow_adapter(ckpt, specs, config)  # reads the twin now
    for (name, ours), theirs in zip(from_twin.state_dict().items(), from_pickle.state_dict().values()):
        assert torch.equal(ours, theirs), name


def test_absent_file_is_a_clear_error(manifest_specs, tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_onlyflow_adapter(tmp_path / "absent.ckpt", manifest_specs, device="meta")


def test_garbage_file_is_a_clear_error(manifest_specs, tmp_path):
    bogus = tmp_path / "weights_fp16.ckpt"
    bogus.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="weights_fp16.ckpt"):
        load_onlyflow_adapter(bogus, manifest_specs, device="meta")


def test_processor_width_must_match_its_flow_level(manifest_specs):
    wrong = [FlowProcessorSpec(manifest_specs[0].path, 640, 0)]
    with pytest.raises(ValueError, match="width 640 differs from flow level 0's 320"):
        with torch.device("meta"):
            OnlyFlowAdapter(wrong)
