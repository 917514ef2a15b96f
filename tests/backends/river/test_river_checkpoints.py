"""Checkpoints shaped like the four releases (from the fixture manifests) load strictly into
full-size models built on the meta device; malformed and unsafe files fail with clear messages."""

import json
import sys
import types

import pytest
import torch

from backends.core.checkpoints import CheckpointError, UnsafeCheckpointError
from backends.river.loading import RELEASES, build_model, list_models, load_model, load_release, read_autoencoder_state

# release name -> manifest file name
MANIFESTS = {"bair_64": "bair_64", "bair_256": "bair_256", "kth_64": "kth", "clevrer_128": "clevrer"}


def manifest(reference_dir, name):
    return json.loads((reference_dir / "river" / f"manifest_{MANIFESTS[name]}.json").read_text())


def light_random_tensor(shape, dtype_name):
    """A random tensor of ``shape`` backed by one row of storage (expanded), so files stay tiny."""
    dtype = getattr(torch, dtype_name)
    if not shape:
        return torch.tensor(7, dtype=dtype)
    if dtype.is_floating_point:
        row = torch.randn(shape[-1], dtype=dtype)
    else:
        row = torch.randint(0, 100, (shape[-1],), dtype=dtype)
    return row.expand(*shape)


def tensors_from(listing):
    return {key: light_random_tensor(shape, dtype) for key, (shape, dtype) in listing.items()}


def training_container(model_state, global_step=41):
    """The official `model.pth`: model plus AdamW / LambdaLR states the loader must ignore."""
    return {
        "optimizer": {"state": {0: {"step": torch.tensor(1.0)}},
                      "param_groups": [{"lr": 1e-4, "decoupled_weight_decay": True, "params": [0]}]},
        "lr_scheduler": {"base_lrs": [1e-4], "last_epoch": 42, "lr_lambdas": [{}], "_is_initial": False},
        "model": model_state,
        "global_step": global_step,
    }


class _LightningModules:
    """Temporarily registers fake `pytorch_lightning` / `omegaconf` modules so pickles name them."""

    NAMES = ["pytorch_lightning", "pytorch_lightning.callbacks", "pytorch_lightning.callbacks.model_checkpoint",
             "omegaconf", "omegaconf.dictconfig"]

    def __enter__(self):
        assert not any(n in sys.modules for n in self.NAMES), "needs Lightning/OmegaConf not to be installed"
        modules = {n: types.ModuleType(n) for n in self.NAMES}
        for module_name, class_name in [("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint"),
                                        ("omegaconf.dictconfig", "DictConfig")]:
            cls = type(class_name, (), {"__module__": module_name})
            setattr(modules[module_name], class_name, cls)
            setattr(self, class_name, cls)
        sys.modules.update(modules)
        return self

    def __exit__(self, *exc):
        for n in self.NAMES:
            del sys.modules[n]


def write_lightning_ckpt(path, state_dict, extra=None):
    with _LightningModules() as lightning:
        callback = lightning.ModelCheckpoint()
        callback.best_model_score = torch.tensor(0.1)
        hyper = lightning.DictConfig()
        hyper.content = {"embed_dim": 4}
        torch.save({"epoch": 3, "global_step": 1000, "pytorch-lightning_version": "1.4.2", "state_dict": state_dict,
                    "callbacks": {"ModelCheckpoint": callback}, "optimizer_states": [], "lr_schedulers": [],
                    "hyper_parameters": hyper, **(extra or {})}, path)


def write_release_folder(folder, reference_dir, name, with_module_prefix):
    """model.pth and the autoencoder file of release ``name``, random weights, official containers."""
    listing = manifest(reference_dir, name)
    model_state = tensors_from(listing["model.pth"]["model"])  # keys carry "module."
    if not with_module_prefix:
        model_state = {k.removeprefix("module."): v for k, v in model_state.items()}
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(training_container(model_state), folder / RELEASES[name].model_file)
    vqvae = listing["vqvae"]
    if vqvae["file"] == "vqvae.ckpt":
        state = tensors_from(vqvae["state_dict"])
        state["loss.discriminator.main.0.weight"] = torch.zeros(1)  # taming's GAN loss, to be dropped
        write_lightning_ckpt(folder / "vqvae.ckpt", state)
    else:
        torch.save({"model": tensors_from(vqvae["model"])}, folder / vqvae["file"])
    return model_state


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_river_release_constants_match_manifest(reference_dir, name):
    listing = manifest(reference_dir, name)
    release = RELEASES[name]
    assert release.model_config["vector_field_regressor"] == listing["vector_field_regressor"]
    assert release.model_config["autoencoder"] == listing["autoencoder"]
    assert release.model_config["sigma"] == pytest.approx(listing["sigma"])
    assert release.autoencoder_file == listing["vqvae"]["file"]
    assert release.image_size == listing["image_size"][0]
    assert release.repo_id == f"cvg-unibe/river_{name}"


