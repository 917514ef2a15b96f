"""Video folders, the official HDF5 layout and the converter between them; the bouncing-balls generator."""

import cv2
import h5py
import numpy as np
import pytest
import torch

from backends.core.video_io import read_clip
from backends.river.bouncing_balls import (
    MIN_BRIGHTEST_CHANNEL,
    BouncingBallsDataset,
    advance_balls,
    bouncing_balls,
    random_balls,
    render_balls,
)
from backends.river.data import (
    HDF5Dataset,
    VideoFolderDataset,
    convert_videos_to_hdf5,
    open_clip_dataset,
)


def write_png_video(folder, frames):
    folder.mkdir(parents=True)
    for index, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{index:05d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))


@pytest.fixture
def video_folder(tmp_path):
    """Two image-sequence videos (lossless) and one MJPG .avi, all 16x16."""
    source = tmp_path / "videos"
    rng = np.random.default_rng(0)
    write_png_video(source / "a", bouncing_balls(7, rng, size=16))
    write_png_video(source / "b", bouncing_balls(9, rng, size=16))
    writer = cv2.VideoWriter(str(source / "c.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (16, 16))
    for frame in bouncing_balls(6, rng, size=16):
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    (source / "notes.txt").write_text("not a video")
    return source


def test_river_hdf5_converter_round_trips_frames(tmp_path, video_folder):
    shards = convert_videos_to_hdf5(video_folder, tmp_path / "h5", image_size=16)
    assert shards == [tmp_path / "h5" / "train" / "shard_0001.hdf5"]
    with h5py.File(shards[0], "r") as file:
        assert set(file.keys()) == {"len", "videos", "0", "1", "2"}
        assert len(file["videos"]) == 0
        for key, source in zip("012", ["a", "b", "c.avi"]):
            expected = read_clip(video_folder / source).frames
            assert int(file["len"][key][()]) == len(expected) == len(file[key])
            for index in range(len(expected)):
                stored = file[key][str(index)]
                assert stored.dtype == np.uint8 and stored.shape == (16, 16, 3) and stored.compression == "lzf"
                assert np.array_equal(stored[()], expected[index])


def test_river_hdf5_dataset_reads_clips(tmp_path, video_folder):
    convert_videos_to_hdf5(video_folder, tmp_path / "h5", image_size=16)
    dataset = open_clip_dataset(tmp_path / "h5", frames_per_sample=7, image_size=16)
    assert isinstance(dataset, HDF5Dataset)
    assert len(dataset) == 2  # the 6-frame video is too short for a 7-frame clip
    clip = dataset[0]
    assert clip.shape == (7, 3, 16, 16) and clip.dtype == torch.float32
    expected = torch.from_numpy(read_clip(video_folder / "a").frames).permute(0, 3, 1, 2).float() / 127.5 - 1
    assert torch.equal(clip, expected)  # video "a" has exactly 7 frames: the only clip
    strided = HDF5Dataset(tmp_path / "h5" / "train" / "shard_0001.hdf5", frames_per_sample=3, skip_frames=2)
    assert len(strided) == 2 and strided[1].shape == (3, 3, 16, 16)


def test_river_video_folder_dataset_resizes_and_crops(video_folder):
    dataset = VideoFolderDataset(video_folder, frames_per_sample=4, image_size=8)
    assert len(dataset) == 3
    clip = dataset[2]
    assert clip.shape == (4, 3, 8, 8) and -1 <= clip.min() and clip.max() <= 1


def test_river_converter_refuses_empty_and_unknown_split(tmp_path, video_folder):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no videos"):
        convert_videos_to_hdf5(tmp_path / "empty", tmp_path / "out", 16)
    with pytest.raises(ValueError, match="split"):
        convert_videos_to_hdf5(video_folder, tmp_path / "out", 16, split="holdout")


def test_river_bouncing_balls_are_seeded_and_well_formed():
    first = bouncing_balls(12, np.random.default_rng(3))
    assert first.shape == (12, 64, 64, 3) and first.dtype == np.uint8
    assert np.array_equal(first, bouncing_balls(12, np.random.default_rng(3)))
    assert not np.array_equal(first, bouncing_balls(12, np.random.default_rng(4)))
    assert first[:, 0, 0].max() <= 40 or first[:, -1, -1].max() <= 40  # black background (corners rarely covered)
    lit = (first.max(axis=-1) > 0).sum(axis=(1, 2))
    assert (lit >= np.pi * 3.5**2).all() and (lit <= 3 * np.pi * 8.5**2).all()  # 1-3 discs of radius 4-8
    assert not np.array_equal(first[0], first[-1])  # they move


def test_river_balls_keep_their_speed_and_bounce_off_walls():
    radius = np.array([5.0, 8.0])
    position = np.array([[10.0, 32.0], [50.0, 50.0]])
    velocity = np.array([[-2.5, 0.5], [1.5, 3.0]])
    flips = 0
    for _ in range(200):
        new_position, new_velocity = advance_balls(position, velocity, radius, 64)
        assert np.allclose(np.abs(new_velocity), np.abs(velocity))  # elastic: speed per axis is kept
        flips += int((np.sign(new_velocity) != np.sign(velocity)).sum())
        assert (new_position >= radius[:, None] - 1e-9).all() and (new_position <= 64 - radius[:, None] + 1e-9).all()
        position, velocity = new_position, new_velocity
    assert flips > 10


def test_river_rendered_disc_is_centred_on_the_ball():
    clip = bouncing_balls(6, np.random.default_rng(5), max_balls=1).astype(np.float64)
    weights = clip.sum(axis=-1)
    ys, xs = np.mgrid[0:64, 0:64] + 0.5
    centres = np.stack([(weights * xs).sum((1, 2)), (weights * ys).sum((1, 2))], 1) / weights.sum((1, 2))[:, None]
    speeds = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    assert (speeds <= 5.0 + 0.1).all() and speeds.max() >= 0.4  # 0.5-5 px per frame


def test_river_balls_span_the_whole_family():
    """Any colour bright in one channel, 0.5-5 px/frame in any direction, 1-3 discs of radius 4-8."""
    family = [random_balls(4, np.random.default_rng([8, i])) for i in range(300)]
    colours = np.concatenate([b.colour for b in family])
    assert colours.max(axis=1).min() >= MIN_BRIGHTEST_CHANNEL and len(np.unique(colours, axis=0)) > 0.95 * len(colours)
    assert colours.min(axis=1).max() >= 150 and colours.min() == 0  # greys and pure hues both occur
    far_from_walls = [random_balls(2, np.random.default_rng([8, i]), size=10_000) for i in range(300)]
    steps = np.concatenate([np.linalg.norm(b.positions[1] - b.positions[0], axis=1) for b in far_from_walls])
    assert steps.min() >= 0.5 - 1e-9 and steps.max() <= 5.0 + 1e-9 and steps.min() < 0.8 and steps.max() > 4.7
    directions = np.concatenate([np.sign(b.positions[1] - b.positions[0]) for b in far_from_walls])
    assert (directions > 0).mean() == pytest.approx(0.5, abs=0.1)
    radii = np.concatenate([b.radius for b in family])
    assert radii.min() >= 4 and radii.max() <= 8 and {len(b.radius) for b in family} == {1, 2, 3}


def test_river_rendered_balls_have_their_colour_at_their_centre():
    balls = random_balls(3, np.random.default_rng(21), max_balls=1)
    clip = render_balls(balls)
    for frame, ((x, y),) in zip(clip, balls.positions):
        assert np.abs(frame[int(y), int(x)].astype(float) - balls.colour[0]).max() <= 0.5


def test_river_bouncing_balls_dataset_items_are_reproducible():
    dataset = BouncingBallsDataset(4, 5, seed=9, size=32)
    assert dataset[2].shape == (5, 3, 32, 32)
    assert torch.equal(dataset[2], dataset[2]) and not torch.equal(dataset[1], dataset[2])
    assert dataset[0].min() >= -1 and dataset[0].max() <= 1


def test_river_converter_command_line(tmp_path, video_folder, capsys):
    from backends.river.data import main

    main([str(video_folder), str(tmp_path / "out"), "--size", "8", "--split", "val"])
    shard = tmp_path / "out" / "val" / "shard_0001.hdf5"
    assert str(shard) in capsys.readouterr().out
    with h5py.File(shard, "r") as file:
        assert file["0"]["0"].shape == (8, 8, 3)
