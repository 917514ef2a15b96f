"""A tab whose engine is not built yet: one line that says so, and a named API endpoint."""

from __future__ import annotations

import gradio as gr


def build(tab_id: str, message: str) -> None:
    gr.Markdown(message)
    # Every tab answers on the API under its name, even before its engine exists.
    hidden = gr.Button(visible=False)
    note = gr.Markdown(visible=False)
    hidden.click(lambda: message, outputs=note, api_name=tab_id)
