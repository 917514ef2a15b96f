"""Pyramid Flow, streamed unit by unit: the main engine of the Long text-to-video tab (built inside
``ui/long_video``) and, from a picture, a second engine of the Image-to-video tab."""

from __future__ import annotations

import gradio as gr

from backends.consisti2v.example import EXAMPLE_IMAGE, EXAMPLE_PROMPT
from backends.core.presets import load_preset
from backends.core.runtime import Runtime
from backends.core.settings import with_defaults
from backends.pyramid_flow.settings import (
    ENGINE, I2V_ENGINE, OFFLOADS, RESOLUTIONS, VARIANTS, PyramidFlowI2VSettings, PyramidFlowSettings,
    recommended_guidance, resolution_sizes,
)

from .common import weights_notice
from .examples import examples, quick_prompts
from .job_panel import job_panel, wire_panel, wire_run

TAB_ID = "long_video_pyramid"
I2V_TAB_ID = "image_to_video_pyramid"


def build(runtime: Runtime, from_image: bool = False) -> None:
    """The controls and panel; ``from_image``: image-to-video (the picture becomes the first frame)."""
    engine, tab_id = (I2V_ENGINE, I2V_TAB_ID) if from_image else (ENGINE, TAB_ID)
    settings_cls = PyramidFlowI2VSettings if from_image else PyramidFlowSettings
    preset = load_preset(engine).for_mode(runtime.demo)
    d, lim = preset.defaults, preset.limits
    sizes, recommended = resolution_sizes(runtime.demo), recommended_guidance()
    later = "i2v_video_guidance" if from_image else "video_guidance"  # the authors advise 4 from a picture, else 5

    def resolution_info(resolution: str) -> str:
        width, height = sizes[resolution]
        return f"{width}x{height}, up to {lim['seconds'][resolution][1]:g} s at 24 fps"

    with gr.Row():
        with gr.Column(scale=1):
            controls = {}
            if from_image:
                controls["image"] = gr.Image(label="First frame", type="filepath", sources=["upload"],
                                             elem_id=f"{tab_id}_image")
            controls |= {
                "prompt": gr.Textbox(label="Prompt", lines=3, elem_id=f"{tab_id}_prompt",
                                     placeholder="a koi pond in the rain, cinematic, detailed"),
                "prompt_suffix": gr.Textbox(label="Prompt suffix", value=d["prompt_suffix"],
                                            info="The official pipeline always appends this; edit or clear it."),
                "negative_prompt": gr.Textbox(label="Negative prompt", value=d["negative_prompt"], lines=2),
            }
            with gr.Row():
                controls["variant"] = gr.Radio(list(VARIANTS), value=d["variant"], label="Model",
                                               info="miniflux (newer, default) or the SD3-based one")
                controls["resolution"] = gr.Radio(list(RESOLUTIONS), value=d["resolution"], label="Resolution",
                                                  info=resolution_info(d["resolution"]))
            weights_notice(runtime, engine, variant=controls["variant"], resolution=controls["resolution"])
            seconds_range = lim["seconds"][d["resolution"]]
            controls["seconds"] = gr.Slider(*seconds_range, value=min(d["seconds"], seconds_range[1]), step=1 / 3,
                                            label="Duration (seconds)", info="Each third of a second is one more latent frame.")
            first = recommended[d["resolution"]]
            with gr.Row():
                controls["guidance"] = gr.Slider(*lim["guidance"], value=first["guidance"], step=0.5,
                                                 label="Guidance (first frame)", info="Recommended: 7 at 384p, 9 at 768p")
                controls["video_guidance"] = gr.Slider(*lim["video_guidance"], value=first[later], step=0.5,
                                                       label="Guidance (later frames)",
                                                       info=f"Recommended: {first[later]:g}")
            with gr.Row():
                if not from_image:  # from a picture the first frame is the picture
                    controls["image_steps"] = gr.Slider(*lim["image_steps"], value=d["image_steps"], step=1,
                                                        label="Steps per stage, first frame")
                controls["video_steps"] = gr.Slider(*lim["video_steps"], value=d["video_steps"], step=1,
                                                    label="Steps per stage, later frames")
            with gr.Row():
                controls["seed"] = gr.Number(value=d["seed"], precision=0, label="Seed (-1 = random)")
                controls["vae_tile"] = gr.Slider(*lim["vae_tile"], value=d["vae_tile"], step=64, label="VAE tile (px)",
                                                 info="Smaller tiles decode with less memory")
            policy = runtime.policy  # offload means something on a CUDA card of one's own only
            controls["cpu_offload"] = gr.Radio(list(OFFLOADS), value=d["cpu_offload"], label="CPU offload",
                                               visible=policy.device == "cuda" and not policy.zero_gpu,
                                               info=f"auto = {policy.offload} here; sequential needs the least VRAM, slowest")
            with gr.Row():
                run_button = gr.Button("Generate with Pyramid Flow", variant="primary", elem_id=f"{tab_id}_run")
                stop_button = gr.Button("Stop (keeps finished frames)", variant="stop", elem_id=f"{tab_id}_stop")
            if from_image:
                examples([[str(EXAMPLE_IMAGE), EXAMPLE_PROMPT]], [controls["image"], controls["prompt"]],
                         ["A lake at sunset (drawn by code), gentle waves"])
            quick_prompts(tab_id, controls["prompt"])
        with gr.Column(scale=1):
            panel = job_panel(runtime, engine, tab_id, artifact_labels=("so far",),
                              preview_label="Live preview (current latent frame, every step)")

    def on_resolution(resolution: str):
        low, high = lim["seconds"][resolution]
        values = recommended[resolution]
        return (gr.update(info=resolution_info(resolution)), gr.update(minimum=low, maximum=high),
                gr.update(value=values["guidance"]), gr.update(value=values[later]))

    controls["resolution"].change(
        on_resolution, inputs=controls["resolution"], api_visibility="private",
        outputs=[controls["resolution"], controls["seconds"], controls["guidance"], controls["video_guidance"]],
    )
    wire_run(panel, run_button, controls,
             lambda values: with_defaults(settings_cls, preset.defaults, **{**values, "image": values.get("image") or ""}),
             api_name=tab_id, optional=("image",) if from_image else ())
    wire_panel(panel, stop_button, {k: c for k, c in controls.items() if k != "image"})
