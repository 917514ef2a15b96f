"""Building models from the official YAML layout, and what the config loader refuses."""

import pytest
import torch

from backends.river.model import Model, build_autoencoder, load_config
from backends.river.ours_vqvae import OursAutoencoder
from backends.river.taming_vq import TAMING_CONFIGS, VQModel

from .conftest import tiny_config


def test_river_model_from_config_and_frozen_autoencoder():
    model = Model(tiny_config()["model"])
    assert model.latent_shape == (4, 8, 8) and model.image_size == (16, 16)
    assert not any(p.requires_grad for p in model.ae.parameters())
    model.train()
    assert model.vector_field_regressor.training and not model.ae.training
    latents = model.encode(torch.rand(2, 3, 3, 16, 16) * 2 - 1)  # [b, T, ...] keeps its leading dims
    assert latents.shape == (2, 3, 4, 8, 8)
    assert model.decode(latents).shape == (2, 3, 3, 16, 16)


def test_river_autoencoder_families():
    with torch.device("meta"):
        f8 = build_autoencoder({"type": "ldm-vq", "config": "f8_small"})
        ours = build_autoencoder({"type": "ours", "encoder": {"in_channels": 3, "out_channels": 4},
                                  "vector_quantizer": {"num_embeddings": 8192, "embedding_dimension": 4},
                                  "decoder": {"in_channels": 4, "out_channels": 3}})
    assert isinstance(f8, VQModel) and f8.downsample_factor == 8
    assert f8.ddconfig == TAMING_CONFIGS["f8_small"]
    assert isinstance(ours, OursAutoencoder) and ours.downsample_factor == 8
    with pytest.raises(ValueError, match="unknown.*ddconfig"):
        build_autoencoder({"type": "ldm-vq", "config": "f4_huge"})  # the official code would silently use f16
    with pytest.raises(ValueError, match="'ldm-vq' or 'ours'"):
        build_autoencoder({"type": "vae"})


def test_river_regressor_checks_latent_size_and_head():
    model = Model(tiny_config()["model"]).eval()
    with pytest.raises(ValueError, match="state_res"):
        model.vector_field_regressor(*[torch.zeros(1, 4, 4, 4)] * 3, torch.tensor([1]), torch.tensor([0.5]))
    with pytest.raises(ValueError, match="out_norm"):
        Model({**tiny_config()["model"], "vector_field_regressor": {**tiny_config()["model"]["vector_field_regressor"],
                                                                    "out_norm": "gn"}})


def test_river_config_loader(tmp_path):
    (tmp_path / "bad.yaml").write_text("training: {}\n")
    with pytest.raises(ValueError, match="'model' block"):
        load_config(tmp_path / "bad.yaml")


@pytest.mark.parametrize("family", ["ldm-vq", "ours"])
def test_river_rescaled_latents_decode_to_the_same_images(family):
    torch.manual_seed(0)
    if family == "ldm-vq":
        autoencoder = Model(tiny_config()["model"]).ae
        images = torch.rand(2, 3, 16, 16) * 2 - 1
    else:
        autoencoder = build_autoencoder({"type": "ours", "encoder": {"in_channels": 3, "out_channels": 4},
                                         "vector_quantizer": {"num_embeddings": 16, "embedding_dimension": 4},
                                         "decoder": {"in_channels": 4, "out_channels": 3}})
        images = torch.rand(1, 3, 32, 32) * 2 - 1
    autoencoder.eval()
    with torch.no_grad():
        torch.nn.init.normal_(autoencoder.quantize.embedding.weight)  # codes at the latents' scale
        latents, decoded = autoencoder.encode(images), autoencoder.decode(autoencoder.encode(images))
        autoencoder.rescale_latents(3.0)
        assert torch.allclose(autoencoder.encode(images), 3.0 * latents, atol=1e-5)
        assert torch.allclose(autoencoder.decode(3.0 * latents), decoded, atol=1e-5)


def test_river_regressor_dropout_is_official_unless_the_config_sets_it():
    block = tiny_config()["model"]["vector_field_regressor"]
    official = Model({**tiny_config()["model"], "vector_field_regressor": block}).vector_field_regressor
    ours = Model({**tiny_config()["model"], "vector_field_regressor": {**block, "dropout": 0.0}}).vector_field_regressor
    assert {m.p for m in official.modules() if isinstance(m, torch.nn.Dropout)} == {0.05}
    assert {m.p for m in ours.modules() if isinstance(m, torch.nn.Dropout)} == {0.0}
    assert official.state_dict().keys() == ours.state_dict().keys()  # the key layout does not change
    inputs = [torch.randn(2, 4, 8, 8) for _ in range(3)] + [torch.tensor([1, 2]), torch.tensor([0.3, 0.7])]
    ours.train()
    assert torch.equal(ours(*inputs), ours(*inputs))  # no dropout: training passes are deterministic
