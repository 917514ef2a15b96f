"""Scoring predictions against the true continuation on fresh bouncing-balls clips: PSNR per
predicted frame, for a model and for the "repeat the last context frame" baseline, and the
colour error of each disc (is a grey ball still grey eight frames later?)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import torch

from .bouncing_balls import Balls, clip_tensor, random_balls, render_balls
from .loading import EMBEDDED_DIR, default_sampler, load_model_folder
from .model import Model
from .sampling import SamplerSettings, generate_frames

# Seeds of evaluation clips; training used 1-3 and 11-13 (see train_embedded), so these clips are fresh.
EVALUATION_SEED = 2024
# Colour error: a disc's colour is read from the pixels near its true centre (radius + margin, away
# from the other discs) that are at least this fraction as bright as the disc, in truth and prediction.
COLOUR_MARGIN = 3.0
LIT_FRACTION = 0.5


def psnr(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of frames in [-1, 1] over the last three dims (C, H, W); peak = the full range."""
    mse = ((prediction.clamp(-1, 1) - target) ** 2).mean(dim=(-3, -2, -1))
    return 10 * torch.log10(4.0 / mse.clamp_min(1e-10))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSIM (Wang et al., 2004; 11x11 Gaussian window, sigma 1.5) of frames in [-1, 1] over (C, H, W),
    computed on [0, 1] intensities per channel and averaged."""
    lead = prediction.shape[:-3]
    channels = prediction.shape[-3]
    x = ((prediction.clamp(-1, 1) + 1) / 2).reshape(-1, *prediction.shape[-3:])
    y = ((target + 1) / 2).reshape(-1, *target.shape[-3:])
    window = _gaussian_window().to(x)[None, None].repeat(channels, 1, 1, 1)

    def blur(image: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv2d(image, window, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y, cov = blur(x * x) - mu_x**2, blur(y * y) - mu_y**2, blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return index.mean(dim=(-3, -2, -1)).reshape(lead)


def disc_colours(frames: np.ndarray, balls: Balls) -> np.ndarray:
    """Measured RGB colour of each disc in each frame: float [T, n, 3], NaN where another disc covers
    its whole neighbourhood. ``frames`` uint8 [T, H, W, 3] lie on ``balls.positions``; a frame whose
    neighbourhood of the disc holds no lit pixel reads black (the disc was lost)."""
    size = frames.shape[1]
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    reach = balls.radius + COLOUR_MARGIN
    colours = np.full((len(frames), len(balls.radius), 3), np.nan)
    for t, (frame, position) in enumerate(zip(frames.astype(np.float64), balls.positions)):
        distance = np.sqrt((xs[None] - position[:, 0, None, None]) ** 2 + (ys[None] - position[:, 1, None, None]) ** 2)
        near = distance <= reach[:, None, None]
        for i, colour in enumerate(balls.colour):
            region = near[i] & ~np.delete(near, i, axis=0).any(axis=0)
            if not region.any():
                continue
            lit = region & (frame.max(axis=-1) >= LIT_FRACTION * colour.max())
            colours[t, i] = frame[lit].mean(axis=0) if lit.any() else 0.0
    return colours


def colour_errors(predicted: np.ndarray, truth: np.ndarray, balls: Balls) -> np.ndarray:
    """Mean absolute colour error (0-255 levels, over RGB and the frames where it is measured) of
    each disc: [n]. Both clips are measured the same way, so a perfect prediction scores 0."""
    error = np.abs(disc_colours(predicted, balls) - disc_colours(truth, balls)).mean(axis=-1)
    return np.array([np.nanmean(e) if np.isfinite(e).any() else np.nan for e in error.T])


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """[..., 3, H, W] in [-1, 1] -> uint8 [..., H, W, 3]."""
    return ((frames.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).movedim(-3, -1).numpy()


@dataclass
class PredictionScores:
    model_psnr: np.ndarray  # [predicted frames], mean over clips
    repeat_last_psnr: np.ndarray
    colour_error: np.ndarray | None = None  # [discs of all clips], levels; with `balls` given

    @property
    def model_mean(self) -> float:
        return float(self.model_psnr.mean())

    @property
    def repeat_last_mean(self) -> float:
        return float(self.repeat_last_psnr.mean())

    @property
    def colour_error_mean(self) -> float:
        return float(np.nanmean(self.colour_error))


def fresh_balls(num_clips: int, num_frames: int, seed: int = EVALUATION_SEED) -> list[Balls]:
    """The discs of ``num_clips`` bouncing-balls clips, clip i drawn from seed (``seed``, i)."""
    return [random_balls(num_frames, np.random.default_rng([seed, i])) for i in range(num_clips)]


def clips_of(balls: list[Balls]) -> torch.Tensor:
    """[clips, T, 3, 64, 64] in [-1, 1]."""
    return torch.stack([clip_tensor(render_balls(b)) for b in balls])


def fresh_clips(num_clips: int, num_frames: int, seed: int = EVALUATION_SEED) -> torch.Tensor:
    """[num_clips, num_frames, 3, 64, 64] bouncing-balls clips in [-1, 1]."""
    return clips_of(fresh_balls(num_clips, num_frames, seed))


@torch.no_grad()
def score_predictions(model: Model, clips: torch.Tensor, context_frames: int, settings: SamplerSettings,
                      seed: int = 0, balls: list[Balls] | None = None) -> PredictionScores:
    """Predict clips[:, context_frames:] from clips[:, :context_frames] (all clips in one batch);
    with the clips' ``balls``, also the colour error of each disc over the predicted frames."""
    context, truth = clips[:, :context_frames], clips[:, context_frames:]
    frames = generate_frames(model, context, truth.shape[1], settings, torch.Generator().manual_seed(seed))
    predicted = frames[:, context_frames:]
    repeated = context[:, -1:].expand_as(truth)
    colour = None
    if balls is not None:
        colour = np.concatenate([
            colour_errors(p, t, Balls(b.positions[context_frames:], b.radius, b.colour))
            for p, t, b in zip(to_uint8(predicted), to_uint8(truth), balls)
        ])
    return PredictionScores(psnr(predicted, truth).mean(0).numpy(), psnr(repeated, truth).mean(0).numpy(), colour)


