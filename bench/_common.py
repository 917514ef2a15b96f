"""Helpers shared by the benchmarks: tiny weights built once into a temp folder, and timing."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends.core.tiny_models import build_tiny_motion_adapter, build_tiny_sd15  # noqa: E402

SD15 = "stable-diffusion-v1-5/stable-diffusion-v1-5"
ADAPTER = "guoyww/animatediff-motion-adapter-v1-5-3"


def tiny_model_paths() -> dict[str, Path]:
    root = Path(tempfile.mkdtemp(prefix="flowstudio-bench-"))
    build_tiny_sd15(root / "sd15")
    build_tiny_motion_adapter(root / "adapter")
    return {SD15: root / "sd15", ADAPTER: root / "adapter"}


def best_of(function, repeats: int = 3) -> float:
    """Median wall time of ``function()`` over ``repeats`` runs, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
