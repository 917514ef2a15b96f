"""PyramidDiffusionMMDiT: the SD3-based DiT of ``rain1011/pyramid-flow-sd3``, keyed like its checkpoint.

SD3's MMDiT (24 joint blocks, the last one "context pre-only") with Pyramid Flow's video input:
each clip is patch-embedded per frame (Conv2d 2x2) plus SD3's 2-D sin-cos table (a persistent
192x192 buffer, centre-cropped to the last clip's grid and bilinearly resized for smaller
history clips), time enters as a 1-D RoPE over the frame counter on the whole head, and the
attention mask (T5 mask + temporal causality) is the miniFLUX one.

The key layout is checked against the official manifest (``norm_add_q`` / ``norm_add_k``, unlike
diffusers' ``norm_added_*``, so diffusers' SD3 block is not reused). The reference folder has no
recorded forward of this variant: its numbers are not parity-checked.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from diffusers.models.attention import FeedForward
from diffusers.models.embeddings import CombinedTimestepTextProjEmbeddings, apply_rotary_emb, get_2d_sincos_pos_embed
from diffusers.models.normalization import AdaLayerNormContinuous, AdaLayerNormZero
from torch import nn

from backends.pyramid_flow.miniflux_dit import attention_mask, rope_cos_sin, unpatchify, video_position_ids

POS_EMBED_KEY = "pos_embed.pos_embed"


@dataclass(frozen=True)
class MMDiTConfig:
    sample_size: int = 128
    patch_size: int = 2
    in_channels: int = 16
    num_layers: int = 24
    attention_head_dim: int = 64
    num_attention_heads: int = 24
    caption_projection_dim: int = 1536
    pooled_projection_dim: int = 2048
    pos_embed_max_size: int = 192
    joint_attention_dim: int = 4096
    use_temporal_causal: bool = True
    interp_condition_pos: bool = True

    @classmethod
    def from_dict(cls, config: dict) -> "MMDiTConfig":
        known = {f.name for f in fields(cls)}
        if config.get("pos_embed_type", "sincos") != "sincos" or config.get("temp_pos_embed_type", "rope") != "rope":
            raise ValueError("only the released sd3 layout (sincos space, rope time) is supported")
        return cls(**{k: v for k, v in config.items() if k in known})

    @property
    def inner_dim(self) -> int:
        return self.num_attention_heads * self.attention_head_dim

    @property
    def latent_channels(self) -> int:
        return self.in_channels


def sincos_table(config: MMDiTConfig) -> torch.Tensor:
    """SD3's (1, max², dim) 2-D sin-cos table (base size = sample_size / patch)."""
    table = get_2d_sincos_pos_embed(
        config.inner_dim, config.pos_embed_max_size, base_size=config.sample_size // config.patch_size, output_type="pt"
    )
    return table.float().unsqueeze(0)


class PatchEmbed3D(nn.Module):
    def __init__(self, config: MMDiTConfig):
        super().__init__()
        self.max_size, self.patch, self.interp = config.pos_embed_max_size, config.patch_size, config.interp_condition_pos
        self.proj = nn.Conv2d(config.in_channels, config.inner_dim, config.patch_size, stride=config.patch_size)
        self.register_buffer("pos_embed", sincos_table(config), persistent=True)

    def spatial_table(self, size: tuple[int, int], reference: tuple[int, int]) -> torch.Tensor:
        crop = reference if self.interp else size
        top, left = (self.max_size - crop[0]) // 2, (self.max_size - crop[1]) // 2
        table = self.pos_embed.reshape(1, self.max_size, self.max_size, -1)[:, top : top + crop[0], left : left + crop[1]]
        if tuple(crop) != tuple(size):
            table = F.interpolate(table.permute(0, 3, 1, 2), size=size, mode="bilinear").permute(0, 2, 3, 1)
        return table.reshape(1, -1, table.shape[-1])

    def forward(self, clips: list[torch.Tensor]) -> torch.Tensor:
        reference = (clips[-1].shape[-2] // self.patch, clips[-1].shape[-1] // self.patch)
        tokens = []
        for clip in clips:
            b, c, t, h, w = clip.shape
            x = self.proj(clip.transpose(1, 2).reshape(b * t, c, h, w)).flatten(2).transpose(1, 2)
            x = x + self.spatial_table((h // self.patch, w // self.patch), reference).to(x.dtype)
            tokens.append(x.reshape(b, -1, x.shape[-1]))
        return torch.cat(tokens, dim=1)


class JointAttention(nn.Module):
    def __init__(self, dim: int, heads: int, context_pre_only: bool):
        super().__init__()
        self.heads, head_dim = heads, dim // heads
        self.to_q, self.to_k, self.to_v = (nn.Linear(dim, dim) for _ in range(3))
        self.add_k_proj, self.add_v_proj, self.add_q_proj = (nn.Linear(dim, dim) for _ in range(3))
        self.norm_q, self.norm_k = nn.RMSNorm(head_dim, eps=1e-6), nn.RMSNorm(head_dim, eps=1e-6)
        self.norm_add_q, self.norm_add_k = nn.RMSNorm(head_dim, eps=1e-6), nn.RMSNorm(head_dim, eps=1e-6)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])
        self.to_add_out = None if context_pre_only else nn.Linear(dim, dim)

    def _heads(self, x, norm):
        return norm(x.unflatten(-1, (self.heads, -1)))

    def forward(self, hidden, text, rotary, mask):
        q = torch.cat([self._heads(self.add_q_proj(text), self.norm_add_q), self._heads(self.to_q(hidden), self.norm_q)], 1)
        k = torch.cat([self._heads(self.add_k_proj(text), self.norm_add_k), self._heads(self.to_k(hidden), self.norm_k)], 1)
        v = torch.cat([self.add_v_proj(text), self.to_v(hidden)], 1).unflatten(-1, (self.heads, -1))
        q, k = apply_rotary_emb(q, rotary, sequence_dim=1), apply_rotary_emb(k, rotary, sequence_dim=1)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask)
        out = out.transpose(1, 2).flatten(2)
        text_out, hidden_out = out[:, : text.shape[1]], out[:, text.shape[1] :]
        return self.to_out[0](hidden_out), None if self.to_add_out is None else self.to_add_out(text_out)


class JointTransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, context_pre_only: bool):
        super().__init__()
        self.context_pre_only = context_pre_only
        self.norm1 = AdaLayerNormZero(dim)
        self.norm1_context = (
            AdaLayerNormContinuous(dim, dim, elementwise_affine=False, eps=1e-6) if context_pre_only else AdaLayerNormZero(dim)
        )
        self.attn = JointAttention(dim, heads, context_pre_only)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ff = FeedForward(dim=dim, dim_out=dim, activation_fn="gelu-approximate")
        if not context_pre_only:
            self.norm2_context = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
            self.ff_context = FeedForward(dim=dim, dim_out=dim, activation_fn="gelu-approximate")

    @staticmethod
    def _mlp(x, norm, ff, shift, scale, gate):
        return x + gate[:, None] * ff(norm(x) * (1 + scale[:, None]) + shift[:, None])

    def forward(self, hidden, text, temb, rotary, mask):
        normed, gate, shift_mlp, scale_mlp, gate_mlp = self.norm1(hidden, emb=temb)
        if self.context_pre_only:
            attn_out, _ = self.attn(normed, self.norm1_context(text, temb), rotary, mask)
            return None, self._mlp(hidden + gate[:, None] * attn_out, self.norm2, self.ff, shift_mlp, scale_mlp, gate_mlp)
        text_normed, c_gate, c_shift, c_scale, c_gate_mlp = self.norm1_context(text, emb=temb)
        attn_out, text_out = self.attn(normed, text_normed, rotary, mask)
        hidden = self._mlp(hidden + gate[:, None] * attn_out, self.norm2, self.ff, shift_mlp, scale_mlp, gate_mlp)
        text = self._mlp(text + c_gate[:, None] * text_out, self.norm2_context, self.ff_context, c_shift, c_scale, c_gate_mlp)
        return text, hidden


class PyramidDiffusionMMDiT(nn.Module):
    """The official ``PyramidDiffusionMMDiT`` (state-dict keys one to one); same call as ``PyramidFluxTransformer``."""

    def __init__(self, config: MMDiTConfig):
        super().__init__()
        self.config = config
        dim = config.inner_dim
        self.pos_embed = PatchEmbed3D(config)
        self.time_text_embed = CombinedTimestepTextProjEmbeddings(dim, config.pooled_projection_dim)
        self.context_embedder = nn.Linear(config.joint_attention_dim, config.caption_projection_dim)
        self.transformer_blocks = nn.ModuleList(
            JointTransformerBlock(dim, config.num_attention_heads, i == config.num_layers - 1) for i in range(config.num_layers)
        )
        self.norm_out = AdaLayerNormContinuous(dim, dim, elementwise_affine=False, eps=1e-6)
        self.proj_out = nn.Linear(dim, config.patch_size**2 * config.in_channels)

    @property
    def dtype(self) -> torch.dtype:
        return self.proj_out.weight.dtype

    def forward(self, clips, timestep, encoder_hidden_states, encoder_attention_mask, pooled_projections):
        dtype = self.dtype
        temb = self.time_text_embed(timestep.to(dtype), pooled_projections.to(dtype))
        text = self.context_embedder(encoder_hidden_states.to(dtype))
        hidden = self.pos_embed([c.to(dtype) for c in clips])
        shapes = [tuple(c.shape[2:]) for c in clips]
        image_ids = video_position_ids(shapes, self.config.interp_condition_pos).to(hidden.device)
        times = torch.cat([torch.zeros(text.shape[1], device=hidden.device), image_ids[:, 0]])[:, None]
        rotary = rope_cos_sin(times, (self.config.attention_head_dim,))
        mask = attention_mask(encoder_attention_mask, image_ids, self.config.use_temporal_causal)
        for block in self.transformer_blocks:
            text, hidden = block(hidden, text, temb, rotary, mask)
        hidden = self.proj_out(self.norm_out(hidden, temb))
        frames, height, width = shapes[-1]
        last = frames * (height // self.config.patch_size) * (width // self.config.patch_size)
        return unpatchify(hidden[:, -last:], frames, height, width)


def complete_state_dict(model: nn.Module, state: dict) -> dict:
    """Checkpoints may omit the deterministic sin-cos buffer: recompute it (on CPU) when absent."""
    if isinstance(model, PyramidDiffusionMMDiT) and POS_EMBED_KEY not in state:
        state = {**state, POS_EMBED_KEY: sincos_table(model.config)}
    return state
