"""Parity with outputs of the official RIVER code (fixture in REFERENCE_DIR/river, see NOTES.md).

Shapes, seeds, step counts and warm starts are read from the fixture files, so another fixture
set with the same file names can be swapped in.
"""

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from backends.core.checkpoints import load_state_dict_strict, select_prefix
from backends.river.loading import load_river_checkpoint
from backends.river.model import load_config
from backends.river.objective import FlowMatchingDraws, flow_matching_loss, polynomial_warmup_factor
from backends.river.ours_vqvae import VQVAE
from backends.river.samplers import CountingField, official_time_grid, rk4_step, sample_rk4
from backends.river.sampling import SamplerSettings, conditioned_field, generate_frames
from backends.river.vector_field import VectorFieldRegressor

pytestmark = pytest.mark.parity

NETWORK_ATOL = 1e-5  # regressor, RK4, training tensors, encoder latents (NOTES.md)
IMAGE_ATOL = 1e-4  # decoded images and sampler outputs


@pytest.fixture(scope="module")
def river_dir(reference_dir):
    return reference_dir / "river"


@pytest.fixture(scope="module")
def io(river_dir):
    return load_file(str(river_dir / "io.safetensors"))


@pytest.fixture(scope="module")
def io_metadata(river_dir):
    with safe_open(str(river_dir / "io.safetensors"), "pt") as file:
        return file.metadata()


@pytest.fixture(scope="module")
def config(river_dir):
    return load_config(river_dir / "tiny_config.yaml")


@pytest.fixture(scope="module")
def model(river_dir, config):
    """The tiny official checkpoint, loaded through our real loader."""
    return load_river_checkpoint(river_dir / "tiny_model.pth", config)


def assert_close(actual, expected, atol, what):
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} vs {tuple(expected.shape)}"
    error = (actual - expected).abs().max().item()
    assert error <= atol, f"{what}: max abs error {error:.3g} > {atol}"


def regressor_inputs(io, prefix):
    names = ["input_latents", "reference_latents", "conditioning_latents", "index_distances", "timestamps"]
    return [io[f"{prefix}.{name}"] for name in names]


def test_river_sigma_matches_fixture(model, io_metadata):
    assert model.sigma == pytest.approx(float(io_metadata["sigma"]))


def test_river_vector_field_ln_head(model, io):
    with torch.no_grad():
        output = model.vector_field_regressor(*regressor_inputs(io, "vfr"))
    assert_close(output, io["vfr.output"], NETWORK_ATOL, "vector field (ln head)")


def test_river_vector_field_bn_head(config, io):
    regressor = VectorFieldRegressor(**{**config["model"]["vector_field_regressor"], "out_norm": "bn"})
    load_state_dict_strict(regressor, select_prefix(io, "vfr_bn.state."), "bn regressor")
    with torch.no_grad():
        output = regressor.eval()(*regressor_inputs(io, "vfr"))
    assert_close(output, io["vfr_bn.output"], NETWORK_ATOL, "vector field (bn head)")


def test_river_autoencoder_encode(model, io):
    assert_close(model.encode(io["ae.encode.images"]), io["ae.encode.latents"], NETWORK_ATOL, "AE encode")


def test_river_autoencoder_decode(model, io):
    quantized, indices = model.ae.quantize(io["ae.decode.latents"])
    assert torch.equal(indices, io["ae.decode.indices"])
    assert_close(quantized, io["ae.decode.quantized"], NETWORK_ATOL, "quantized latents")
    assert_close(model.decode(io["ae.decode.latents"]), io["ae.decode.images"], IMAGE_ATOL, "AE decode")


def test_river_rk4_step_takes_four_evaluations(model, io):
    batch = io["rk4.y0"].shape[0]

    def field(t, y):  # the fixture fixes conditioning latent and distance for all four stages
        return model.vector_field_regressor(y, io["rk4.reference_latents"], io["rk4.conditioning_latents"],
                                            io["rk4.index_distances"], t.expand(batch))

    counted = CountingField(field)
    t0, t1 = io["rk4.t"]
    with torch.no_grad():
        y1 = rk4_step(counted, t0, t1, io["rk4.y0"])
    assert counted.calls == 4
    assert_close(y1, io["rk4.y1"], NETWORK_ATOL, "RK4 step")


