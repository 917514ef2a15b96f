"""Both trainers on tiny synthetic clips: loss goes down, checkpoints reload, resume continues, Stop saves."""

import pytest
import torch

from backends.core.checkpoints import load_checkpoint
from backends.core.jobs import Artifact, CancelToken, JobCancelled, Log, Metric, Preview, Progress, Result
from backends.river.loading import list_models, load_model_folder
from backends.river.objective import draw_flow_matching, flow_matching_loss
from backends.river.train_autoencoder import AutoencoderTrainSettings, train_autoencoder
from backends.river.train_river import RiverTrainSettings, train_river

from .conftest import TINY_DDCONFIG, tiny_config


def collect(events):
    return list(events)


def metrics(events, name):
    return [e.value for e in events if isinstance(e, Metric) and e.name == name]


@pytest.fixture(scope="module")
def trained_autoencoder(tmp_path_factory):
    """A tiny autoencoder trained for a few steps (shared by the vector-field tests)."""
    from backends.river.bouncing_balls import BouncingBallsDataset

    folder = tmp_path_factory.mktemp("ae")
    events = collect(train_autoencoder(AutoencoderTrainSettings(
        str(folder), BouncingBallsDataset(8, 5, seed=11, size=16), ddconfig=dict(TINY_DDCONFIG), image_size=16,
        max_steps=40, batch_size=4, learning_rate=2e-3, log_every=5, preview_every=20, save_every=20,
        restart_dead_codes_every=10, device="cpu")))
    return folder / "autoencoder.pth", events


def test_river_autoencoder_training_lowers_loss_and_saves(trained_autoencoder):
    path, events = trained_autoencoder
    losses = metrics(events, "loss")
    assert sum(losses[-2:]) < sum(losses[:2])
    previews = [e for e in events if isinstance(e, Preview)]
    assert previews and previews[0].frames.dtype.name == "uint8" and previews[0].frames.shape[-1] == 3
    stored = load_checkpoint(path)
    assert stored["global_step"] == 39 and stored["config"]["ddconfig"] == TINY_DDCONFIG
    assert isinstance(events[-1], Result)


def river_settings(folder, data, autoencoder, steps, **overrides):
    options = dict(max_steps=steps, log_every=2, preview_every=4, save_every=4, preview_frames=2, device="cpu")
    return RiverTrainSettings(str(folder), tiny_config(30), data, str(autoencoder), **{**options, **overrides})


def fixed_batch_loss(model, clips):
    draws = draw_flow_matching(len(clips), clips.shape[1], model.latent_shape, torch.Generator().manual_seed(0))
    model.eval()
    with torch.no_grad():
        return flow_matching_loss(model, clips, draws)[0].item()


def test_river_training_lowers_loss_saves_and_resumes(tmp_path, tiny_clips, trained_autoencoder):
    autoencoder, _ = trained_autoencoder
    clips = torch.stack([tiny_clips[i] for i in range(len(tiny_clips))])

    first = collect(train_river(river_settings(tmp_path, tiny_clips, autoencoder, 2)))
    early_model, config = load_model_folder(tmp_path)
    assert config["training"]["num_observations"] == 5
    assert load_checkpoint(tmp_path / "model.pth")["global_step"] == 1

    # Resume to 30 steps: the step count continues and the loss on a fixed batch goes down.
    resumed = collect(train_river(river_settings(tmp_path, tiny_clips, autoencoder, 30)))
    assert any(isinstance(e, Log) and "resuming" in e.message and "step 2" in e.message for e in resumed)
    assert [e for e in resumed if isinstance(e, Progress)][0].total == 28
    stored = load_checkpoint(tmp_path / "model.pth")
    assert stored["global_step"] == 29
    assert stored["lr_scheduler"]["last_epoch"] == 30
    regressor_state = stored["optimizer"]["state"]
    assert regressor_state and all(int(s["step"]) == 30 for s in regressor_state.values())
    trained_model, _ = load_model_folder(tmp_path)
    assert fixed_batch_loss(trained_model, clips) < fixed_batch_loss(early_model, clips)

    assert any(isinstance(e, Artifact) and e.kind == "checkpoint" for e in first + resumed)
    previews = [e for e in resumed if isinstance(e, Preview)]
    assert previews and previews[0].frames.shape == (4, 16, 32, 3)  # 2 context + 2 predicted, truth | prediction
    assert isinstance(resumed[-1], Result)
    assert any(entry.location == str(tmp_path) for entry in list_models([tmp_path.parent]))


