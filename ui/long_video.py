"""Tab 4 — Long text-to-video. Engine: AnimateDiff + FreeNoise (Pyramid Flow joins later)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from backends.animatediff.settings import ENGINE, LongVideoSettings
from backends.core.presets import load_preset
from backends.core.runtime import Runtime
from backends.core.settings import with_defaults

from .common import (
    GPU_QUEUE,
    LoraPicker,
    demo_banner,
    drive,
    gallery_items,
    lora_picker,
    new_token,
    sidecar_of,
    stop,
)

TAB_ID = "long_video"
ENGINE_CHOICES = {"AnimateDiff + FreeNoise": ENGINE}
# Settings fields shown as controls, in the order the handler receives them.
FIELDS = ("prompt", "negative_prompt", "frames", "steps", "guidance", "width", "height", "seed", "fps", "context_stride")


def build(runtime: Runtime) -> None:
    preset = load_preset(ENGINE).for_mode(runtime.demo)
    d, lim = preset.defaults, preset.limits
    demo_banner(runtime)
    gr.Markdown("Write a prompt; get a video of 16 to 256 frames. Above 16 frames FreeNoise generates in overlapping windows.")
    with gr.Row():
        with gr.Column(scale=1):
            gr.Dropdown(list(ENGINE_CHOICES), value=next(iter(ENGINE_CHOICES)), label="Engine",
                        info="Pyramid Flow (longer, sharper, needs 24 GB+) arrives in a later release.")
            prompt = gr.Textbox(label="Prompt", lines=3, elem_id=f"{TAB_ID}_prompt", placeholder="a koi pond in the rain, cinematic, detailed")
            negative = gr.Textbox(label="Negative prompt", value=d["negative_prompt"])
            quality = gr.Radio(list(preset.quality), value="balanced", label="Quality preset")
            frames = gr.Slider(*lim["frames"], value=d["frames"], step=1, label="Frames")
            with gr.Row():
                width = gr.Slider(*lim["width"], value=d["width"], step=lim["size_multiple"], label="Width")
                height = gr.Slider(*lim["height"], value=d["height"], step=lim["size_multiple"], label="Height")
            with gr.Row():
                steps = gr.Slider(*lim["steps"], value=d["steps"], step=1, label="Steps")
                guidance = gr.Slider(*lim["guidance"], value=d["guidance"], step=0.5, label="Guidance")
            with gr.Row():
                seed = gr.Number(value=d["seed"], precision=0, label="Seed (-1 = random)")
                fps = gr.Slider(*lim["fps"], value=d["fps"], step=1, label="FPS")
            stride = gr.Slider(*lim["context_stride"], value=d["context_stride"], step=1, label="FreeNoise stride",
                               info="Frames between window starts (windows of 16). Smaller = smoother, slower.")
            loras = lora_picker(runtime)
            with gr.Row():
                run_button = gr.Button("Generate", variant="primary", elem_id=f"{TAB_ID}_run")
                stop_button = gr.Button("Stop", variant="stop", elem_id=f"{TAB_ID}_stop")
        with gr.Column(scale=1):
            status = gr.Markdown("Ready.", elem_id=f"{TAB_ID}_status")
            preview = gr.Image(label="Live preview (latents, every step)", interactive=False, format="jpeg",
                               elem_id=f"{TAB_ID}_preview")
            video = gr.Video(label="Result", interactive=False, autoplay=True, loop=True, height=384,
                             elem_id=f"{TAB_ID}_result")
            gallery = gr.Gallery(value=lambda: gallery_items(runtime, ENGINE), label="Past outputs", columns=4,
                                 height=220, preview=False, object_fit="contain")
            reuse = gr.Button("Use the selected output's settings", size="sm")
            sidecar = gr.JSON(label="Settings of the selected output")
    token = gr.State(None)
    selected = gr.State(-1)
    controls = [prompt, negative, frames, steps, guidance, width, height, seed, fps, stride]

    def generate(*values: Any, progress=gr.Progress()):
        *fields, lora_values, token_value = _split(values, len(FIELDS), len(loras.components))
        settings = with_defaults(
            LongVideoSettings, preset.defaults, **dict(zip(FIELDS, fields)), loras=LoraPicker.choices(lora_values)
        )
        for view in drive(ENGINE, settings, token_value, runtime, progress):
            done = view.result is not None
            yield (
                view.preview if view.preview is not None else gr.skip(),
                view.result.path if done else gr.skip(),
                view.markdown(),
                gallery_items(runtime, ENGINE) if view.finished else gr.skip(),
            )

    run_button.click(new_token, outputs=token, queue=False, api_visibility="private").then(
        generate,
        inputs=[*controls, *loras.components, token],
        outputs=[preview, video, status, gallery],
        api_name=TAB_ID,
        concurrency_id=GPU_QUEUE,
    )
    stop_button.click(stop, inputs=token, outputs=status, queue=False, api_name=f"{TAB_ID}_stop")

    def apply_quality(level: str):
        values = dict(preset.quality.get(level, {}))
        if runtime.demo:  # tiny models: keep demo sizes
            values = {k: v for k, v in values.items() if k not in ("width", "height")}
        return [gr.update(value=values[k]) if k in values else gr.skip() for k in ("steps", "width", "height", "guidance")]

    quality.change(apply_quality, inputs=quality, outputs=[steps, width, height, guidance], api_visibility="private")

    def on_select(event: gr.SelectData):
        return event.index, sidecar_of(runtime, ENGINE, event.index)

    gallery.select(on_select, outputs=[selected, sidecar], api_visibility="private")

    def reuse_settings(index: int):
        record = sidecar_of(runtime, ENGINE, index).get("settings", {})
        if not record:
            raise gr.Error("Select an output in the gallery first.")
        return [record.get(name, gr.skip()) for name in FIELDS]

    reuse.click(reuse_settings, inputs=selected, outputs=controls, api_visibility="private")


def _split(values: tuple, n_fields: int, n_lora: int) -> tuple:
    """(fields..., lora values as a list, token) from the flat tuple Gradio passes."""
    fields = list(values[:n_fields])
    return (*fields, list(values[n_fields : n_fields + n_lora]), values[n_fields + n_lora])
