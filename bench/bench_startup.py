"""Time until the app answers HTTP, against a one-textbox Gradio app started the same way.

Target: ours / baseline <= 1.5, because nothing heavy loads at start; warm (files in the OS
cache, as on a second start) and cold (the OS file cache dropped before each start, as after a
reboot: needs root, else only the warm numbers are printed).
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import best_of

ROOT = Path(__file__).resolve().parents[1]
BASELINE = """
import gradio as gr
with gr.Blocks() as demo:
    gr.Textbox()
demo.launch(server_port={port})
"""


def time_to_http(command: list[str], port: int) -> float:
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                return time.perf_counter() - start
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError(f"{command} exited early")
                time.sleep(0.05)
    finally:
        process.terminate()
        process.wait()


def drop_file_cache() -> bool:
    """Empty the OS page cache, so the next start reads every file from disk (root only)."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def main() -> None:
    script = Path(tempfile.mkdtemp()) / "baseline.py"
    script.write_text(BASELINE.format(port=7891))
    baseline_command = [sys.executable, str(script)]
    ours_command = [sys.executable, "app.py", "--port", "7892", "--offline", "--output-dir", tempfile.mkdtemp()]
    baseline = best_of(lambda: time_to_http(baseline_command, 7891))
    ours = best_of(lambda: time_to_http(ours_command, 7892))
    print(f"warm: one-textbox Gradio app {baseline:.2f} s, Flow Studio (5 tabs) {ours:.2f} s, "
          f"ratio {ours / baseline:.2f}  (target <= 1.5)")
    if not drop_file_cache():
        print("cold: not measured (dropping the OS file cache needs root)")
        return
    cold = {"baseline": [], "ours": []}
    for _ in range(3):  # interleaved, the cache dropped before every start
        for name, command, port in (("baseline", baseline_command, 7891), ("ours", ours_command, 7892)):
            drop_file_cache()
            cold[name].append(time_to_http(command, port))
    baseline, ours = statistics.median(cold["baseline"]), statistics.median(cold["ours"])
    print(f"cold: one-textbox Gradio app {baseline:.2f} s, Flow Studio (5 tabs) {ours:.2f} s, "
          f"ratio {ours / baseline:.2f}  (target <= 1.5)")


if __name__ == "__main__":
    main()
