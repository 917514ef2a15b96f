"""Start Flow Studio as a ZeroGPU Space would, with the real `spaces` package, on this CPU build.

`spaces` refuses a torch without CUDA; these three attributes make the CPU build look like a
CUDA one to it, and its own patching then simulates CUDA placement (weights "moved to cuda" at
start-up are packed, as on a Space). Its start-up report, which calls the ZeroGPU device API,
is replaced by a line that prints how many GPU functions were decorated when launch() ran.

    python tests/ui/zerogpu_sim.py [app flags]
"""

import os
import sys
from pathlib import Path

import torch


def not_in_bad_fork() -> bool:  # a module-level function: `spaces` pickles it into a subprocess
    return False


def simulate_cuda() -> None:
    torch.version.cuda = "12.4"
    torch._C._cuda_init = lambda: None
    torch.cuda._is_in_bad_fork = not_in_bad_fork


if __name__ == "__main__":
    os.environ.update(SPACES_ZERO_GPU="true", SPACES_ZERO_DEVICE_API_URL="http://127.0.0.1:9")
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    simulate_cuda()
    import app  # imports `spaces` first, as on a Space
    import spaces.zero.client as client
    from spaces.zero import decorator

    client.startup_report = lambda: print(f"decorated at launch: {len(decorator.decorated_cache)}", flush=True)
    import ui.zerogpu as zerogpu

    demo = app.launch(app.parse_args(sys.argv[1:]), prevent_thread_lock=True)
    print(f"gpu function wrapped by spaces: {getattr(zerogpu._gpu_call, 'zerogpu', 'missing') is None}", flush=True)
    demo.close()
