"""Tab 3 — Image-to-video (ConsistI2V): a picture and a prompt become a video that starts on it."""

from __future__ import annotations

import gradio as gr

from backends.consisti2v.example import EXAMPLE_IMAGE, EXAMPLE_PROMPT
from backends.consisti2v.first_frame import prepare_first_frame
from backends.consisti2v.settings import (
    CAMERA_MOTIONS, ENGINE, FILTERS, SIZE_MULTIPLE, STREAM_LABEL, ImageToVideoSettings,
)
from backends.core.presets import load_preset
from backends.core.runtime import Runtime
from backends.core.settings import with_defaults
from backends.core.video_io import VideoError

from . import long_video_pyramid
from .common import demo_banner, weights_notice
from .examples import examples, quick_prompts
from .job_panel import job_panel, wire_panel, wire_run

TAB_ID = "image_to_video"


def crop_preview(image: str | None, width: float, height: float):
    """What the model will get: the centre crop at the output size, and notes about it."""
    if not image:
        return None, ""
    try:
        frame = prepare_first_frame(image, int(width), int(height))
    except VideoError as error:
        return None, f"⚠️ {error}"
    return frame.pixels, "\n".join(f"⚠️ {note}" for note in frame.notes)


def build(runtime: Runtime) -> None:
    """Two engines, each in its own section: ConsistI2V, and Pyramid Flow from a picture."""
    demo_banner(runtime)
    with gr.Accordion("ConsistI2V — SD2.1-based, 16-frame chunks, consistent with your picture", open=True):
        build_consisti2v(runtime)
    with gr.Accordion("Pyramid Flow — your picture as the first frame, up to 10 s at 24 fps", open=False):
        long_video_pyramid.build(runtime, from_image=True)


def build_consisti2v(runtime: Runtime) -> None:
    weights_notice(runtime, ENGINE)
    preset = load_preset(ENGINE).for_mode(runtime.demo)
    d, lim = preset.defaults, preset.limits
    gr.Markdown(
        "Upload a picture and write what should happen: the video **starts on your picture** and stays consistent "
        "with it. Each chunk is 16 frames; more chunks continue from the last frame (16, 31, 46, … frames), and each "
        "finished chunk plays while the next renders."
    )
    with gr.Row():
        with gr.Column(scale=1):
            with gr.Row():
                image = gr.Image(label="First frame", type="filepath", sources=["upload"], elem_id=f"{TAB_ID}_image")
                preview = gr.Image(label="What the model gets (centre crop)", interactive=False, height=256)
            preview_notes = gr.Markdown()
            controls = {
                "image": image,
                "prompt": gr.Textbox(label="Prompt", lines=3, elem_id=f"{TAB_ID}_prompt",
                                     placeholder=EXAMPLE_PROMPT),
                "negative_prompt": gr.Textbox(label="Negative prompt", value=d["negative_prompt"]),
            }
            with gr.Row():
                controls["width"] = gr.Slider(*lim["width"], value=d["width"], step=SIZE_MULTIPLE, label="Width")
                controls["height"] = gr.Slider(*lim["height"], value=d["height"], step=SIZE_MULTIPLE, label="Height",
                                               info="Trained at 256×256; up to 512.")
            with gr.Row():
                controls["steps"] = gr.Slider(*lim["steps"], value=d["steps"], step=1, label="Steps")
                controls["chunks"] = gr.Slider(*lim["chunks"], value=d["chunks"], step=1, label="Chunks",
                                               info="1 = 16 frames, 2 = 31, 3 = 46, …")
            with gr.Row():
                controls["guidance_text"] = gr.Slider(*lim["guidance_text"], value=d["guidance_text"], step=0.5,
                                                      label="Text guidance")
                controls["guidance_image"] = gr.Slider(*lim["guidance_image"], value=d["guidance_image"], step=0.5,
                                                       label="Image guidance", info="Above 1: a third branch (slower).")
            with gr.Row():
                controls["seed"] = gr.Number(value=d["seed"], precision=0, label="Seed (-1 = random)")
                controls["fps"] = gr.Slider(*lim["fps"], value=d["fps"], step=1, label="FPS")
            with gr.Accordion("Advanced", open=False):
                controls["frame_stride"] = gr.Slider(*lim["frame_stride"], value=d["frame_stride"], step=1,
                                                     label="Frame stride", info="Motion speed the model aims for.")
                controls["frameinit"] = gr.Checkbox(value=d["frameinit"], label="FrameInit (noise low frequencies from the picture)")
                controls["frameinit_noise_level"] = gr.Slider(*lim["frameinit_noise_level"],
                                                              value=d["frameinit_noise_level"], step=1,
                                                              label="FrameInit noise level (timestep)")
                controls["frameinit_filter"] = gr.Dropdown(list(FILTERS), value=d["frameinit_filter"],
                                                           label="FrameInit filter")
                with gr.Row():
                    controls["frameinit_d_s"] = gr.Slider(*lim["frameinit_d"], value=d["frameinit_d_s"], step=0.01,
                                                          label="Spatial cut-off")
                    controls["frameinit_d_t"] = gr.Slider(*lim["frameinit_d"], value=d["frameinit_d_t"], step=0.01,
                                                          label="Temporal cut-off")
                controls["camera_motion"] = gr.Dropdown(list(CAMERA_MOTIONS), value=d["camera_motion"],
                                                        label="Camera motion (through FrameInit, first chunk)")
            with gr.Row():
                run_button = gr.Button("Generate", variant="primary", elem_id=f"{TAB_ID}_run")
                stop_button = gr.Button("Stop", variant="stop", elem_id=f"{TAB_ID}_stop")
            examples([[str(EXAMPLE_IMAGE), EXAMPLE_PROMPT]], [image, controls["prompt"]],
                     ["A lake at sunset (drawn by code), gentle waves"])
            quick_prompts(TAB_ID, controls["prompt"])
        with gr.Column(scale=1):
            panel = job_panel(runtime, ENGINE, TAB_ID, artifact_labels=(STREAM_LABEL,))

    for trigger in (image.change, controls["width"].release, controls["height"].release):
        trigger(crop_preview, inputs=[image, controls["width"], controls["height"]], outputs=[preview, preview_notes],
                api_visibility="private")

    def settings_from(values: dict) -> ImageToVideoSettings:
        values["image"] = values["image"] or ""  # the empty component gives None
        return with_defaults(ImageToVideoSettings, preset.defaults, **values)

    wire_run(panel, run_button, controls, settings_from, api_name=TAB_ID, optional=["image"])
    # The upload is not put back: the files of a past run may be gone.
    wire_panel(panel, stop_button, {k: c for k, c in controls.items() if k != "image"})
