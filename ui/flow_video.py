"""Tab 1 — Flow-guided video-to-video (OnlyFlow): the motion of your clip guides a new video."""

from __future__ import annotations

import gradio as gr

from backends.core.presets import load_preset
from backends.core.runtime import Runtime
from backends.core.settings import with_defaults
from backends.onlyflow.settings import ENGINE, SIZE_MULTIPLE, FlowVideoSettings

from .common import demo_banner, lora_picker, quality_presets, weights_notice
from .examples import example_file, examples, quick_prompts
from .job_panel import job_panel, wire_panel, wire_run

TAB_ID = "flow_video"
FLOW_LABEL = "optical flow"
COMPARE_LABEL = "input | flow | result"
FLOW_EXAMPLE_PROMPT = "a watercolor painting of rolling hills at sunset, a bouncing orange ball"


def parse_gammas(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in str(text).replace(";", ",").split(",") if part.strip())
    except ValueError:
        raise gr.Error(f"Sweep gammas must be numbers separated by commas, got {text!r}") from None


def build(runtime: Runtime) -> None:
    preset = load_preset(ENGINE).for_mode(runtime.demo)
    d, lim = preset.defaults, preset.limits
    demo_banner(runtime)
    weights_notice(runtime, ENGINE)
    gr.Markdown(
        "Upload a clip and describe a new video: its **motion** follows your clip's optical flow, its look follows "
        "the prompt. **Gamma** sets how strongly the flow steers (0 = plain AnimateDiff, 1 = full). "
        "Nothing else of the clip is used."
    )
    with gr.Row():
        with gr.Column(scale=1):
            controls = {
                "video": gr.Video(label="Motion source (any common video format)", sources=["upload"],
                                  elem_id=f"{TAB_ID}_video"),
                "prompt": gr.Textbox(label="Prompt", lines=3, elem_id=f"{TAB_ID}_prompt",
                                     placeholder="a paper-cut fox running through autumn leaves"),
                "negative_prompt": gr.Textbox(label="Negative prompt", value=d["negative_prompt"]),
                "gamma": gr.Slider(0.0, 1.0, value=d["gamma"], step=0.05, label="Gamma (flow strength)",
                                   elem_id=f"{TAB_ID}_gamma"),
            }
            quality = gr.Radio(list(preset.quality), value="balanced", label="Quality preset")
            with gr.Row():
                controls["frames"] = gr.Slider(*lim["frames"], value=d["frames"], step=1, label="Frames",
                                               info="The clip gives frames + 1 frames; above 16, FreeNoise windows.")
                controls["fps"] = gr.Slider(*lim["fps"], value=d["fps"], step=1, label="FPS",
                                            info="The clip is sampled at this rate (the model card advises 8).")
            with gr.Row():
                controls["width"] = gr.Slider(*lim["width"], value=d["width"], step=SIZE_MULTIPLE, label="Width")
                controls["height"] = gr.Slider(*lim["height"], value=d["height"], step=SIZE_MULTIPLE, label="Height")
            with gr.Row():
                controls["steps"] = gr.Slider(*lim["steps"], value=d["steps"], step=1, label="Steps")
                controls["guidance"] = gr.Slider(*lim["guidance"], value=d["guidance"], step=0.5, label="Guidance")
            with gr.Row():
                controls["seed"] = gr.Number(value=d["seed"], precision=0, label="Seed (-1 = random)")
                controls["context_stride"] = gr.Slider(1, 16, value=d["context_stride"], step=1,
                                                       label="FreeNoise stride")
            loras = lora_picker(runtime)
            with gr.Accordion("Reference image (IP-Adapter)", open=False):
                gr.Markdown("Optional: the result takes this image's look; the motion still follows the clip. "
                            + ("Demo mode uses a tiny random IP-Adapter." if runtime.demo else
                               "The IP-Adapter's weights (about 2.6 GB) download on first use."))
                controls["reference_image"] = gr.Image(label="Reference image", type="filepath", sources=["upload"],
                                                       elem_id=f"{TAB_ID}_reference_image")
                controls["ip_adapter_scale"] = gr.Slider(*lim["ip_adapter_scale"], value=d["ip_adapter_scale"],
                                                         step=0.05, label="Reference strength (IP-Adapter scale)")
            with gr.Row():
                run_button = gr.Button("Generate", variant="primary", elem_id=f"{TAB_ID}_run")
                stop_button = gr.Button("Stop", variant="stop", elem_id=f"{TAB_ID}_stop")
            examples([[example_file("flow_video", "panning_hills.mp4"), FLOW_EXAMPLE_PROMPT, 1.0],
                      [example_file("flow_video", "panning_hills.mp4"), FLOW_EXAMPLE_PROMPT, 0.0]],
                     [controls["video"], controls["prompt"], controls["gamma"]],
                     ["Panning hills, a hopping ball — flow at full strength", "The same, gamma 0 (plain AnimateDiff)"])
            quick_prompts(TAB_ID, controls["prompt"])
            with gr.Accordion("Gamma sweep", open=False):
                gr.Markdown("Render the same seed at several gammas and see input | flow | each result side by side.")
                sweep_text = gr.Textbox(value=", ".join(f"{g:g}" for g in d["sweep"]), label="Gammas")
                sweep_button = gr.Button("Run the sweep", elem_id=f"{TAB_ID}_sweep")
        with gr.Column(scale=1):
            panel = job_panel(runtime, ENGINE, TAB_ID, artifact_labels=(FLOW_LABEL, COMPARE_LABEL))

    def settings_from(values: dict, sweep: tuple[float, ...] = ()) -> FlowVideoSettings:
        values["reference_image"] = values["reference_image"] or ""  # the empty component gives None
        return with_defaults(FlowVideoSettings, preset.defaults, **values, sweep=sweep)

    def sweep_settings_from(values: dict) -> FlowVideoSettings:
        return settings_from(values, parse_gammas(values.pop("sweep_gammas")))

    wire_run(panel, run_button, controls, settings_from, api_name=TAB_ID, loras=loras, optional=["reference_image"])
    wire_run(panel, sweep_button, {**controls, "sweep_gammas": sweep_text}, sweep_settings_from,
             api_name=f"{TAB_ID}_sweep", loras=loras, optional=["reference_image"])
    # Uploads are not put back: the files of a past run may be gone.
    wire_panel(panel, stop_button, {k: c for k, c in controls.items() if k not in ("video", "reference_image")})
    quality_presets(quality, preset, runtime, controls)