def test_river_normalized_latents_have_unit_scale(tmp_path, tiny_clips, trained_autoencoder):
    autoencoder, _ = trained_autoencoder
    events = collect(train_river(river_settings(tmp_path, tiny_clips, autoencoder, 1, normalize_latents=True)))
    assert any(isinstance(e, Log) and "rescaled" in e.message for e in events)
    model, _ = load_model_folder(tmp_path)
    clips = torch.stack([tiny_clips[i] for i in range(len(tiny_clips))])
    assert model.encode(clips).std().item() == pytest.approx(1.0, abs=1e-3)  # the 4 batches cover all clips


def test_river_stop_keeps_a_checkpoint(tmp_path, tiny_clips, trained_autoencoder):
    autoencoder, _ = trained_autoencoder
    token = CancelToken()
    seen = []
    with pytest.raises(JobCancelled):
        # "cpu:0" names one device: the trainer runs without accelerate's wrapper.
        for event in train_river(river_settings(tmp_path, tiny_clips, autoencoder, 50, device="cpu:0"), cancel=token):
            seen.append(event)
            if isinstance(event, Metric) and event.step >= 3:
                token.cancel()
    stored = load_checkpoint(tmp_path / "model.pth")
    assert 3 <= stored["global_step"] + 1 < 50
    assert isinstance(seen[-1], Artifact)  # the checkpoint written on Stop
    load_model_folder(tmp_path)


def test_river_training_settings_are_checked(tmp_path, tiny_clips):
    with pytest.raises(ValueError, match="autoencoder"):
        collect(train_river(RiverTrainSettings(str(tmp_path), tiny_config(), tiny_clips, resume=False)))
    with pytest.raises(ValueError, match="'training' block"):
        collect(train_river(RiverTrainSettings(str(tmp_path), {"model": {}}, tiny_clips, "ae.pth")))


def test_river_accelerate_is_used_for_default_devices_only():
    from accelerate import Accelerator

    from backends.river.train_common import SingleDevice, make_accelerator

    assert isinstance(make_accelerator("cpu"), Accelerator)
    single = make_accelerator("cpu:0")
    assert isinstance(single, SingleDevice) and single.device == torch.device("cpu:0")


def test_river_autoencoder_fine_tunes_with_a_grown_codebook(tmp_path, tiny_clips, trained_autoencoder):
    """init_from with a larger n_embed: the old codes keep their meaning, the copies are never chosen."""
    from backends.river.taming_vq import VQModel
    from backends.river.train_autoencoder import grow_codebook

    path, _ = trained_autoencoder
    state = load_checkpoint(path)["model"]
    grown_config = {**TINY_DDCONFIG, "n_embed": 2 * TINY_DDCONFIG["n_embed"]}
    original, grown = VQModel(dict(TINY_DDCONFIG)), VQModel(grown_config)
    original.load_state_dict(state)
    grown.load_state_dict(grow_codebook(state, grown_config["n_embed"]))
    frames = torch.stack([tiny_clips[i][0] for i in range(4)])
    with torch.no_grad():
        latents = original.encode(frames)
        assert torch.equal(original.quantize.indices(latents), grown.quantize.indices(latents))
    events = collect(train_autoencoder(AutoencoderTrainSettings(
        str(tmp_path), tiny_clips, ddconfig=grown_config, init_from=str(path), image_size=16, max_steps=2,
        batch_size=4, log_every=1, device="cpu")))
    assert isinstance(events[-1], Result)
    assert load_checkpoint(tmp_path / "autoencoder.pth")["config"]["ddconfig"]["n_embed"] == grown_config["n_embed"]


def test_river_training_can_start_from_a_model_with_a_new_autoencoder(tmp_path, tiny_clips, trained_autoencoder):
    """init_from + autoencoder: the earlier model's regressor, the given autoencoder."""
    autoencoder, _ = trained_autoencoder
    collect(train_river(river_settings(tmp_path / "first", tiny_clips, autoencoder, 2)))
    first, _ = load_model_folder(tmp_path / "first")
    collect(train_river(river_settings(tmp_path / "second", tiny_clips, autoencoder, 1, log_every=1, save_every=1,
                                       init_from=str(tmp_path / "first" / "model.pth"))))
    start = torch.load(tmp_path / "second" / "model.pth", weights_only=True)["model"]
    ae = load_checkpoint(autoencoder)["model"]
    assert all(torch.equal(start[f"ae.{k}"], v) for k, v in ae.items())
    # The first step's learning rate is 0 (warm-up), so the regressor is still exactly the earlier one.
    assert all(torch.equal(start[f"vector_field_regressor.{k}"], v)
               for k, v in first.vector_field_regressor.state_dict().items())
