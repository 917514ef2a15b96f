"""Flow processors on a tiny UNetMotionModel: FreeNoise windows, guidance batches, misuse."""

import pytest
import torch
from diffusers.models.attention import FreeNoiseTransformerBlock

from backends.onlyflow.attention_processor import (
    FlowContext,
    flow_processor_specs,
    free_noise_windows,
    install_flow_processors,
)
from backends.animatediff.pipeline import configure_free_noise

LATENT = 8  # the tiny pipeline's latent size


class RecordingContext(FlowContext):
    """Records every flow window handed to a processor, in call order."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def sequences(self, level, start, end, like):
        flow = super().sequences(level, start, end, like)
        self.calls.append((start, end, flow))
        return flow


def frame_index_features(adapter, num_frames):
    """Features whose every value is its frame index, so a window's frames can be read back."""
    frames = torch.arange(num_frames, dtype=torch.float32).view(1, 1, -1, 1, 1)
    return [
        frames.expand(1, width, num_frames, LATENT // 2**level, LATENT // 2**level).clone()
        for level, width in enumerate(adapter.flow_encoder.channels)
    ]


def unet_inputs(num_frames, batch=1, seed=0):
    generator = torch.Generator().manual_seed(seed)
    sample = torch.randn(1, 4, num_frames, LATENT, LATENT, generator=generator).repeat(batch, 1, 1, 1, 1)
    text = torch.randn(1, 5, 32, generator=generator).repeat(batch * num_frames, 1, 1)
    return sample, torch.tensor([500]), text


def run_unet(unet, adapter, features, gamma, inputs, context=None):
    sample, timestep, text = inputs
    context = context or FlowContext()
    with torch.no_grad(), install_flow_processors(unet, adapter.processors, context), context.use(features, gamma):
        return unet(sample, timestep, encoder_hidden_states=text).sample


@pytest.fixture
def free_noise_pipe(tiny_pipeline):
    pipe, adapter = tiny_pipeline
    configure_free_noise(pipe, 24, context_length=16, context_stride=4, attention="sdpa")  # FreeNoise on
    yield pipe, adapter
    configure_free_noise(pipe, 16, context_length=16, context_stride=4, attention="sdpa")  # and off


def test_free_noise_windows_follow_diffusers_order():
    assert free_noise_windows(16, 16, 4) == [(0, 16)]
    assert free_noise_windows(24, 16, 4) == [(0, 16), (4, 20), (8, 24)]
    assert free_noise_windows(25, 16, 4) == [(0, 16), (4, 20), (8, 24), (9, 25)]
    assert free_noise_windows(24, 16, 12) == [(0, 16), (8, 24)]


def test_each_free_noise_window_gets_its_own_frames_flow(free_noise_pipe):
    pipe, adapter = free_noise_pipe
    num_frames = 21
    inputs = unet_inputs(num_frames)
    blocks = [m for m in pipe.unet.modules() if isinstance(m, FreeNoiseTransformerBlock)]
    assert len(blocks) == len(adapter.processor_paths)

    # What FreeNoise really slices: find each norm1 input inside its block's full input.
    sliced, block_inputs = [], {}

    def remember_input(block, args, kwargs):
        block_inputs[block.norm1] = kwargs["hidden_states"]

    def locate_window(norm, args):
        full, chunk = block_inputs[norm], args[0]
        length = chunk.shape[1]
        starts = [s for s in range(full.shape[1] - length + 1) if torch.equal(full[:, s : s + length], chunk)]
        assert len(starts) == 1
        sliced.append((starts[0], starts[0] + length))

    hooks = [b.register_forward_pre_hook(remember_input, with_kwargs=True) for b in blocks]
    hooks += [b.norm1.register_forward_pre_hook(locate_window) for b in blocks]
    context = RecordingContext()
    try:
        run_unet(pipe.unet, adapter, frame_index_features(adapter, num_frames), 1.0, inputs, context)
    finally:
        for hook in hooks:
            hook.remove()

    windows_per_block = free_noise_windows(num_frames, 16, 4)
    assert len(windows_per_block) > 1
    assert len(sliced) == len(blocks) * len(windows_per_block)
    assert [(start, end) for start, end, _ in context.calls] == sliced
    for start, end, flow in context.calls:
        expected = torch.arange(start, end, dtype=flow.dtype).view(1, -1, 1).expand_as(flow)
        assert torch.equal(flow, expected)


def test_free_noise_gamma_changes_the_prediction_and_zero_is_plain(free_noise_pipe):
    pipe, adapter = free_noise_pipe
    num_frames = 20
    inputs = unet_inputs(num_frames)
    features = [torch.randn_like(f) for f in frame_index_features(adapter, num_frames)]
    with torch.no_grad():
        plain = pipe.unet(inputs[0], inputs[1], encoder_hidden_states=inputs[2]).sample
    assert torch.equal(run_unet(pipe.unet, adapter, features, 0.0, inputs), plain)
    flowing = run_unet(pipe.unet, adapter, features, 1.0, inputs)
    assert flowing.shape == plain.shape
    assert (flowing - plain).abs().max() > 1e-3


def test_guidance_batch_gets_the_same_flow_in_both_halves(tiny_pipeline):
    pipe, adapter = tiny_pipeline
    features = [torch.randn_like(f) for f in frame_index_features(adapter, 6)]
    single = run_unet(pipe.unet, adapter, features, 1.0, unet_inputs(6, batch=1))
    doubled = run_unet(pipe.unet, adapter, features, 1.0, unet_inputs(6, batch=2))
    torch.testing.assert_close(doubled[:1], single, atol=1e-5, rtol=0)
    torch.testing.assert_close(doubled[1:], single, atol=1e-5, rtol=0)


def test_specs_map_up_blocks_to_mirrored_levels(tiny_pipeline):
    pipe, _ = tiny_pipeline
    specs = {spec.path.split(".motion_modules")[0]: spec.level for spec in flow_processor_specs(pipe.unet)}
    assert specs == {
        "down_blocks.0": 0,
        "down_blocks.1": 1,
        "down_blocks.2": 2,
        "down_blocks.3": 3,
        "up_blocks.0": 3,
        "up_blocks.1": 2,
        "up_blocks.2": 1,
        "up_blocks.3": 0,
    }


def test_misuse_is_reported(tiny_pipeline):
    pipe, adapter = tiny_pipeline
    inputs = unet_inputs(6)
    features = frame_index_features(adapter, 6)
    context = FlowContext()
    with install_flow_processors(pipe.unet, adapter.processors, context):
        with pytest.raises(RuntimeError, match="without flow"):
            pipe.unet(inputs[0], inputs[1], encoder_hidden_states=inputs[2])
        with pytest.raises(RuntimeError, match="already installed"):
            with install_flow_processors(pipe.unet, adapter.processors, FlowContext()):
                pass
        with context.use(features, 1.0):
            with pytest.raises(RuntimeError, match="already in use"):
                with context.use(features, 1.0):
                    pass
    with pytest.raises(RuntimeError, match="received 7 frames but the flow window is frames 0..6"):
        run_unet(pipe.unet, adapter, features, 1.0, unet_inputs(7))
    # every failure above left the UNet clean
    assert not any(".processor." in key for key in pipe.unet.state_dict())
