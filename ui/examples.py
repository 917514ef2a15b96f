"""What a first-time visitor can click: each tab's example inputs (small files in
``assets/examples/``, drawn by code) and its prompt suggestions (FramePack-style quick prompts,
``assets/examples/prompts.yaml``). A click fills the controls; the visitor presses the button."""

from __future__ import annotations

from typing import Any, Sequence

import gradio as gr

from backends.examples import EXAMPLES_DIR, example_prompts


def example_file(*parts: str) -> str:
    return str(EXAMPLES_DIR.joinpath(*parts))


def examples(rows: Sequence[Sequence[Any]], inputs: Sequence[gr.components.Component], labels: Sequence[str],
             label: str = "Examples — click one, then press the button") -> gr.Examples:
    return gr.Examples([list(row) for row in rows], inputs=list(inputs), example_labels=list(labels), label=label,
                       cache_examples=False, api_visibility="private")


def quick_prompts(tab_id: str, prompt: gr.Textbox) -> gr.Examples | None:
    """The tab's prompt suggestions under its prompt box (none when the tab has none)."""
    prompts = example_prompts(tab_id)
    if not prompts:
        return None
    return gr.Examples([[p] for p in prompts], inputs=[prompt], label="Prompt suggestions — click one",
                       cache_examples=False, api_visibility="private")
