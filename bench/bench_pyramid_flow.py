"""Pyramid Flow: seconds and peak memory per unit against the unit index (the history grows).

For each DiT size (tiny and a mid-size random miniFLUX on CPU; the full-size miniFLUX config,
bf16, on CUDA) it runs the real sampler (``sampling.sample_units``: 3 stages, CFG batch of 2,
history at decreasing resolution) on random text states, and decodes each unit with the
streaming causal VAE (tiny VAE on CPU, the full-size VAE config on CUDA). Per unit it prints
the seconds, the ratio to unit 1 (the baseline: the first video unit, which has one history
frame), and peak memory: CUDA allocated memory per unit and the process's peak RSS.

History cache: none is used, because none is exact. The official code recomputes every history
token at every step, and that is required: each block's adaLN modulation depends on the timestep,
so the keys and values of the history tokens change from step to step (the causal mask only
keeps them from seeing the current frame). The cost of a unit therefore grows with the history;
the ratios below show by how much.

    python bench/bench_pyramid_flow.py [--sizes tiny mid] [--units 6] [--steps 2] [--json out.json]
    python bench/bench_pyramid_flow.py --device cuda --sizes full --units 16   # on a GPU
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends.pyramid_flow import scheduler as sched  # noqa: E402
from backends.pyramid_flow.causal_vae import CausalVaeConfig, CausalVideoVAE, StreamingDecoder  # noqa: E402
from backends.pyramid_flow.miniflux_dit import MiniFluxConfig, PyramidFluxTransformer  # noqa: E402
from backends.pyramid_flow.sampling import TextConditioning, UnitSteps, block_noise_sampler, sample_units  # noqa: E402
from backends.pyramid_flow.tiny import TINY_VAE, randomize, tiny_dit_config  # noqa: E402

# (DiT config, VAE config, (width, height) in pixels)
SIZES = {
    "tiny": (tiny_dit_config(in_channels=16), TINY_VAE, (128, 64)),
    "mid": (tiny_dit_config(in_channels=16, num_layers=2, num_single_layers=4, attention_head_dim=64,
                            num_attention_heads=6, axes_dims_rope=(16, 24, 24), joint_attention_dim=256,
                            pooled_projection_dim=64), TINY_VAE, (320, 192)),
    "full": (MiniFluxConfig(), CausalVaeConfig(), (640, 384)),  # miniflux 384p
}
TEXT_TOKENS = 128


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux


def build(config, cls, device, dtype, seed):
    with torch.device(device):
        model = cls(config)
    return randomize(model, seed).to(dtype)


def run_size(name: str, units: int, steps: int, device: str) -> list[dict]:
    dit_config, vae_config, (width, height) = SIZES[name]
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    dit = build(dit_config, PyramidFluxTransformer, device, dtype, 0).requires_grad_(False)
    vae = build(vae_config, CausalVideoVAE, device, dtype, 1).requires_grad_(False)
    generator = torch.Generator().manual_seed(0)
    text = TextConditioning(
        torch.randn(2, TEXT_TOKENS, dit_config.joint_attention_dim, generator=generator).to(device, dtype),
        torch.ones(2, TEXT_TOKENS, dtype=torch.long, device=device),
        torch.randn(2, dit_config.pooled_projection_dim, generator=generator).to(device, dtype),
    )
    noise = torch.randn(1, dit_config.latent_channels, units, height // 8, width // 8, generator=generator).to(device, dtype)
    plan = UnitSteps((steps,) * 3, 7.0), UnitSteps((steps,) * 3, 5.0)
    stream, rows = StreamingDecoder(vae, 256), []
    with torch.no_grad():
        iterator = sample_units(dit, noise, text, *plan, sched.pyramid_schedule(), block_noise_sampler(generator))
        for unit in range(units):
            if device == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            started = time.perf_counter()
            latent = next(iterator)[-1]
            dit_done = time.perf_counter()
            stream.push(latent.to(vae.dtype))
            if device == "cuda":
                torch.cuda.synchronize()
            row = {"size": name, "unit": unit, "dit_s": dit_done - started, "decode_s": time.perf_counter() - dit_done,
                   "peak_rss_gb": round(peak_rss_gb(), 3)}
            if device == "cuda":
                row["peak_vram_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
            rows.append(row)
    baseline = rows[1]["dit_s"] if len(rows) > 1 else rows[0]["dit_s"]
    for row in rows:
        row["ratio_to_unit_1"] = round(row["dit_s"] / baseline, 3)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["tiny", "mid"], choices=sorted(SIZES))
    parser.add_argument("--units", type=int, default=6)
    parser.add_argument("--steps", type=int, default=2, help="steps per stage, every unit")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for name in args.sizes:
        rows = run_size(name, args.units, args.steps, args.device)
        results += rows
        print(f"\n{name} ({args.device}, {args.steps} steps/stage): unit, DiT s, ratio to unit 1, decode s, peak RSS GB"
              + (", peak VRAM GB" if args.device == "cuda" else ""))
        for r in rows:
            extra = f"  {r['peak_vram_gb']:7.2f}" if "peak_vram_gb" in r else ""
            print(f"  {r['unit']:3d}  {r['dit_s']:8.3f}  {r['ratio_to_unit_1']:6.2f}  {r['decode_s']:7.3f}  {r['peak_rss_gb']:6.2f}{extra}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
