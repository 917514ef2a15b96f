"""The Models panel: which weights each engine needs, whether they are here, and downloads."""

from __future__ import annotations

import gradio as gr

from backends.core.jobs import CancelToken, JobCancelled, Log, Progress
from backends.core.runtime import Runtime
from backends.engines import ENGINES
from backends.weights import download, weight_rows

from .common import USER_ERRORS

HEADERS = ["engine", "role", "repository", "present", "where", "size"]


def build(runtime: Runtime) -> None:
    with gr.Accordion("Models", open=False):
        gr.Markdown(
            "Weights load on first use and stay cached. Offline? Put copies of the repositories in "
            "`$FLOWSTUDIO_MODELS_DIR/<org>/<name>` or pass `--model-path REPO=PATH`."
        )
        table = gr.Dataframe(headers=HEADERS, interactive=False, wrap=True)
        gr.on(None, lambda: weight_rows(runtime), outputs=table, api_visibility="private")  # filled on page load
        with gr.Row():
            engine = gr.Dropdown(list(ENGINES), value=next(iter(ENGINES)), label="Engine", scale=2)
            optional = gr.Checkbox(False, label="Also optional weights (e.g. the IP-Adapter for reference images)",
                                   scale=2)
            fetch = gr.Button("Download", scale=1)
            refresh = gr.Button("Refresh", scale=1)
        status = gr.Markdown()

    def fetch_weights(name: str, with_optional: bool, progress=gr.Progress()):
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
