"""Time until the app answers HTTP, against a one-textbox Gradio app started the same way.

Target: ours / baseline <= 1.5, because nothing heavy loads at start.
"""

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


def main() -> None:
    script = Path(tempfile.mkdtemp()) / "baseline.py"
    script.write_text(BASELINE.format(port=7891))
    baseline = best_of(lambda: time_to_http([sys.executable, str(script)], 7891))
    ours = best_of(lambda: time_to_http([sys.executable, "app.py", "--port", "7892", "--offline",
                                         "--output-dir", tempfile.mkdtemp()], 7892))
    print(f"one-textbox Gradio app: {baseline:.2f} s")
    print(f"Flow Studio (5 tabs):   {ours:.2f} s")
    print(f"ratio: {ours / baseline:.2f}  (target <= 1.5)")


if __name__ == "__main__":
    main()
