"""Stage 1: train a small taming-layout VQ autoencoder on your own clips.

A plain VQ-VAE objective (van den Oord et al., 2017): L1 + MSE reconstruction through
straight-through codes, codebook loss and a 0.25-weighted commitment loss. No perceptual or GAN
terms (they need downloaded networks); unused codes are restarted from encoder outputs so the
codebook stays in use. The result (`autoencoder.pth`) plugs into the vector-field trainer.
`init_from` fine-tunes existing weights; a larger `n_embed` grows their codebook.

    python -m backends.river.train_autoencoder --data CLIPS --output-dir runs/ae --steps 3000
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch
from torch.nn import functional as F

from ..core.checkpoints import atomic_save, load_checkpoint, load_state_dict_strict
from ..core.jobs import Artifact, CancelToken, Event, JobCancelled, Log, Metric, Preview, Result, StepTimer
from .data import open_clip_dataset
from .loading import read_autoencoder_state
from .taming_vq import VQModel
from .train_common import endless_batches, make_accelerator, side_by_side

CHECKPOINT_NAME = "autoencoder.pth"

# A small f4 autoencoder: 64x64 RGB -> 4 x 16 x 16 latents.
SMALL_DDCONFIG = dict(
    embed_dim=4, n_embed=1024, double_z=False, z_channels=4, resolution=64, in_channels=3, out_ch=3,
    ch=32, ch_mult=[1, 2, 2], num_res_blocks=1, attn_resolutions=[], dropout=0.0,
)


@dataclass
class AutoencoderTrainSettings:
    output_dir: str
    data: object  # a clip Dataset ([T, 3, H, W] in [-1, 1]) or a path `open_clip_dataset` understands
    ddconfig: dict = field(default_factory=lambda: dict(SMALL_DDCONFIG))
    init_from: str | None = None  # start from these autoencoder weights (any file `read_autoencoder_state` reads)
    image_size: int = 64
    max_steps: int = 3000
    batch_size: int = 16
    learning_rate: float = 2e-4
    commitment: float = 0.25
    restart_dead_codes_every: int = 100
    log_every: int = 10
    preview_every: int = 250
    save_every: int = 500
    seed: int = 0
    resume: bool = True
    device: str | None = None

    def check(self) -> None:
        for name in ("max_steps", "batch_size", "log_every", "preview_every", "save_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")


def autoencoder_block(ddconfig: dict) -> dict:
    """The `autoencoder:` block of the official YAML layout for a trained taming VQ model."""
    return {"type": "ldm-vq", "config": "custom", "ddconfig": dict(ddconfig)}


def vq_losses(images, reconstruction, latents, codes, commitment: float) -> tuple[torch.Tensor, dict]:
    reconstruction_loss = F.l1_loss(reconstruction, images) + F.mse_loss(reconstruction, images)
    codebook_loss = F.mse_loss(codes, latents.detach())
    commitment_loss = F.mse_loss(latents, codes.detach())
    loss = reconstruction_loss + codebook_loss + commitment * commitment_loss
    mse = F.mse_loss(reconstruction.detach().clamp(-1, 1), images)
    return loss, {"reconstruction": reconstruction_loss.item(), "psnr": (10 * torch.log10(4 / mse)).item()}


def grow_codebook(state: dict[str, torch.Tensor], n_embed: int) -> dict[str, torch.Tensor]:
    """Pad a smaller codebook to ``n_embed`` entries with copies of its first entries. A copy is
    never the nearest code (ties go to the lower index), so the new entries count as unused and
    `restart_dead_codes` moves them onto encoder outputs at the next restart."""
    codebook = state["quantize.embedding.weight"]
    if len(codebook) >= n_embed:
        return state
    extra = codebook[torch.arange(n_embed - len(codebook)) % len(codebook)]
    return {**state, "quantize.embedding.weight": torch.cat([codebook, extra])}


@torch.no_grad()
def restart_dead_codes(embedding: torch.nn.Embedding, usage: torch.Tensor, latents: torch.Tensor,
                       generator: torch.Generator) -> int:
    """Move never-used codebook entries onto randomly chosen current encoder outputs."""
    dead = (usage == 0).nonzero().flatten()
    if len(dead) == 0:
        return 0
    pool = latents.detach().permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
    picks = torch.randint(0, len(pool), (len(dead),), generator=generator).to(pool.device)
    embedding.weight[dead] = pool[picks] + 0.01 * pool.std() * torch.randn_like(pool[picks])
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.broadcast(embedding.weight, 0)  # every process keeps the same codebook
    return len(dead)


def train_autoencoder(settings: AutoencoderTrainSettings, cancel: CancelToken | None = None) -> Iterator[Event]:
    """Generator of job events; returns after ``max_steps`` or raises `JobCancelled` after saving."""
    # 1. Check inputs and prepare the run folder
    settings.check()
    cancel = cancel or CancelToken()
    output_dir = Path(settings.output_dir)
    checkpoint_path = output_dir / CHECKPOINT_NAME
    accelerator = make_accelerator(settings.device)
    torch.manual_seed(settings.seed)

    # 2. Model, optimizer, and the state of an earlier run
    ddconfig = dict(settings.ddconfig)
    start_step = 0
    previous = load_checkpoint(checkpoint_path) if settings.resume and checkpoint_path.is_file() else None
    if previous is not None:
        ddconfig = previous["config"]["ddconfig"]
    autoencoder = VQModel(ddconfig)
    if previous is None and settings.init_from is not None:
        state = grow_codebook(read_autoencoder_state(settings.init_from, autoencoder), ddconfig["n_embed"])
        load_state_dict_strict(autoencoder, state, "autoencoder")
    optimizer = torch.optim.Adam(autoencoder.parameters(), lr=settings.learning_rate, betas=(0.5, 0.9))
    if previous is not None:
        autoencoder.load_state_dict(previous["model"])
        optimizer.load_state_dict(previous["optimizer"])
        start_step = previous["global_step"] + 1
        if accelerator.is_main_process:
            yield Log(f"resuming autoencoder training at step {start_step}")
    autoencoder, optimizer = accelerator.prepare(autoencoder, optimizer)
    bare = accelerator.unwrap_model(autoencoder)

    # 3. Data
    dataset = open_clip_dataset(settings.data, frames_per_sample=2, image_size=settings.image_size)
    batches = endless_batches(dataset, settings.batch_size, settings.seed + start_step, accelerator)
    preview_frames = torch.stack([dataset[i][0] for i in range(min(4, len(dataset)))]).to(accelerator.device)
    generator = torch.Generator().manual_seed(settings.seed * 7919 + accelerator.process_index + start_step)
    usage = torch.zeros(ddconfig["n_embed"], dtype=torch.long, device=accelerator.device)

    def save(step: int) -> Artifact:
        atomic_save(
            {"model": bare.state_dict(), "optimizer": optimizer.state_dict(), "global_step": step,
             "config": autoencoder_block(ddconfig)},
            checkpoint_path,
        )
        return Artifact(str(checkpoint_path), "checkpoint", f"autoencoder step {step + 1}")

    # 4. Training loop
    timer = StepTimer(settings.max_steps - start_step, "autoencoder")
    autoencoder.train()
    step = start_step - 1
    try:
        for step in range(start_step, settings.max_steps):
            cancel.raise_if_cancelled()
            clips = next(batches).to(accelerator.device)
            # One random frame of each clip.
            images = clips[torch.arange(len(clips)), torch.randint(0, clips.shape[1], (len(clips),), generator=generator)]
            reconstruction, latents, codes, indices = autoencoder(images)
            loss, details = vq_losses(images, reconstruction, latents, codes, settings.commitment)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            optimizer.step()
            usage += torch.bincount(indices.flatten(), minlength=len(usage))

            if (step + 1) % settings.restart_dead_codes_every == 0:
                restarted = restart_dead_codes(bare.quantize.embedding, usage, latents, generator)
                used = int((usage > 0).sum())
                usage.zero_()
                if accelerator.is_main_process:
                    yield Metric("codebook_used", step + 1, used / len(usage))
                    if restarted:
                        yield Log(f"step {step + 1}: restarted {restarted} unused codes")
            if not accelerator.is_main_process:
                continue
            progress = timer.tick()
            if (step + 1) % settings.log_every == 0 or step + 1 == settings.max_steps:
                yield progress
                yield Metric("loss", step + 1, loss.item())
                yield Metric("psnr", step + 1, details["psnr"])
            if (step + 1) % settings.preview_every == 0:
                autoencoder.eval()
                with torch.no_grad():
                    yield Preview(side_by_side(preview_frames, bare.decode(bare.encode(preview_frames))), step + 1,
                                  "input | reconstruction")
                autoencoder.train()
            if (step + 1) % settings.save_every == 0 or step + 1 == settings.max_steps:
                yield save(step)
    except JobCancelled:
        if accelerator.is_main_process and step >= start_step:
            yield save(step)
        raise

    # 5. Result
    if accelerator.is_main_process:
        yield Result(str(checkpoint_path), "", settings.seed, {"steps": settings.max_steps, "config": autoencoder_block(ddconfig)})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="video folder, HDF5 shard/folder (official layout)")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init-from", default=None, help="fine-tune these autoencoder weights")
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    settings = AutoencoderTrainSettings(
        args.output_dir, args.data, init_from=args.init_from, image_size=args.image_size, max_steps=args.steps,
        batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed, device=args.device,
    )
    from ..core.console import print_events

    print_events(train_autoencoder(settings))


if __name__ == "__main__":
    main()
