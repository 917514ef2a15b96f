"""The embedded bouncing-balls model shipped in assets/: loads offline, predicts, beats repeat-last."""

import pytest
import torch

from backends.river.evaluate import fresh_clips, score_predictions
from backends.river.loading import EMBEDDED_DIR, list_models, load_model
from backends.river.sampling import stream_frames

CONTEXT, PREDICTED, CLIPS = 2, 8, 16


@pytest.fixture(scope="module")
def embedded():
    """The first entry of the model list, through the same loader the UI uses; its fast default sampler."""
    entry = list_models()[0]
    assert entry.kind == "embedded"
    return load_model(entry)


def test_river_embedded_assets_are_small_and_listed():
    size = sum(p.stat().st_size for p in EMBEDDED_DIR.rglob("*") if p.is_file())
    assert size <= 25 * 2**20
    assert sorted(EMBEDDED_DIR.glob("examples/*"))  # example context clips ship with it


def test_river_embedded_predicts_frames_of_the_right_shape(embedded):
    model, settings = embedded
    clip = fresh_clips(1, CONTEXT, seed=99)[0]
    frames = list(stream_frames(model, clip, PREDICTED, settings, num_samples=2, seed=0))
    assert len(frames) == PREDICTED
    assert all(f.shape == (2, 3, 64, 64) and f.dtype == torch.float32 for _, f in frames)


def test_river_embedded_beats_repeat_last_frame(embedded):
    model, settings = embedded
    scores = score_predictions(model, fresh_clips(CLIPS, CONTEXT + PREDICTED), CONTEXT, settings)
    assert scores.model_mean > scores.repeat_last_mean + 1.0, (
        f"model {scores.model_mean:.2f} dB vs repeat-last {scores.repeat_last_mean:.2f} dB over frames 1-{PREDICTED}"
    )


def test_river_evaluate_command_prints_psnr_and_colour_error(capsys):
    from backends.river.evaluate import main

    main(["--clips", "2", "--predict", "2", "--seed", "7"])
    printed = capsys.readouterr().out
    assert "2 clips (seed 7), frames 1-2 from 2, euler 8 steps" in printed and "repeat-last" in printed
    assert "colour error per disc: mean" in printed


def test_river_embedded_fine_tune_without_an_autoencoder_run_keeps_the_models_own(tmp_path):
    """train_embedded --init-from MODEL --stage river: the vector field trains, the autoencoder is MODEL's."""
    from safetensors.torch import load_file

    from backends.core.jobs import Artifact
    from backends.river.train_embedded import run_river_stage

    shipped = EMBEDDED_DIR / "model.safetensors"
    events = list(run_river_stage(tmp_path, 1, "cpu", init_from=str(shipped)))
    assert any(isinstance(e, Artifact) for e in events)
    start = torch.load(tmp_path / "river" / "model.pth", weights_only=True)["model"]
    own = load_file(str(shipped))
    ae_keys = [k for k in own if k.startswith("ae.")]
    assert ae_keys and all(torch.equal(start[k], own[k]) for k in ae_keys)
