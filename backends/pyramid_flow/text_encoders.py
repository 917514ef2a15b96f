"""Pyramid Flow's text conditioning, with the transformers encoders of the official folders.

miniflux: T5 (``text_encoder_2`` / ``tokenizer_2``, 128 tokens, last hidden state + mask) and
CLIP-L (``text_encoder`` / ``tokenizer``, 77 tokens, pooled output).
sd3: T5 (``text_encoder_3`` / ``tokenizer_3``) and the pooled outputs of CLIP-L and CLIP-G
(``text_encoder`` / ``text_encoder_2``, with projection) joined into one 2048-d vector.
Rows are [negative ; positive], the guidance batch order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from backends.core.offload import Placement
from backends.pyramid_flow.sampling import TextConditioning

T5_TOKENS = 128
CLIP_TOKENS = 77
# (clip folders, t5 folder) per variant, as (text_encoder, tokenizer) names.
FOLDERS = {
    "miniflux": ((("text_encoder", "tokenizer"),), ("text_encoder_2", "tokenizer_2")),
    "sd3": ((("text_encoder", "tokenizer"), ("text_encoder_2", "tokenizer_2")), ("text_encoder_3", "tokenizer_3")),
}


@dataclass
class TextEncoders:
    variant: str
    clips: list  # (model, tokenizer)
    t5: tuple
    placement: Placement


def load_text_encoders(root: Path, variant: str, dtype: torch.dtype, device="cpu", offload="none") -> TextEncoders:
    """The variant's encoders, placed on ``device`` with CPU ``offload`` (none | model | sequential)."""
    from transformers import AutoTokenizer, CLIPTextModel, CLIPTextModelWithProjection, T5EncoderModel

    clip_cls = CLIPTextModel if variant == "miniflux" else CLIPTextModelWithProjection
    clip_folders, (t5_model, t5_tokenizer) = FOLDERS[variant]

    def pair(model_cls, model_name, tokenizer_name):
        model = model_cls.from_pretrained(Path(root) / model_name, torch_dtype=dtype).eval().requires_grad_(False)
        return model, AutoTokenizer.from_pretrained(Path(root) / tokenizer_name)

    clips = [pair(clip_cls, m, t) for m, t in clip_folders]
    t5 = pair(T5EncoderModel, t5_model, t5_tokenizer)
    return TextEncoders(variant, clips, t5, Placement([model for model, _ in (*clips, t5)], device, offload))


def _tokens(tokenizer, prompts, length, device):
    batch = tokenizer(prompts, padding="max_length", max_length=length, truncation=True, return_tensors="pt")
    return batch.input_ids.to(device), batch.attention_mask.to(device)


@torch.no_grad()
def encode_prompts(encoders: TextEncoders, prompt: str, negative_prompt: str) -> TextConditioning:
    """T5 states, mask and pooled CLIP vector for [negative ; positive]."""
    prompts, device = [negative_prompt, prompt], encoders.placement.device
    t5, t5_tokenizer = encoders.t5
    ids, mask = _tokens(t5_tokenizer, prompts, T5_TOKENS, device)
    embeds = t5(ids).last_hidden_state  # the official encoder gives T5 no mask; the DiT masks the padding
    pooled = []
    for clip, tokenizer in encoders.clips:
        clip_ids, _ = _tokens(tokenizer, prompts, CLIP_TOKENS, device)
        out = clip(clip_ids)
        pooled.append(out.pooler_output if encoders.variant == "miniflux" else out.text_embeds)
    return TextConditioning(embeds, mask.long(), torch.cat(pooled, dim=-1))
