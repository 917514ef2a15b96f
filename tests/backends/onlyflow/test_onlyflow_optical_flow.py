"""Flow extraction on synthetic motion, input checks, the colour wheel and frame preparation."""

import cv2
import numpy as np
import pytest
import torch

from backends.onlyflow.optical_flow import (
    DisFlowEstimator,
    RaftFlowEstimator,
    check_frames,
    flow_estimator,
    flow_to_color,
    raft_weights_file,
)


def shifted_texture(num_frames, shift_x, shift_y=0, height=96, width=128, seed=0):
    """A smooth random RGB texture translated by (shift_x, shift_y) pixels per frame."""
    rng = np.random.default_rng(seed)
    margin = num_frames * max(abs(shift_x), abs(shift_y)) + 8
    canvas = (rng.random((height + 2 * margin, width + 2 * margin, 3)) * 255).astype(np.uint8)
    canvas = cv2.GaussianBlur(canvas, (0, 0), 1.5)
    frames = [
        canvas[
            margin - i * shift_y : margin - i * shift_y + height, margin - i * shift_x : margin - i * shift_x + width
        ]
        for i in range(num_frames)
    ]
    return np.ascontiguousarray(np.stack(frames))


def interior_mean(flow, border=12):
    return flow[:, :, border:-border, border:-border].mean(axis=(0, 2, 3))


def test_dis_recovers_a_known_translation():
    frames = shifted_texture(5, shift_x=3)
    flow = DisFlowEstimator()(frames)
    assert flow.shape == (4, 2, 96, 128) and flow.dtype == np.float32
    mean_x, mean_y = interior_mean(flow)
    assert abs(mean_x - 3) < 0.5 and abs(mean_y) < 0.5


def test_dis_flow_points_down_for_downward_motion():
    mean_x, mean_y = interior_mean(DisFlowEstimator()(shifted_texture(3, shift_x=0, shift_y=2)))
    assert abs(mean_x) < 0.5 and abs(mean_y - 2) < 0.5


def test_without_cached_raft_weights_dis_is_used():
    estimator = flow_estimator()
    expected = "raft_large" if raft_weights_file() is not None else "opencv_dis"
    assert estimator.name == expected


class RecordingFlowNet(torch.nn.Module):
    """Stands in for RAFT's network (torchvision is optional): records what the estimator feeds
    it and answers a constant 2 px rightward flow, as RAFT returns its list of refinements."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, first, second, num_flow_updates):
        self.calls.append((first.clone(), second.clone(), num_flow_updates))
        flow = torch.zeros(first.shape[0], 2, *first.shape[2:])
        flow[:, 0] = 2.0
        return [flow * 0.5, flow]


def test_raft_estimator_feeds_pairs_in_minus_one_to_one_and_keeps_the_last_refinement():
    net = RecordingFlowNet()
    frames = shifted_texture(6, shift_x=3, height=64, width=64)
    done = []
    flow = RaftFlowEstimator(model=net, pairs_per_batch=2)(frames, done.append)
    assert done == [2, 4, 5]  # frame pairs done, batch by batch
    assert flow.shape == (5, 2, 64, 64) and flow.dtype == np.float32 and np.allclose(flow[:, 0], 2.0)
    assert [c[0].shape[0] for c in net.calls] == [2, 2, 1] and all(c[2] == 14 for c in net.calls)
    first, second, _ = net.calls[1]
    expected = torch.from_numpy(frames[2:4]).permute(0, 3, 1, 2).float() / 127.5 - 1
    assert torch.allclose(first, expected) and torch.allclose(second[0], expected[1])
    assert -1.0 <= first.min() and first.max() <= 1.0
    with pytest.raises(ValueError, match="divisible by 8"):
        RaftFlowEstimator(model=net)(shifted_texture(3, 1, height=60, width=64))


@pytest.mark.parametrize(
    "frames, message",
    [
        (np.zeros((1, 64, 64, 3), np.uint8), "at least 2 frames, got 1"),
        (np.zeros((0, 64, 64, 3), np.uint8), "at least 2 frames, got 0"),
        (np.zeros((3, 64, 64, 3), np.float32), "uint8"),
        (np.zeros((3, 64, 64), np.uint8), r"shape \(frames, height, width, 3\)"),
        (np.zeros((3, 4, 64, 3), np.uint8), "too small"),
        ([[0]], "uint8 numpy array"),
    ],
)
def test_bad_frames_are_refused_clearly(frames, message):
    with pytest.raises(ValueError, match=message):
        check_frames(frames)
    with pytest.raises(ValueError, match=message):
        DisFlowEstimator()(frames)


def test_colour_wheel_directions_and_speed():
    flow = np.zeros((1, 2, 1, 6), np.float32)
    flow[0, 0, 0, 0] = 4  # right, fastest
    flow[0, 0, 0, 1] = -4  # left
    flow[0, 1, 0, 2] = 4  # down
    flow[0, 1, 0, 3] = -4  # up
    flow[0, 0, 0, 4] = 1  # right, slower
    colours = flow_to_color(flow)[0, 0].astype(int)
    assert colours.shape == (6, 3)
    assert list(colours[5]) == [255, 255, 255]  # no motion is white
    assert list(colours[0]) == [255, 0, 0]  # rightward, at full speed, is saturated red
    red, green, blue = colours[1]
    assert red < 50 and green > 150 and blue > 200  # leftward: the opposite hue, cyan-blue
    assert colours[2][0] > 200 and colours[2][2] < 50  # downward: yellowish
    assert colours[3][2] > 200 and colours[3][1] < 50  # upward: blue-violet
    assert colours[4][0] == 255 and 150 < colours[4][1] < 255  # slower rightward: paler red
    # Motion beyond the given scale is darkened rather than clipped to the same colour.
    assert flow_to_color(flow, max_radius=1.0)[0, 0, 0, 0] < 255


def test_colour_video_keeps_frames_and_size():
    flow = np.random.default_rng(0).normal(size=(3, 2, 40, 72)).astype(np.float32)
    video = flow_to_color(flow)
    assert video.shape == (3, 40, 72, 3) and video.dtype == np.uint8
