"""The Models panel: which weights each engine needs, whether they are here, and downloads."""

from __future__ import annotations

import gradio as gr

from backends.core.jobs import CancelToken, JobCancelled, Log, Progress
from backends.core.runtime import Runtime
from backends.weights import download, download_choices, reused_weights, weight_rows

from .common import USER_ERRORS

HEADERS = ["engine", "weights", "repository", "here", "where", "size"]
WIDTHS = ["20%", "16%", "30%", "7%", "16%", "11%"]
DOWNLOADS_OFF = ("Downloads are off on this shared deployment: each is several GB and any visitor could start "
                 "one. The operator fetches weights on the server, or allows downloads here with --allow-downloads.")


def build(runtime: Runtime) -> None:
    with gr.Accordion("Models", open=False):
        gr.Markdown(
            "Weights load on first use and stay cached. Offline? Put copies of the repositories in "
            "`$FLOWSTUDIO_MODELS_DIR/<org>/<name>` or pass `--model-path REPO=PATH`. "
            + "; ".join(reused_weights()) + "."
        )
        table = gr.Dataframe(headers=HEADERS, column_widths=WIDTHS, interactive=False, wrap=True)
        gr.on(None, lambda: weight_rows(runtime), outputs=table, api_visibility="private")  # filled on page load
        choices = download_choices()
        with gr.Row():
            engine = gr.Dropdown(choices, value=choices[0][1], label="Engine", scale=2)
            optional = gr.Checkbox(False, label="Also optional weights (e.g. the IP-Adapter for reference images)",
                                   scale=2)
            fetch = gr.Button("Download", scale=1, interactive=runtime.downloads)
            refresh = gr.Button("Refresh", scale=1)
        status = gr.Markdown("" if runtime.downloads else DOWNLOADS_OFF)

    def fetch_weights(name: str, with_optional: bool, progress=gr.Progress()):
        if not runtime.downloads:  # the button is off; the API and MCP endpoint refuse too
            raise gr.Error(DOWNLOADS_OFF, print_exception=False)
        if runtime.demo:
            yield "Demo mode uses tiny local models; nothing to download.", gr.skip()
            return
        messages = []
        try:
            for event in download(name, cancel=CancelToken(), runtime=runtime, optional=with_optional):
                if isinstance(event, Progress):
                    progress((event.step, event.total), desc=event.describe())
                elif isinstance(event, Log):
                    messages.append(event.message)
                    yield "\n".join(f"- {m}" for m in messages), gr.skip()
        except (JobCancelled, *USER_ERRORS) as error:
            raise gr.Error(str(error), print_exception=False) from None
        yield "\n".join(f"- {m}" for m in messages + ["done"]), weight_rows(runtime)

    fetch.click(fetch_weights, inputs=[engine, optional], outputs=[status, table], api_name="download_weights", concurrency_id="download")
    refresh.click(lambda: weight_rows(runtime), outputs=table, api_visibility="private")