def main(argv: list[str] | None = None) -> None:
    """Score a model folder (default: the embedded model) on fresh clips with its default sampler."""
    parser = argparse.ArgumentParser(description="PSNR vs repeat-last and per-disc colour error on fresh clips.")
    parser.add_argument("--model", default=str(EMBEDDED_DIR), help="model folder (config.yaml + weights)")
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--seed", type=int, default=EVALUATION_SEED + 1, help="clip seed (never used in training)")
    parser.add_argument("--context", type=int, default=2)
    parser.add_argument("--predict", type=int, default=8)
    parser.add_argument("--sampler", default=None, help="euler | midpoint | rk4 (default: the model's own)")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--warm-start", type=float, default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, config = load_model_folder(args.model)
    own = default_sampler(config)
    sampler = SamplerSettings(args.sampler or own.sampler, args.steps or own.steps,
                              own.warm_start if args.warm_start is None else args.warm_start)
    balls = fresh_balls(args.clips, args.context + args.predict, args.seed)
    scores = score_predictions(model, clips_of(balls), args.context, sampler, balls=balls)
    errors = scores.colour_error[np.isfinite(scores.colour_error)]
    print(f"{args.clips} clips (seed {args.seed}), frames 1-{args.predict} from {args.context}, {sampler.sampler} "
          f"{sampler.steps} steps, warm start {sampler.warm_start:g}:")
    print(f"  PSNR {scores.model_mean:.2f} dB vs repeat-last {scores.repeat_last_mean:.2f} dB "
          f"(+{scores.model_mean - scores.repeat_last_mean:.2f} dB)")
    print("  per frame: " + " ".join(f"{v:.1f}" for v in scores.model_psnr)
          + " | repeat-last: " + " ".join(f"{v:.1f}" for v in scores.repeat_last_psnr))
    print(f"  colour error per disc: mean {errors.mean():.1f}, median {np.median(errors):.1f}, "
          f"90th percentile {np.percentile(errors, 90):.1f} levels; {(errors < 20).mean():.0%} of {len(errors)} "
          f"discs below 20")


if __name__ == "__main__":
    main()
