"""The nearest-neighbour vector quantiser shared by both autoencoder families (`embedding.weight`)."""

from __future__ import annotations

import torch
from torch import nn


class VectorQuantizer(nn.Module):
    """Snap each latent vector to its nearest codebook entry (squared distance, first index on ties);
    gradients pass straight through to the latents (van den Oord et al., 2017)."""

    def __init__(self, num_embeddings: int, embedding_dimension: int):
        super().__init__()
        self.embedding = nn.Embedding(num_embeddings, embedding_dimension)
        self.embedding.weight.data.uniform_(-1.0 / num_embeddings, 1.0 / num_embeddings)

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """Codebook index per position of channel-first latents [b, c, h, w] -> [b, h, w]."""
        flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        codebook = self.embedding.weight
        distances = flat.pow(2).sum(1, keepdim=True) + codebook.pow(2).sum(1) - 2 * flat @ codebook.t()
        return distances.argmin(1).reshape(z.shape[0], z.shape[2], z.shape[3])

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Codebook entries for indices [b, h, w] -> channel-first [b, c, h, w]."""
        return self.embedding(indices).permute(0, 3, 1, 2)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantised latents (straight-through) and their indices."""
        indices = self.indices(z)
        quantized = self.lookup(indices)
        return z + (quantized - z).detach(), indices
