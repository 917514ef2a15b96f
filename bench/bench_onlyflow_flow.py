"""OnlyFlow benchmarks on this machine's CPU.

1. Flow extraction: frame pairs per second at 512x512 with the offline method (OpenCV DIS).
2. Flow conditioning: time per denoising step (one UNet call, guidance batch of 2) with the
   flow processors installed (gamma 0.75) vs plain AnimateDiff, on the tiny models, as a ratio
   measured in the same run (interleaved repeats, medians; installing the processors, done once
   per generation, is not timed), for a 16-frame clip and a 24-frame FreeNoise clip.

Run: python bench/bench_onlyflow_flow.py [--pairs 32] [--repeats 7] [--torch-threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends.onlyflow.attention_processor import FlowContext, install_flow_processors  # noqa: E402
from backends.onlyflow.flow_encoder import encode_flow  # noqa: E402
from backends.onlyflow.optical_flow import DisFlowEstimator  # noqa: E402
from backends.animatediff.pipeline import configure_free_noise  # noqa: E402
from backends.onlyflow.tiny import tiny_onlyflow_adapter  # noqa: E402


def textured_clip(num_frames: int, size: int, shift: int = 3) -> np.ndarray:
    rng = np.random.default_rng(0)
    margin = num_frames * shift + 8
    noise = (rng.random((size + 2 * margin, size + 2 * margin, 3)) * 255).astype(np.uint8)
    canvas = cv2.GaussianBlur(noise, (0, 0), 2)
    frames = [canvas[margin : margin + size, margin - i * shift : margin - i * shift + size] for i in range(num_frames)]
    return np.ascontiguousarray(np.stack(frames))


def bench_flow_extraction(pairs: int, repeats: int) -> None:
    frames = textured_clip(pairs + 1, 512)
    estimator = DisFlowEstimator()
    estimator(frames[:2])  # warm-up
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        flow = estimator(frames)
        rates.append(pairs / (time.perf_counter() - start))
    mean_x, mean_y = flow[:, :, 16:-16, 16:-16].mean(axis=(0, 2, 3))
    print(
        f"flow extraction ({estimator.name}, 512x512, cv2 threads {cv2.getNumThreads()}): "
        f"{statistics.median(rates):.1f} frame pairs/s (median of {repeats}; target >= 30); "
        f"mean flow ({mean_x:.2f}, {mean_y:.2f}) px for a (3, 0) shift"
    )


def bench_conditioning(num_frames: int, repeats: int, pipe, adapter) -> None:
    free_noise = num_frames > 16
    configure_free_noise(pipe, num_frames, 16, 12, "sdpa")
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(2, 4, num_frames, 8, 8, generator=generator)  # guidance doubles the batch
    text = torch.randn(2 * num_frames, 77, 32, generator=generator)
    timestep = torch.tensor([500])
    flow = torch.randn(1, 2, num_frames, 64, 64, generator=generator) * 3

    start = time.perf_counter()
    features = encode_flow(adapter.flow_encoder, flow, 16, 12)
    encode_s = time.perf_counter() - start

    def timed_step() -> float:
        start = time.perf_counter()
        pipe.unet(sample, timestep, encoder_hidden_states=text)
        return time.perf_counter() - start

    context = FlowContext()
    plain_times, conditioned_times = [], []
    with torch.no_grad():
        for repeat in range(repeats + 1):  # the first round warms up
            plain_time = timed_step()
            with install_flow_processors(pipe.unet, adapter.processors, context), context.use(features, 0.75):
                conditioned_time = timed_step()
            if repeat:
                plain_times.append(plain_time)
                conditioned_times.append(conditioned_time)
    plain_s, conditioned_s = statistics.median(plain_times), statistics.median(conditioned_times)
    print(
        f"denoising step, tiny models, {num_frames} frames{' (FreeNoise)' if free_noise else ''}: "
        f"plain {plain_s * 1e3:.1f} ms, with flow {conditioned_s * 1e3:.1f} ms, "
        f"ratio {conditioned_s / plain_s:.2f}x; flow encoding once per clip {encode_s * 1e3:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--torch-threads", type=int, default=1, help="1 suits a shared 2-core machine")
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    print(f"torch threads {torch.get_num_threads()}")
    bench_flow_extraction(args.pairs, args.repeats)
    from diffusers import AnimateDiffPipeline, MotionAdapter

    from backends.core.tiny_models import build_tiny_motion_adapter, build_tiny_sd15

    folder = Path(tempfile.mkdtemp())
    build_tiny_sd15(folder / "sd15")
    build_tiny_motion_adapter(folder / "adapter")
    pipe = AnimateDiffPipeline.from_pretrained(folder / "sd15", motion_adapter=MotionAdapter.from_pretrained(folder / "adapter"))
    adapter = tiny_onlyflow_adapter(pipe.unet)
    for num_frames in (16, 24):
        bench_conditioning(num_frames, args.repeats, pipe, adapter)


if __name__ == "__main__":
    main()
