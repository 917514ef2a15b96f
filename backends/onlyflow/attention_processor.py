"""OnlyFlow's flow injection into AnimateDiff's motion modules.

Every motion module's temporal self-attention (``attn1`` of its transformer block) gets a
``FlowAdaptorAttnProcessor``. With h what attn1 receives (norm1 of the block input plus the
frame position table, shape (B*h*w, F, C)), c the flow feature of the same layout and gamma
the flow scale, the processor attends over

    z = h + gamma * qkv_merge(h + c)

as query, key and value, through the module's own to_q / to_k / to_v. gamma = 0 skips the merge,
so the UNet is exactly plain AnimateDiff. ``down_blocks.i`` reads flow level i and
``up_blocks.i`` level L-1-i: both run at latent / 2**level there.

diffusers calls motion modules without attention kwargs, so the features reach the processors
through a ``FlowContext`` shared by the processors of one UNet and set around the generation
(``with context.use(features, gamma): ...``).

FreeNoise (diffusers' ``FreeNoiseTransformerBlock``) calls attn1 once per frame window. A
forward pre-hook on each such block tells its processor the windows that forward will run, in
order, so each call uses the flow of its own frames.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import torch
from diffusers.models.attention import FreeNoiseTransformerBlock
from diffusers.models.attention_processor import Attention, AttnProcessor2_0
from torch import nn

PROCESSOR_SUFFIX = ".attn1.processor"


@dataclass(frozen=True)
class FlowProcessorSpec:
    """One processor: its path in the UNet (the checkpoint's key prefix), width and flow level."""

    path: str
    hidden_size: int
    level: int


def block_path(processor_path: str) -> str:
    """The motion-module transformer block whose attn1 a processor path belongs to."""
    return processor_path[: -len(PROCESSOR_SUFFIX)]


def flow_processor_specs(unet: nn.Module) -> list[FlowProcessorSpec]:
    """The processors a ``UNetMotionModel`` takes: attn1 of every motion module of its down and up blocks."""
    num_levels = len(unet.down_blocks)
    specs = []
    for name, blocks, level_of in (
        ("down_blocks", unet.down_blocks, lambda i: i),
        ("up_blocks", unet.up_blocks, lambda i: num_levels - 1 - i),
    ):
        for i, block in enumerate(blocks):
            for j, motion_module in enumerate(block.motion_modules):
                for k, transformer_block in enumerate(motion_module.transformer_blocks):
                    path = f"{name}.{i}.motion_modules.{j}.transformer_blocks.{k}{PROCESSOR_SUFFIX}"
                    specs.append(FlowProcessorSpec(path, transformer_block.dim, level_of(i)))
    return specs


def free_noise_windows(num_frames: int, context_length: int, stride: int) -> list[tuple[int, int]]:
    """The frame windows a ``FreeNoiseTransformerBlock`` runs attn1 on, in its order: starts
    0, stride, ... while a full window fits, plus one window ending at the last frame if the
    others do not reach it."""
    windows = [(start, start + context_length) for start in range(0, num_frames - context_length + 1, stride)]
    if not windows or windows[-1][1] != num_frames:
        windows.append((max(num_frames - context_length, 0), num_frames))
    return windows


class FlowContext:
    """The flow conditioning the processors of one UNet read: per-level features and gamma.

    Set for one generation at a time with ``use``; a second concurrent ``use`` is refused.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._features: list[torch.Tensor] | None = None
        self._sequences: dict[tuple, torch.Tensor] = {}
        self.gamma = 0.0

    @contextmanager
    def use(self, features: Sequence[torch.Tensor], gamma: float) -> Iterator[FlowContext]:
        """Condition on ``features`` (one (B, C_i, F, h_i, w_i) tensor per level) with flow scale ``gamma``."""
        if not self._lock.acquire(blocking=False):
            raise RuntimeError("this UNet's flow context is already in use by another generation")
        try:
            self._features, self.gamma = list(features), float(gamma)
            yield self
        finally:
            self._features, self.gamma = None, 0.0
            self._sequences.clear()
            self._lock.release()

    @property
    def num_frames(self) -> int:
        return self._require_features()[0].shape[2]

    def _require_features(self) -> list[torch.Tensor]:
        if self._features is None:
            raise RuntimeError("OnlyFlow processors ran without flow: wrap the UNet call in FlowContext.use(...)")
        return self._features

    def sequences(self, level: int, start: int, end: int, like: torch.Tensor) -> torch.Tensor:
        """Level ``level`` for frames [start, end) as attention sequences shaped like ``like``
        ((k*B*h*w, end-start, C)); k > 1 when classifier-free guidance stacks the batch, and
        every copy gets the same flow."""
        feature = self._require_features()[level]
        batch, channels, num_frames, height, width = feature.shape
        rows = like.shape[0]
        copies, remainder = divmod(rows, batch * height * width)
        if remainder or copies == 0 or end > num_frames or like.shape[-1] != channels:
            raise RuntimeError(
                f"flow level {level} is {batch} video(s) x {num_frames} frames x {height}x{width} x {channels} "
                f"channels, which does not fit attention input {tuple(like.shape)} for frames {start}..{end}"
            )
        key = (level, start, end, copies, like.dtype, like.device)
        if key not in self._sequences:
            window = (
                feature[:, :, start:end].permute(0, 3, 4, 2, 1).reshape(batch * height * width, end - start, channels)
            )
            self._sequences[key] = window.repeat(copies, 1, 1).to(device=like.device, dtype=like.dtype)
        return self._sequences[key]


class FlowAdaptorAttnProcessor(nn.Module):
    """attn1 of a motion module, attending over z = h + gamma * qkv_merge(h + flow)."""

    def __init__(self, hidden_size: int, level: int):
        super().__init__()
        self.qkv_merge = nn.Linear(hidden_size, hidden_size)
        self.level = level
        self.context: FlowContext | None = None
        self.attention = AttnProcessor2_0()  # the stock motion-module attention, so gamma 0 is bit-identical
        self._windows: deque[tuple[int, int]] = deque()

    def expect_windows(self, windows: Sequence[tuple[int, int]]) -> None:
        """The next calls are FreeNoise windows, in this order."""
        self._windows = deque(windows)

    def forward(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if self.context is None:
            raise RuntimeError("FlowAdaptorAttnProcessor is not installed: use install_flow_processors")
        start, end = self._windows.popleft() if self._windows else (0, self.context.num_frames)
        if end - start != hidden_states.shape[1]:
            raise RuntimeError(
                f"motion module received {hidden_states.shape[1]} frames but the flow window is frames {start}..{end}"
            )
        gamma = self.context.gamma
        if gamma != 0.0:
            flow = self.context.sequences(self.level, start, end, like=hidden_states)
            hidden_states = hidden_states + gamma * self.qkv_merge(hidden_states + flow)
        return self.attention(attn, hidden_states, encoder_hidden_states, attention_mask, temb)


def _announce_free_noise_windows(processor: FlowAdaptorAttnProcessor, block, args, kwargs) -> None:
    hidden_states = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]
    processor.expect_windows(free_noise_windows(hidden_states.shape[1], block.context_length, block.context_stride))


@contextmanager
def install_flow_processors(
    unet: nn.Module, processors: Mapping[str, FlowAdaptorAttnProcessor], context: FlowContext
) -> Iterator[None]:
    """Put ``processors`` (keyed by UNet path) on their attn1 modules; restore the previous ones on exit.

    Install after switching FreeNoise on or off (diffusers rebuilds the blocks then, and its
    strict copy would not expect the processors' weights).
    """
    previous: dict[str, object] = {}
    hooks = []
    try:
        for path, processor in processors.items():
            block = unet.get_submodule(block_path(path))
            if isinstance(block.attn1.processor, FlowAdaptorAttnProcessor):
                raise RuntimeError(f"OnlyFlow processors are already installed at {path}")
            previous[path] = block.attn1.processor
            processor.context = context
            block.attn1.set_processor(processor)
            if isinstance(block, FreeNoiseTransformerBlock):
                hooks.append(
                    block.register_forward_pre_hook(partial(_announce_free_noise_windows, processor), with_kwargs=True)
                )
        yield
    finally:
        for hook in hooks:
            hook.remove()
        for path, original in previous.items():
            unet.get_submodule(block_path(path)).attn1.set_processor(original)
            processors[path].context = None
            processors[path].expect_windows(())
