"""Tab 2 — Motion LoRA trainer (MotionDirector): clips in, a motion LoRA and an appearance LoRA
out, with the loss curves and sample videos live, and a panel to try the LoRAs at once."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from backends.animatediff.settings import ENGINE as ANIMATEDIFF, LongVideoSettings
from backends.core.jobs import Metric
from backends.core.loras import LoraChoice
from backends.core.presets import load_preset
from backends.core.runtime import Runtime
from backends.core.settings import with_defaults
from backends.motion_director.example import EXAMPLE_CLIP, EXAMPLE_PROMPT
from backends.motion_director.settings import (ENGINE, OPTIMIZERS, PRECISIONS, QUALITY_PRESETS, MotionLoraSettings,
                                               file_names, run_folder)

from .common import demo_banner, weights_notice
from .examples import examples, quick_prompts
from .job_panel import job_panel, wire_panel, wire_run

TAB_ID = "lora_trainer"
TRY_ID = "lora_trainer_try"
INTRO = (
    "Upload one clip (or 3–5 with the same kind of motion), say what it shows, press **Train**. MotionDirector "
    "learns two LoRAs on AnimateDiff v3: a **temporal** one (the motion) and a **spatial** one (the look). The "
    "loss curves and a sample video every N steps show up as it trains; **Stop** keeps a checkpoint and "
    "**Resume** continues it. Files land in `outputs/loras/<name>/`: `NAME_temporal.safetensors` (AnimateDiff "
    "MotionLoRA layout: ComfyUI-AnimateDiff-Evolved, original AnimateDiff; attention layers only), "
    "`NAME_temporal_diffusers.safetensors` (diffusers, with the feed-forward LoRAs when trained) and "
    "`NAME_spatial.safetensors` (kohya: A1111/Forge, ComfyUI, diffusers). Use the temporal LoRA at about 1.0 "
    "(0.7 if it over-fits) and the spatial one at 0.5 or less, so new prompts keep their own look."
)


def loss_curve(metrics: list[Metric]):
    import pandas as pd

    return pd.DataFrame([{"step": m.step, "loss": m.value, "series": m.name} for m in metrics])


def lora_files(runtime: Runtime, name: str) -> list[str]:
    try:
        folder = run_folder(runtime.outputs.root, name)
    except ValueError:
        return []
    names = file_names(name)
    return [str(folder / names[kind]) for kind in ("temporal", "temporal_diffusers", "spatial", "settings")
            if (folder / names[kind]).is_file()]


def try_settings(runtime: Runtime, defaults: dict, values: dict) -> LongVideoSettings:
    """An AnimateDiff run with the trained LoRAs (the diffusers file: feed-forward layers included)."""
    folder = run_folder(runtime.outputs.root, values["name"])
    names = file_names(values["name"])
    temporal, spatial = folder / names["temporal_diffusers"], folder / names["spatial"]
    if not temporal.is_file():
        raise gr.Error(f"No trained LoRA named {values['name']!r} yet: train it first (or Stop after a checkpoint).")
    loras = (LoraChoice(str(temporal), float(values["temporal_weight"])),
             LoraChoice(str(spatial), float(values["spatial_weight"])))
    return with_defaults(LongVideoSettings, defaults, prompt=values["prompt"], seed=int(values["seed"]),
                         frames=defaults.get("context_length", 16), loras=loras)


def build(runtime: Runtime) -> None:
    preset = load_preset(ENGINE).for_mode(runtime.demo)
    d, lim = preset.defaults, preset.limits
    demo_banner(runtime)
    weights_notice(runtime, ENGINE)
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=1):
            controls = {
                "videos": gr.File(label="Training clips", file_count="multiple", file_types=["video"],
                                  type="filepath", elem_id=f"{TAB_ID}_videos"),
                "prompt": gr.Textbox(label="What the clips show", lines=2, elem_id=f"{TAB_ID}_prompt",
                                     placeholder="a man skateboarding down a street"),
                "name": gr.Textbox(value=d["name"], label="LoRA name", info="letters, digits, - and _"),
                "preset": gr.Radio(list(QUALITY_PRESETS), value=d["preset"], label="Quality preset",
                                   info="low: 256², rank 32 · preferred: 384², rank 64, aspect buckets (≤ 12 GB) · "
                                        "best: 512²"),
                "steps": gr.Number(value=d["steps"], precision=0, label="Steps",
                                   info="about 300 per clip; 500–700 for a single clip"),
            }
            with gr.Row():
                controls["validation_prompt"] = gr.Textbox(value="", label="Sample prompt (empty: the training prompt)")
                controls["validation_every"] = gr.Number(value=d["validation_every"], precision=0,
                                                         label="Sample every N steps")
            with gr.Accordion("Advanced", open=False):
                with gr.Row():
                    controls["rank"] = gr.Number(value=0, precision=0, label="Rank (0: the preset's)")
                    controls["size"] = gr.Number(value=0, precision=0, label="Size, long side (0: the preset's)")
                with gr.Row():
                    controls["lr_temporal"] = gr.Number(value=d["lr_temporal"], label="Temporal learning rate")
                    controls["lr_spatial"] = gr.Number(value=d["lr_spatial"], label="Spatial learning rate")
                controls["optimizer"] = gr.Radio(list(OPTIMIZERS), value=d["optimizer"], label="Optimiser",
                                                 info="Lion (package lion-pytorch) uses 1/10 the rates; ~half the steps")
                with gr.Row():
                    controls["frames"] = gr.Slider(*lim["frames"], value=d["frames"], step=1, label="Frames")
                    controls["frame_step"] = gr.Slider(*lim["frame_step"], value=d["frame_step"], step=1,
                                                       label="Frame step")
                    controls["target_fps"] = gr.Number(value=0, label="Target fps (0: use the frame step)")
                with gr.Row():
                    controls["checkpoint_every"] = gr.Number(value=d["checkpoint_every"], precision=0,
                                                             label="Checkpoint every N steps")
                    controls["seed"] = gr.Number(value=d["seed"], precision=0, label="Seed")
                controls["temporal_feed_forward"] = gr.Checkbox(
                    value=True, label="Train the motion modules' feed-forward layers too",
                    info="saved in the diffusers file only (the MotionLoRA layout has no place for them)")
                controls["domain_adapter"] = gr.Checkbox(value=True, label="Merge AnimateDiff v3's domain adapter first")
                controls["gradient_checkpointing"] = gr.Checkbox(value=True, label="Gradient checkpointing (less memory)")
                controls["mixed_precision"] = gr.Radio(list(PRECISIONS), value="fp16", label="Mixed precision (GPU)")
            with gr.Row():
                train_button = gr.Button("Train", variant="primary", elem_id=f"{TAB_ID}_run")
                stop_button = gr.Button("Stop (keeps a checkpoint)", variant="stop", elem_id=f"{TAB_ID}_stop")
                resume_button = gr.Button("Resume", elem_id=f"{TAB_ID}_resume")
            examples([[[str(EXAMPLE_CLIP)], EXAMPLE_PROMPT, "rolling_ball"]],
                     [controls["videos"], controls["prompt"], controls["name"]],
                     ["A ball rolling left to right (drawn by code)"])
            quick_prompts(TAB_ID, controls["prompt"])
        with gr.Column(scale=1):
            plot = gr.LinePlot(x="step", y="loss", color="series", title="Losses (spatial, temporal, debiased)",
                               show_label=False, height=240, render=False)  # a label would hide the legend
            panel = job_panel(runtime, ENGINE, TAB_ID, artifact_labels=("training clips", "sample at"),
                              preview_label="Training clips, then the latest sample", gallery=False,
                              metrics=(plot, loss_curve))
            files = gr.File(label="LoRA files", file_count="multiple", interactive=False)

    with gr.Accordion("Try it: render a prompt with the trained LoRAs (AnimateDiff)", open=False):
        ad = load_preset(ANIMATEDIFF).for_mode(runtime.demo)
        with gr.Row():
            with gr.Column(scale=1):
                try_controls = {
                    "prompt": gr.Textbox(label="Prompt", lines=2, elem_id=f"{TRY_ID}_prompt"),
                    "name": controls["name"],
                    "temporal_weight": gr.Slider(0.0, 1.5, value=1.0, step=0.05, label="Temporal LoRA weight"),
                    "spatial_weight": gr.Slider(0.0, 1.5, value=0.5, step=0.05, label="Spatial LoRA weight"),
                    "seed": gr.Number(value=-1, precision=0, label="Seed (-1 = random)"),
                }
                with gr.Row():
                    try_button = gr.Button("Generate", variant="primary", elem_id=f"{TRY_ID}_run")
                    try_stop = gr.Button("Stop", variant="stop")
            with gr.Column(scale=1):
                try_panel = job_panel(runtime, ANIMATEDIFF, TRY_ID, gallery=False)

    def settings(values: dict, resume: bool = False) -> MotionLoraSettings:
        values = {**values, "videos": tuple(values.get("videos") or ()), "resume": resume}
        return with_defaults(MotionLoraSettings, preset.defaults, **values)

    show_files = dict(fn=lambda name: lora_files(runtime, name), inputs=controls["name"], outputs=files,
                      api_visibility="private")
    wire_run(panel, train_button, controls, settings, api_name=TAB_ID, optional=("videos",)).then(**show_files)
    wire_run(panel, resume_button, controls, lambda values: settings(values, resume=True),
             api_name=f"{TAB_ID}_resume", optional=("videos",)).then(**show_files)
    wire_panel(panel, stop_button, {})
    wire_run(try_panel, try_button, try_controls, lambda values: try_settings(runtime, ad.defaults, values),
             api_name=TRY_ID)
    wire_panel(try_panel, try_stop, {})
