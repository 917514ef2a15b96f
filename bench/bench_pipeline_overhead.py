"""Our AnimateDiff job (worker thread, previews every step, chunked decode, MP4 + sidecar) against
a direct ``AnimateDiffPipeline`` call on the same tiny components, same seed and steps.

Target: job / direct <= 1.05.
"""

import statistics
import sys
import tempfile

import torch
from _common import ADAPTER, SD15, best_of, tiny_model_paths

from backends.animatediff.settings import LongVideoSettings
from backends.core.runtime import Runtime
from backends.core.video_io import write_mp4
from backends.engines import run_engine

FRAMES, SIZE, STEPS, SEED, REPEATS = 16, 128, 10, 0, 5


def main() -> None:
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)  # 1 suits a shared 2-core machine
    paths = tiny_model_paths()
    runtime = Runtime.create(demo=True, offline=True, force_cpu=True, model_paths=paths,
                             output_dir=tempfile.mkdtemp())
    settings = LongVideoSettings(prompt="a boat", frames=FRAMES, steps=STEPS, width=SIZE, height=SIZE, seed=SEED)
    list(run_engine("animatediff", settings, runtime=runtime))  # load and warm up

    from backends.animatediff.pipeline import load_animatediff

    pipe = load_animatediff(runtime)

    def direct(write: bool):
        frames = pipe(prompt=settings.prompt, negative_prompt=settings.negative_prompt, num_frames=FRAMES,
                      height=SIZE, width=SIZE, num_inference_steps=STEPS, guidance_scale=settings.guidance,
                      generator=torch.Generator("cpu").manual_seed(SEED), output_type="np").frames[0]
        if write:
            write_mp4(frames, tempfile.mktemp(suffix=".mp4"), settings.fps)

    # Interleaved repeats, medians: load from other processes hits all three alike.
    runs = {"job": [], "bare": [], "with_file": []}
    for _ in range(REPEATS):
        runs["job"].append(best_of(lambda: list(run_engine("animatediff", settings, runtime=runtime)), 1))
        runs["bare"].append(best_of(lambda: direct(False), 1))
        runs["with_file"].append(best_of(lambda: direct(True), 1))
    job, bare, with_file = (statistics.median(runs[k]) for k in ("job", "bare", "with_file"))
    print(f"{FRAMES} frames {SIZE}x{SIZE}, {STEPS} steps, tiny models, {torch.get_num_threads()} threads")
    print(f"direct pipeline call:             {bare:.3f} s")
    print(f"direct call + writing the MP4:    {with_file:.3f} s")
    print(f"our job (previews, MP4, sidecar): {job:.3f} s")
    print(f"ratio job / direct call:          {job / bare:.3f}  (target <= 1.05)")
    print(f"ratio job / (direct + MP4):       {job / with_file:.3f}")


if __name__ == "__main__":
    main()
