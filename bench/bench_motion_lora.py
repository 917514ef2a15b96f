"""Seconds per MotionDirector training step, with and without gradient checkpointing, and the
step's peak memory (CUDA: peak allocated; CPU: the process's peak RSS). Each setting runs in its
own process so peaks do not mix. Baseline: the same step without gradient checkpointing.

    python bench/bench_motion_lora.py               # tiny models, 64², 8 frames (CPU-friendly)
    python bench/bench_motion_lora.py --full-size   # SD1.5 + AnimateDiff v3 shapes (random weights),
                                                    # the "preferred" preset: 384², 16 frames, rank 64

Goal (GPU, --full-size): at most 12 GB at "preferred" with checkpointing on, fp16 autocast.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402


def build_unet(full_size: bool):
    from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel

    from backends.core.tiny_models import tiny_motion_adapter, tiny_unet_2d

    if not full_size:
        return UNetMotionModel.from_unet2d(tiny_unet_2d(), tiny_motion_adapter()), 32
    unet = UNet2DConditionModel(cross_attention_dim=768, attention_head_dim=8)  # SD1.5's shapes
    return UNetMotionModel.from_unet2d(unet, MotionAdapter(use_motion_mid_block=False)), 768  # v3's


def one_setting(full_size: bool, checkpointing: bool, steps: int) -> dict:
    from diffusers import DDPMScheduler

    from backends.core.presets import load_preset
    from backends.motion_director.lora import add_motion_director_loras, lora_parameters
    from backends.motion_director.trainer import EncodedClip, draw_step, make_optimizer, training_step

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    size, frames, rank = (384, 16, 64) if full_size else (64, 8, 4)
    unet, text_dim = build_unet(full_size)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    unet = unet.to(device, dtype)
    add_motion_director_loras(unet, rank, dropout=0.1)
    if checkpointing:
        unet.enable_gradient_checkpointing()
    unet.train()
    optimizers = {a: make_optimizer(lora_parameters(unet, a), 1e-4, 0.01, "adamw") for a in ("spatial", "temporal")}
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
    autocast = (lambda: torch.autocast("cuda", dtype=torch.float16)) if device.type == "cuda" else \
        (lambda: torch.autocast("cpu", enabled=False))
    clip = EncodedClip("bench", "", torch.randn(1, 4, frames, size // 8, size // 8, device=device),
                       torch.randn(1, 77, text_dim, device=device, dtype=dtype))
    noise = DDPMScheduler(**load_preset("motion_director").extra["noise"])
    generator, shared = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
    times = []
    for index in range(steps + 1):  # the first step warms up
        draws = draw_step(clip.latents, 1000, 0.0, generator, shared)  # both paths every step
        if device.type == "cuda":
            torch.cuda.synchronize()
            if index == 1:
                torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        training_step(unet, clip, draws, noise, optimizers, scaler, autocast, 1.0)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated() if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"device": device.type, "size": size, "frames": frames, "rank": rank, "checkpointing": checkpointing,
            "seconds_per_step": statistics.median(times[1:]), "peak_gb": peak / 2**30,
            "peak_kind": "cuda max allocated" if device.type == "cuda" else "process peak RSS"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--full-size", action="store_true")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--one", choices=("on", "off"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_setting(args.full_size, args.one == "on", args.steps)))
        return
    results = {}
    for setting in ("off", "on"):
        command = [sys.executable, __file__, "--one", setting, "--steps", str(args.steps)]
        output = subprocess.run(command + (["--full-size"] if args.full_size else []), check=True,
                                capture_output=True, text=True).stdout
        results[setting] = json.loads(output.strip().splitlines()[-1])
    off, on = results["off"], results["on"]
    print(f"{off['device']}, {off['size']}² x {off['frames']} frames, rank {off['rank']} ({off['peak_kind']})")
    for name, r in (("without checkpointing", off), ("with checkpointing   ", on)):
        print(f"  {name}: {r['seconds_per_step']:.3f} s/step, peak {r['peak_gb']:.2f} GB")
    print(f"  checkpointing: {on['seconds_per_step'] / off['seconds_per_step']:.2f}x the time, "
          f"{on['peak_gb'] / off['peak_gb']:.2f}x the peak memory")


if __name__ == "__main__":
    main()
