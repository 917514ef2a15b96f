"""Tab 4 — Long text-to-video. Main engine Pyramid Flow (``ui/long_video_pyramid``), light engine
AnimateDiff + FreeNoise."""

from __future__ import annotations

import gradio as gr

from backends.animatediff.settings import ENGINE, LongVideoSettings
from backends.core.presets import load_preset
from backends.core.runtime import Runtime
from backends.core.settings import with_defaults

from . import long_video_pyramid
from .common import demo_banner, lora_picker, quality_presets, weights_notice
from .examples import quick_prompts
from .job_panel import job_panel, wire_panel, wire_run

TAB_ID = "long_video"


def build(runtime: Runtime) -> None:
    preset = load_preset(ENGINE).for_mode(runtime.demo)
    d, lim = preset.defaults, preset.limits
    demo_banner(runtime)
    with gr.Accordion("Pyramid Flow — main engine: up to 10 s at 24 fps, streamed frame by frame", open=True):
        long_video_pyramid.build(runtime)
    with gr.Accordion("AnimateDiff + FreeNoise — light engine: 16 to 256 frames on 8 GB", open=True):
        build_animatediff(runtime, preset, d, lim)


def build_animatediff(runtime: Runtime, preset, d, lim) -> None:
    weights_notice(runtime, ENGINE)
    gr.Markdown("Write a prompt; get a video of 16 to 256 frames. Above 16 frames FreeNoise generates in overlapping windows.")
    with gr.Row():
        with gr.Column(scale=1):
            controls = {
                "prompt": gr.Textbox(label="Prompt", lines=3, elem_id=f"{TAB_ID}_prompt",
                                     placeholder="a koi pond in the rain, cinematic, detailed"),
                "negative_prompt": gr.Textbox(label="Negative prompt", value=d["negative_prompt"]),
            }
            quality = gr.Radio(list(preset.quality), value="balanced", label="Quality preset")
            controls["frames"] = gr.Slider(*lim["frames"], value=d["frames"], step=1, label="Frames")
            with gr.Row():
                controls["width"] = gr.Slider(*lim["width"], value=d["width"], step=lim["size_multiple"], label="Width")
                controls["height"] = gr.Slider(*lim["height"], value=d["height"], step=lim["size_multiple"], label="Height")
            with gr.Row():
                controls["steps"] = gr.Slider(*lim["steps"], value=d["steps"], step=1, label="Steps",
                                              elem_id=f"{TAB_ID}_steps")
                controls["guidance"] = gr.Slider(*lim["guidance"], value=d["guidance"], step=0.5, label="Guidance")
            with gr.Row():
                controls["seed"] = gr.Number(value=d["seed"], precision=0, label="Seed (-1 = random)")
                controls["fps"] = gr.Slider(*lim["fps"], value=d["fps"], step=1, label="FPS")
            controls["context_stride"] = gr.Slider(
                *lim["context_stride"], value=d["context_stride"], step=1, label="FreeNoise stride",
                info="Frames between window starts (windows of 16). Smaller = smoother, slower.")
            loras = lora_picker(runtime)
            with gr.Row():
                run_button = gr.Button("Generate", variant="primary", elem_id=f"{TAB_ID}_run")
                stop_button = gr.Button("Stop", variant="stop", elem_id=f"{TAB_ID}_stop")
            quick_prompts(TAB_ID, controls["prompt"])
        with gr.Column(scale=1):
            panel = job_panel(runtime, ENGINE, TAB_ID)

    wire_run(panel, run_button, controls, lambda values: with_defaults(LongVideoSettings, preset.defaults, **values),
             api_name=TAB_ID, loras=loras)
    wire_panel(panel, stop_button, controls)
    quality_presets(quality, preset, runtime, controls)
