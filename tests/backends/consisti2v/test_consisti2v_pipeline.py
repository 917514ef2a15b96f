"""The pipeline end to end on the tiny demo weights (loaded through the real loader)."""

import numpy as np
import pytest
import torch

from backends.consisti2v.pipeline import SamplingOptions, load_consisti2v
from backends.consisti2v.sampling import Guidance, chunk_frames
from backends.core.jobs import JobCancelled


@pytest.fixture(scope="module")
def pipe(session_runtime):
    return load_consisti2v(session_runtime)


@pytest.fixture
def picture():
    return np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)


def test_two_chunks_give_31_frames_starting_from_the_image_latent(pipe, picture):
    chunks = []
    latents = pipe(picture, "a boat", options=SamplingOptions(steps=2), chunks=2,
                   generator=torch.Generator().manual_seed(7), on_chunk=lambda c, l, f: chunks.append((l, f)))
    per_chunk = pipe.frames_per_chunk
    assert latents.shape[2] == chunk_frames(per_chunk, 2) == 2 * per_chunk - 1
    # frame 0 is exactly the VAE posterior sample of the picture (drawn first from the same seed)
    expected, _ = pipe.encode_first_frame(picture, torch.Generator().manual_seed(7))
    assert torch.equal(latents[:, :, 0], expected)
    # each chunk was decoded as it finished; the second one without the repeated conditioning frame
    assert [frames.shape[0] for _, frames in chunks] == [per_chunk, per_chunk - 1]
    assert torch.equal(torch.cat([l for l, _ in chunks], dim=2), latents)
    assert chunks[0][1].shape[1:] == picture.shape and chunks[0][1].dtype == np.uint8


def test_same_seed_same_video_and_guidance_changes_it(pipe, picture):
    run = lambda guidance: pipe(picture, "a boat", options=SamplingOptions(steps=2, guidance=guidance),  # noqa: E731
                                generator=torch.Generator().manual_seed(3))
    text_only = run(Guidance(7.5, 1.0))
    assert torch.equal(text_only, run(Guidance(7.5, 1.0)))
    assert not torch.allclose(text_only, run(Guidance(7.5, 2.0)))


def test_camera_motion_conditions_on_its_first_frame(pipe, picture):
    latents = pipe(picture, "a boat", options=SamplingOptions(steps=1, camera_motion="zoom_in"),
                   generator=torch.Generator().manual_seed(5))
    _, video = pipe.encode_first_frame(picture, torch.Generator().manual_seed(5), "zoom_in")
    assert torch.equal(latents[:, :, 0], video[:, :, 0])


def test_raising_in_the_step_callback_stops_at_that_step(pipe, picture):
    seen = []

    def on_step(chunk, step, total, latents):
        seen.append(step)
        if step == 2:
            raise JobCancelled("stop")

    with pytest.raises(JobCancelled):
        pipe(picture, "a boat", options=SamplingOptions(steps=4), on_step=on_step)
    assert seen == [1, 2]