@pytest.mark.parametrize("with_module_prefix", [True, False], ids=["module-prefix", "no-prefix"])
@pytest.mark.parametrize("name", sorted(RELEASES))
def test_river_release_checkpoint_loads_strictly(tmp_path, reference_dir, name, with_module_prefix):
    saved = write_release_folder(tmp_path / name, reference_dir, name, with_module_prefix)
    model = load_release(name, tmp_path / name, device="cpu")
    state = model.state_dict()
    assert len(state) == len(saved)
    assert not any(p.is_meta for p in model.parameters())
    probe = "vector_field_regressor.project_out.4.weight"
    assert torch.equal(state[probe], saved[("module." if with_module_prefix else "") + probe])
    assert not model.training


def test_river_release_entry_loads_from_its_downloaded_folder(tmp_path, reference_dir):
    write_release_folder(tmp_path, reference_dir, "kth_64", with_module_prefix=True)
    entry = next(e for e in list_models() if e.name == "river_kth_64")
    assert entry.kind == "release" and entry.location == "cvg-unibe/river_kth_64"
    model, sampler = load_model(entry, tmp_path)
    assert sampler.nfe_per_frame == 396 and model.latent_shape == (4, 8, 8)
    with pytest.raises(ValueError, match="download cvg-unibe/river_kth_64 first"):
        load_model(entry)


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_river_official_autoencoder_file_loads_strictly(tmp_path, reference_dir, name):
    write_release_folder(tmp_path, reference_dir, name, with_module_prefix=True)
    model = build_model(RELEASES[name].model_config)
    state = read_autoencoder_state(tmp_path / RELEASES[name].autoencoder_file, model.ae)
    assert not any(k.startswith("loss.") for k in state)
    model.ae.load_state_dict(state, strict=True, assign=True)


def test_river_missing_and_unexpected_keys_are_named(tmp_path, reference_dir):
    saved = write_release_folder(tmp_path, reference_dir, "bair_64", with_module_prefix=True)
    broken = dict(saved)
    del broken["module.vector_field_regressor.time_projection.0.bias"]
    broken["module.vector_field_regressor.extra_head.weight"] = torch.zeros(1)
    torch.save(training_container(broken), tmp_path / "model.pth")
    with pytest.raises(CheckpointError, match=r"missing keys: time_projection\.0\.bias.*unexpected keys: extra_head"):
        load_release("bair_64", tmp_path, device="cpu")


def test_river_shape_mismatch_is_named(tmp_path, reference_dir):
    saved = write_release_folder(tmp_path, reference_dir, "bair_64", with_module_prefix=False)
    # A BAIR-64 checkpoint offered as KTH works (same shapes); as BAIR-256 it must not.
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_release("bair_256", tmp_path, device="cpu")
    assert len(load_release("kth_64", tmp_path, device="cpu").state_dict()) == len(saved)


def test_river_lightning_pickle_with_unknown_global_is_refused(tmp_path, reference_dir):
    class Payload:
        def __reduce__(self):
            return (exec, ("import builtins; builtins.river_payload_ran = True",))

    state = tensors_from(manifest(reference_dir, "bair_64")["vqvae"]["state_dict"])
    write_lightning_ckpt(tmp_path / "vqvae.ckpt", state, extra={"callbacks": {"Payload": Payload()}})
    model = build_model(RELEASES["bair_64"].model_config)
    with pytest.raises(UnsafeCheckpointError, match=r"(__builtin__|builtins)\.exec.*was not executed"):
        read_autoencoder_state(tmp_path / "vqvae.ckpt", model.ae)
    import builtins

    assert not hasattr(builtins, "river_payload_ran")
