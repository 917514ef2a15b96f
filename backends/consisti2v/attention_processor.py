"""Spatial self-attention that also looks at the first frame (attn1 of every ``attentions.j``).

Queries are one frame's tokens; keys and values are that frame's tokens followed by frame 0's
tokens of the same video (2·H·W tokens; for frame 0 its own tokens twice).
"""

from __future__ import annotations

import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0


class FirstFrameAttnProcessor:
    def __init__(self, num_frames: int):
        self.num_frames = num_frames
        self.attend = AttnProcessor2_0()

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states=None, attention_mask=None, **kwargs):
        """``hidden_states`` (B·T, N, C), video-major rows."""
        frames = hidden_states.unflatten(0, (-1, self.num_frames))
        first = frames[:, :1].expand_as(frames)
        context = torch.cat((frames, first), dim=2).flatten(0, 1)
        return self.attend(attn, hidden_states, encoder_hidden_states=context, attention_mask=attention_mask)


def install_first_frame_attention(transformer, num_frames: int) -> None:
    """Give every transformer block of a diffusers ``Transformer2DModel`` the first-frame attn1."""
    for block in transformer.transformer_blocks:
        block.attn1.set_processor(FirstFrameAttnProcessor(num_frames))
