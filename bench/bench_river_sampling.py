"""RIVER: prediction quality vs function evaluations, and CPU seconds per predicted frame.

1. PSNR over predicted frames 1-8 (2 context frames) of the embedded bouncing-balls model on fresh
   clips: the official sampler (RK4 3/8 rule, 100 grid points = 396 NFE per frame) against Euler
   and midpoint at 4, 8 and 16 steps, without and with warm start. Reports the fewest NFE within
   0.5 dB of RK4-100.
2. Seconds per predicted frame (batch 1) for the embedded model and for a BAIR-64-sized network
   (random weights: 98 M-parameter regressor, f8_small autoencoder), at the official and at the
   fast sampler. For BAIR-64 + RK4-100 the time is measured per evaluation and multiplied by 396
   unless --full-official is given (one frame takes minutes on a small CPU).

    python bench/bench_river_sampling.py [--clips 32] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere, like the other benches

from backends.river.evaluate import EVALUATION_SEED, fresh_clips, score_predictions  # noqa: E402
from backends.river.loading import RELEASES, build_model, load_embedded  # noqa: E402
from backends.river.sampling import OFFICIAL_SAMPLER, SamplerSettings, stream_frames  # noqa: E402

CONTEXT, PREDICTED = 2, 8
FAST_STEPS = (4, 8, 16)
WARM_STARTS = (0.0, 0.25, 0.5)
TOLERANCE_DB = 0.5


def quality_table(model, clips) -> list[dict]:
    rows = []
    candidates = [OFFICIAL_SAMPLER] + [
        SamplerSettings(sampler, steps, warm) for sampler in ("euler", "midpoint") for steps in FAST_STEPS for warm in WARM_STARTS
    ]
    for settings in candidates:
        started = time.perf_counter()
        scores = score_predictions(model, clips, CONTEXT, settings)
        rows.append({
            "sampler": settings.sampler, "steps": settings.steps, "warm_start": settings.warm_start,
            "nfe_per_frame": settings.nfe_per_frame, "psnr": scores.model_mean,
            "psnr_per_frame": [round(float(v), 3) for v in scores.model_psnr],
            "repeat_last_psnr": scores.repeat_last_mean, "seconds": time.perf_counter() - started,
        })
        print(f"{settings.sampler:>8} {settings.steps:>3} steps  w={settings.warm_start:.2f}  "
              f"NFE {settings.nfe_per_frame:>3}  PSNR {scores.model_mean:6.2f} dB", flush=True)
    return rows


def seconds_per_frame(model, settings: SamplerSettings, frames: int) -> float:
    context = torch.rand(CONTEXT, 3, *model.image_size) * 2 - 1
    started = time.perf_counter()
    for _ in stream_frames(model, context, frames, settings, seed=0):
        pass
    return (time.perf_counter() - started) / frames


@torch.no_grad()
def seconds_per_evaluation(model, evaluations: int = 6) -> float:
    latents = torch.randn(1, *model.latent_shape)
    args = (latents, latents, latents, torch.tensor([1]), torch.tensor([0.5]))
    model.vector_field_regressor(*args)  # warm-up
    started = time.perf_counter()
    for _ in range(evaluations):
        model.vector_field_regressor(*args)
    return (time.perf_counter() - started) / evaluations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--full-official", action="store_true", help="time a whole RK4-100 frame of BAIR-64")
    parser.add_argument("--json", help="write all numbers here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, config = load_embedded()
    fast = SamplerSettings(**config["sampling"])

    # 1. Quality vs NFE on fresh clips (seeds disjoint from training)
    clips = fresh_clips(args.clips, CONTEXT + PREDICTED, seed=EVALUATION_SEED + 1)
    rows = quality_table(model, clips)
    reference = rows[0]["psnr"]
    close = [r for r in rows[1:] if r["psnr"] >= reference - TOLERANCE_DB]
    best = min(close, key=lambda r: (r["nfe_per_frame"], -r["psnr"])) if close else None
    print(f"repeat-last PSNR {rows[0]['repeat_last_psnr']:.2f} dB; RK4-100 {reference:.2f} dB")
    if best:
        print(f"fewest NFE within {TOLERANCE_DB} dB of RK4-100: {best['sampler']} {best['steps']} steps "
              f"w={best['warm_start']} -> {best['nfe_per_frame']} NFE ({396 / best['nfe_per_frame']:.0f}x fewer), "
              f"{best['psnr']:.2f} dB")

    # 2. Seconds per predicted frame on this CPU, batch 1
    timing = {
        "embedded_official": seconds_per_frame(model, OFFICIAL_SAMPLER, 2),
        "embedded_fast": seconds_per_frame(model, fast, PREDICTED),
    }
    bair = build_model(RELEASES["bair_64"].model_config, device="cpu").eval()
    per_evaluation = seconds_per_evaluation(bair)
    timing["bair64_seconds_per_evaluation"] = per_evaluation
    timing["bair64_fast"] = seconds_per_frame(bair, fast, 1)
    if args.full_official:
        timing["bair64_official"] = seconds_per_frame(bair, OFFICIAL_SAMPLER, 1)
    else:
        timing["bair64_official_estimated"] = per_evaluation * OFFICIAL_SAMPLER.nfe_per_frame
    for name, value in timing.items():
        print(f"{name}: {value:.3f} s")

    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump({"threads": args.threads, "clips": args.clips, "fast_sampler": config["sampling"],
                       "quality": rows, "best": best, "timing": timing}, file, indent=1)


if __name__ == "__main__":
    main()
