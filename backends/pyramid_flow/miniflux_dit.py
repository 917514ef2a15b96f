"""PyramidFluxTransformer: the miniFLUX DiT of Pyramid Flow, keyed like ``diffusion_transformer_*/``.

A Flux layout (double-stream blocks, then single-stream blocks) over a video token sequence.
diffusers' ``FluxTransformerBlock`` / ``FluxSingleTransformerBlock``, the timestep/pooled-text
embedding and ``AdaLayerNormContinuous`` have exactly the official key names and math, so they
are reused; what is Pyramid Flow's own lives here:

- the input is a list of clips (oldest history first, the noisy latent last), each patchified
  with a fixed 2x2 patch (the config's ``patch_size`` 1 is ignored; ``in_channels`` is the
  patched width) and joined into one sequence;
- 3-D RoPE ids (t, h, w): frames count up across the clips, and clips smaller than the last one
  get fractional (half-pixel-centre) positions on its grid;
- a temporal-causal attention mask: a token sees text and image tokens of its own and earlier
  frames; padded text tokens only see each other;
- the output is the velocity of the last clip only.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from diffusers.models.embeddings import CombinedTimestepTextProjEmbeddings
from diffusers.models.normalization import AdaLayerNormContinuous
from diffusers.models.transformers.transformer_flux import FluxSingleTransformerBlock, FluxTransformerBlock
from torch import nn

PATCH = 2  # hard-coded in the official model
ROPE_THETA = 10000


@dataclass(frozen=True)
class MiniFluxConfig:
    """The fields of the official ``config.json`` that shape the model (others are ignored)."""

    in_channels: int = 64
    num_layers: int = 8
    num_single_layers: int = 16
    attention_head_dim: int = 64
    num_attention_heads: int = 30
    joint_attention_dim: int = 4096
    pooled_projection_dim: int = 768
    axes_dims_rope: tuple[int, ...] = (16, 24, 24)
    use_temporal_causal: bool = True
    interp_condition_pos: bool = True

    @classmethod
    def from_dict(cls, config: dict) -> "MiniFluxConfig":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in config.items() if k in known}
        if "axes_dims_rope" in values:
            values["axes_dims_rope"] = tuple(values["axes_dims_rope"])
        return cls(**values)

    @property
    def inner_dim(self) -> int:
        return self.num_attention_heads * self.attention_head_dim

    @property
    def latent_channels(self) -> int:
        return self.in_channels // (PATCH * PATCH)


def patchify(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, T·H/2·W/2, 4C), token vector ordered (row, col, channel)."""
    b, c, t, h, w = x.shape
    x = x.reshape(b, c, t, h // PATCH, PATCH, w // PATCH, PATCH).permute(0, 2, 3, 5, 4, 6, 1)
    return x.reshape(b, t * (h // PATCH) * (w // PATCH), PATCH * PATCH * c)


def unpatchify(tokens: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
    """Inverse of ``patchify`` for a clip of latent size (frames, height, width)."""
    b, _, d = tokens.shape
    c = d // (PATCH * PATCH)
    x = tokens.reshape(b, frames, height // PATCH, width // PATCH, PATCH, PATCH, c).permute(0, 6, 1, 2, 4, 3, 5)
    return x.reshape(b, c, frames, height, width)


def _axis_positions(size: int, reference: int, interpolate: bool) -> torch.Tensor:
    if size == reference or not interpolate:
        return torch.arange(size, dtype=torch.float32)
    scale = reference / size
    return (torch.arange(size, dtype=torch.float32) + 0.5) * scale - 0.5


def video_position_ids(clip_shapes: list[tuple[int, int, int]], interpolate: bool = True) -> torch.Tensor:
    """(N, 3) RoPE ids (t, h, w) of the image tokens of clips with latent (T, H, W), in sequence order."""
    ref_h, ref_w = clip_shapes[-1][1] // PATCH, clip_shapes[-1][2] // PATCH
    ids, frame0 = [], 0
    for frames, height, width in clip_shapes:
        t = torch.arange(frame0, frame0 + frames, dtype=torch.float32)
        h = _axis_positions(height // PATCH, ref_h, interpolate)
        w = _axis_positions(width // PATCH, ref_w, interpolate)
        grid = torch.stack(torch.meshgrid(t, h, w, indexing="ij"), dim=-1)
        ids.append(grid.reshape(-1, 3))
        frame0 += frames
    return torch.cat(ids)


def attention_mask(text_mask: torch.Tensor, image_ids: torch.Tensor, temporal_causal: bool = True) -> torch.Tensor:
    """(B, 1, L+N, L+N) boolean mask over [text ; image] tokens (True = may attend)."""
    batch, length = text_mask.shape
    num_image = image_ids.shape[0]
    group = torch.cat([text_mask.bool(), torch.ones(batch, num_image, dtype=torch.bool, device=text_mask.device)], 1)
    mask = group[:, :, None] == group[:, None, :]
    if temporal_causal:
        t = torch.cat([torch.zeros(length, device=text_mask.device), image_ids[:, 0].to(text_mask.device)])
        mask = mask & (t[None, :] <= t[:, None])[None]
    return mask[:, None]


def rope_cos_sin(ids: torch.Tensor, axes_dims, theta: float = ROPE_THETA) -> tuple[torch.Tensor, torch.Tensor]:
    """Flux RoPE tables (S, head_dim): each adjacent pair of an axis' dims rotates by pos·theta^(−2j/d)."""
    angles = []
    for axis, dim in enumerate(axes_dims):
        omega = 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.float64, device=ids.device) / dim)
        angles.append(ids[:, axis, None].double() * omega)
    angles = torch.cat(angles, dim=-1).repeat_interleave(2, dim=-1)
    return angles.cos().float(), angles.sin().float()


class PyramidFluxTransformer(nn.Module):
    """The official ``PyramidFluxTransformer`` (state-dict keys one to one)."""

    def __init__(self, config: MiniFluxConfig):
        super().__init__()
        self.config = config
        dim = config.inner_dim
        if sum(config.axes_dims_rope) != config.attention_head_dim:
            raise ValueError(f"axes_dims_rope {config.axes_dims_rope} must sum to attention_head_dim {config.attention_head_dim}")
        self.time_text_embed = CombinedTimestepTextProjEmbeddings(dim, config.pooled_projection_dim)
        self.context_embedder = nn.Linear(config.joint_attention_dim, dim)
        self.x_embedder = nn.Linear(config.in_channels, dim)
        heads, head_dim = config.num_attention_heads, config.attention_head_dim
        self.transformer_blocks = nn.ModuleList(FluxTransformerBlock(dim, heads, head_dim) for _ in range(config.num_layers))
        self.single_transformer_blocks = nn.ModuleList(
            FluxSingleTransformerBlock(dim, heads, head_dim) for _ in range(config.num_single_layers)
        )
        self.norm_out = AdaLayerNormContinuous(dim, dim, elementwise_affine=False, eps=1e-6)
        self.proj_out = nn.Linear(dim, config.in_channels)

    @property
    def dtype(self) -> torch.dtype:
        return self.proj_out.weight.dtype

    def image_inputs(self, clips: list[torch.Tensor], text_mask: torch.Tensor):
        """(image tokens, RoPE tables, attention mask) of a call. The only work of a step that is
        the same at every step of a stage but the latent's own tokens (the blocks' modulation
        depends on the timestep, so the history's keys and values change): what an exact history
        cache could save (``bench/bench_pyramid_flow.py`` measures it)."""
        shapes = [tuple(c.shape[2:]) for c in clips]
        hidden = self.x_embedder(torch.cat([patchify(c.to(self.dtype)) for c in clips], dim=1))
        image_ids = video_position_ids(shapes, self.config.interp_condition_pos).to(hidden.device)
        ids = torch.cat([torch.zeros(text_mask.shape[1], 3, device=hidden.device), image_ids])
        rotary = rope_cos_sin(ids, self.config.axes_dims_rope)
        return hidden, rotary, attention_mask(text_mask, image_ids, self.config.use_temporal_causal)

    def forward(
        self,
        clips: list[torch.Tensor],
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        encoder_attention_mask: torch.Tensor,
        pooled_projections: torch.Tensor,
    ) -> torch.Tensor:
        """Velocity (B, C, T, H, W) of ``clips[-1]``; ``clips`` are the history (oldest first) then the latent.

        ``timestep`` (B,) is on the 0–1000 scale (the official ``timestep_ratio``).
        """
        dtype = self.dtype
        temb = self.time_text_embed(timestep.to(dtype), pooled_projections.to(dtype))
        text = self.context_embedder(encoder_hidden_states.to(dtype))
        hidden, rotary, mask = self.image_inputs(clips, encoder_attention_mask)
        kwargs = {"attention_mask": mask}

        for block in self.transformer_blocks:
            text, hidden = block(hidden, text, temb, image_rotary_emb=rotary, joint_attention_kwargs=kwargs)
        for block in self.single_transformer_blocks:
            text, hidden = block(hidden, text, temb, image_rotary_emb=rotary, joint_attention_kwargs=kwargs)

        hidden = self.proj_out(self.norm_out(hidden, temb))
        frames, height, width = clips[-1].shape[2:]
        last = frames * (height // PATCH) * (width // PATCH)
        return unpatchify(hidden[:, -last:], frames, height, width)
