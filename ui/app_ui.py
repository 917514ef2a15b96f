"""Flow Studio's page: five tabs, each built by its own module, and the Models panel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import gradio as gr

from backends.core.runtime import Runtime

from . import flow_video, frame_prediction, image_to_video, long_video, lora_trainer, models_panel

# Gradio puts a Markdown's classes on its block and on the text inside it: one bar, on the block.
CSS = "div.block.demo-note {border-left: 4px solid #f59e0b; padding-left: 8px;}"


@dataclass(frozen=True)
class Tab:
    id: str
    title: str
    build: Callable[[Runtime], None]


TABS = (
    Tab(flow_video.TAB_ID, "Flow-guided video-to-video", flow_video.build),
    Tab(lora_trainer.TAB_ID, "Motion LoRA trainer", lora_trainer.build),
    Tab(image_to_video.TAB_ID, "Image-to-video", image_to_video.build),
    Tab(long_video.TAB_ID, "Long text-to-video", long_video.build),
    Tab(frame_prediction.TAB_ID, "Frame prediction", frame_prediction.build),
)


def build_app(runtime: Runtime, tabs: list[str] | None = None) -> gr.Blocks:
    """The whole page; ``tabs`` limits which tabs are shown (ids from ``TABS``)."""
    chosen = [tab for tab in TABS if not tabs or tab.id in tabs]
    if runtime.policy.zero_gpu:  # `spaces` wants its GPU functions decorated before launch()
        from . import zerogpu

        zerogpu.decorate()
    with gr.Blocks(title="Flow Studio") as app:
        gr.Markdown("# Flow Studio\nResearch video generators in one app: pick a tab, set it up, press the button.")
        with gr.Tabs():
            for tab in chosen:
                with gr.Tab(tab.title, id=tab.id):
                    tab.build(runtime)
        models_panel.build(runtime)
    return app