@pytest.mark.parametrize("prefix", ["gen", "gen_warm"])
def test_river_generate_frames(model, io, io_metadata, prefix):
    steps = int(io_metadata[f"{prefix}.steps"])
    warm_start = float(io_metadata[f"{prefix}.warm_start"])
    observations, expected = io[f"{prefix}.observations"], io[f"{prefix}.frames"]
    num_frames = expected.shape[1] - observations.shape[1]
    assert_close(official_time_grid(steps, warm_start), io[f"{prefix}.time_grid"], 1e-6, "time grid")
    # The fixture holds the noise of one predicted frame; with two latents the conditioning is fixed.
    noise = io[f"{prefix}.noise"][None]
    frames = generate_frames(model, observations, num_frames, SamplerSettings("rk4", steps, warm_start), noise=noise)
    assert_close(frames, expected, IMAGE_ATOL, f"{prefix} frames")


@pytest.mark.parametrize("prefix", ["gen", "gen_warm"])
def test_river_generated_latent(model, io, io_metadata, prefix):
    """The ODE result before decoding, from the encoded context and the fixture's noise."""
    steps = int(io_metadata[f"{prefix}.steps"])
    warm_start = float(io_metadata[f"{prefix}.warm_start"])
    context = model.encode(io[f"{prefix}.observations"])
    if context.shape[1] == 1:
        context = context.repeat(1, 2, 1, 1, 1)
    counted = CountingField(conditioned_field(model, context, torch.Generator().manual_seed(0)))
    y0 = (1 - (1 - model.sigma) * warm_start) * io[f"{prefix}.noise"] + warm_start * context[:, -1]
    if f"{prefix}.y0" in io:
        assert_close(y0, io[f"{prefix}.y0"], NETWORK_ATOL, "warm-start state")
    grid = official_time_grid(steps, warm_start)
    with torch.no_grad():
        latent = sample_rk4(counted, y0, grid)
    assert counted.calls == 4 * (len(grid) - 1)
    assert_close(latent, io[f"{prefix}.generated_latent"], IMAGE_ATOL, f"{prefix} generated latent")


def test_river_training_objective(model, io):
    draws = FlowMatchingDraws(io["train.target_indices"], io["train.conditioning_indices"], io["train.timestamps"],
                              io["train.noise"])
    assert torch.equal(draws.reference_indices, io["train.reference_indices"])
    with torch.no_grad():
        loss, tensors = flow_matching_loss(model, io["train.observations"], draws)
    for name, value in tensors.items():
        atol = 0 if name == "index_distances" else NETWORK_ATOL
        assert_close(value.to(io[f"train.{name}"].dtype), io[f"train.{name}"], atol, f"train.{name}")
    assert loss.item() == pytest.approx(io["train.loss"].item(), rel=1e-5)


def test_river_lr_schedule(io):
    # The released configs: base LR 1e-4, 5000 warm-up steps, 300000 training steps.
    lrs = [1e-4 * polynomial_warmup_factor(int(step), 5000, 300000, 1e-4) for step in io["sched.steps"]]
    assert torch.allclose(torch.tensor(lrs, dtype=torch.float64), io["sched.lr"], rtol=1e-9, atol=1e-15)


def test_river_clevrer_vqvae(river_dir):
    data = load_file(str(river_dir / "ours_vqvae_io.safetensors"))
    state = {k: v.float() if v.is_floating_point() else v for k, v in select_prefix(data, "ours.state.").items()}
    codebook = state["vector_quantizer.embedding.weight"]
    vqvae = VQVAE(
        {"in_channels": data["ours.encode.images"].shape[1], "out_channels": codebook.shape[1]},
        {"num_embeddings": codebook.shape[0], "embedding_dimension": codebook.shape[1]},
        {"in_channels": codebook.shape[1], "out_channels": data["ours.decode.images"].shape[1]},
    )
    load_state_dict_strict(vqvae, state, "CLEVRER VQVAE")
    vqvae.eval()
    with torch.no_grad():
        latents = vqvae.encoder(data["ours.encode.images"])
        quantized, indices = vqvae.vector_quantizer(data["ours.decode.latents"])
        images = vqvae.decoder(quantized)
    assert_close(latents, data["ours.encode.latents"], NETWORK_ATOL, "VQVAE encode")
    assert torch.equal(indices, data["ours.decode.indices"])
    assert_close(quantized, data["ours.decode.quantized"], NETWORK_ATOL, "VQVAE quantized")
    assert_close(images, data["ours.decode.images"], IMAGE_ATOL, "VQVAE decode")
