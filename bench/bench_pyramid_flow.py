"""Pyramid Flow: seconds and memory per unit against the unit index (the history grows).

For each DiT size (tiny and a mid-size random miniFLUX on CPU; the full-size miniFLUX config,
bf16, on CUDA) it runs the real sampler (``sampling.sample_units``: 3 stages, CFG batch of 2,
history at decreasing resolution) on random text states, and decodes each unit with the
streaming causal VAE (tiny VAE on CPU, the full-size VAE config on CUDA), both placed with the
app's CPU offload (``--offload``, ``core.offload``). Per unit it prints the DiT seconds, their
ratio to unit 1 (the first video unit, one history frame), the decode seconds, the process's
RSS after the unit and its peak so far, and on CUDA the peak allocated VRAM of the unit and what
stays allocated after it (growth beyond the history would be a leak).

History cache: there is none to switch on, because none is exact. The official code recomputes
every history token at every step, and that is required: each block's adaLN modulation depends
on the timestep, so the keys and values of the history tokens change from step to step (the
causal mask only keeps them from seeing the current frame). What does repeat unchanged across a
stage's steps is the preparation of the DiT's inputs (patch embedding, RoPE tables, attention
mask: ``PyramidFluxTransformer.image_inputs``); the "inputs" column is its share of the DiT
time, the most an exact cache of it could save.

    python bench/bench_pyramid_flow.py [--sizes tiny mid] [--units 6] [--steps 2] [--offload none] [--json out.json]
    python bench/bench_pyramid_flow.py --device cuda --sizes full --units 16 --offload model   # on a GPU
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import psutil
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends.core.devices import OFFLOAD_MODES  # noqa: E402
from backends.core.offload import Placement  # noqa: E402
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
GB = 2**30


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux


def build(config, cls, device, dtype, seed):
    with torch.device(device):
        model = cls(config)
    return randomize(model, seed).to(dtype).requires_grad_(False)


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed_inputs(dit, device: str, spent: list[float]):
    """``dit.image_inputs`` that adds its seconds to ``spent[0]``."""
    inputs = dit.image_inputs

    def timed(*args):
        synchronize(device)
        started = time.perf_counter()
        out = inputs(*args)
        synchronize(device)
        spent[0] += time.perf_counter() - started
        return out

    return timed


def run_size(name: str, units: int, steps: int, device: str, offload: str) -> list[dict]:
    dit_config, vae_config, (width, height) = SIZES[name]
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    build_on = device if offload == "none" else "cpu"
    dit = build(dit_config, PyramidFluxTransformer, build_on, dtype, 0)
    vae = build(vae_config, CausalVideoVAE, build_on, dtype, 1)
    placement = Placement([dit, vae], device, offload)
    spent = [0.0]
    dit.image_inputs = timed_inputs(dit, device, spent)
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
            synchronize(device)
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            spent[0], started = 0.0, time.perf_counter()
            latent = next(iterator)[-1]
            synchronize(device)
            dit_done = time.perf_counter()
            stream.push(latent.to(vae.dtype))
            synchronize(device)
            row = {"size": name, "offload": offload, "unit": unit, "dit_s": dit_done - started,
                   "inputs_share": round(spent[0] / (dit_done - started), 4), "decode_s": time.perf_counter() - dit_done,
                   "rss_gb": round(psutil.Process().memory_info().rss / GB, 3), "peak_rss_gb": round(peak_rss_gb(), 3)}
            if device == "cuda":
                row["peak_vram_gb"] = round(torch.cuda.max_memory_allocated() / GB, 3)
                row["vram_after_gb"] = round(torch.cuda.memory_allocated() / GB, 3)
            rows.append(row)
    placement.release()
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
    parser.add_argument("--offload", default="none", choices=OFFLOAD_MODES, help="CPU offload of the DiT and VAE")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for name in args.sizes:
        rows = run_size(name, args.units, args.steps, args.device, args.offload)
        results += rows
        cuda = args.device == "cuda"
        print(f"\n{name} ({args.device}, {args.offload} offload, {args.steps} steps/stage): unit, DiT s, ratio to "
              "unit 1, inputs share, decode s, RSS GB, peak RSS GB" + (", peak VRAM GB, VRAM after GB" if cuda else ""))
        for r in rows:
            extra = f"  {r['peak_vram_gb']:7.2f}  {r['vram_after_gb']:7.2f}" if cuda else ""
            print(f"  {r['unit']:3d}  {r['dit_s']:8.3f}  {r['ratio_to_unit_1']:6.2f}  {r['inputs_share']:6.1%}  "
                  f"{r['decode_s']:7.3f}  {r['rss_gb']:6.2f}  {r['peak_rss_gb']:6.2f}{extra}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
