"""Tab 5 — Frame prediction (RIVER): give a few frames, get the future; train on your own clips."""

from __future__ import annotations

import gradio as gr

from backends.core.jobs import Metric
from backends.core.presets import load_preset
from backends.core.runtime import Runtime
from backends.core.settings import with_defaults
from backends.river.catalog import EMBEDDED_DIR, available_models
from backends.river.settings import (
    ENGINE,
    SAMPLER_CHOICES,
    TRAIN_ENGINE,
    TRAINING_STAGES,
    FramePredictionSettings,
    RiverTrainingSettings,
)

from .common import demo_banner, weights_notice
from .examples import example_file, examples
from .job_panel import job_panel, wire_panel, wire_run

TAB_ID = "frame_prediction"
TRAIN_ID = "river_train"
SCORE_HEADERS = ["frame", "PSNR (dB)", "SSIM", "PSNR, repeat last frame"]
DEMO_NOTE = ("**Demo mode** — the embedded bouncing-balls model is real and works here; the released models "
             "are not downloaded in demo mode, and training runs tiny.")
RELEASES_NOTE = (
    "The four released models (BAIR robot pushing 64/256, KTH actions, CLEVRER) download on first use "
    "(about 1 GB each). The embedded bouncing-balls model works offline, on any CPU."
)


def example_clips() -> dict[str, list[str]]:
    """The embedded model's example clips: name -> its frame files."""
    folder = EMBEDDED_DIR / "examples"
    clips = sorted(p for p in folder.glob("*") if p.is_dir()) if folder.is_dir() else []
    return {clip.name: sorted(str(f) for f in clip.glob("*.png")) for clip in clips}


def score_table(metrics: list[Metric]) -> list[list]:
    rows: dict[int, dict[str, float]] = {}
    for metric in metrics:
        rows.setdefault(metric.step, {})[metric.name] = metric.value
    return [[step, round(v.get("psnr", 0), 2), round(v.get("ssim", 0), 3), round(v.get("psnr_repeat_last", 0), 2)]
            for step, v in sorted(rows.items())]


def loss_curve(metrics: list[Metric]):
    """The losses, one series per training stage (the job names them "autoencoder loss", "vector
    field loss"; each stage counts its own steps). The plot colours only the series its first
    value has, so the stages still to come get an empty row from the start."""
    import pandas as pd

    rows = [(m.step, m.value, m.name.removesuffix(" loss")) for m in metrics if m.name.endswith(" loss")]
    seen = {row[2] for row in rows}
    first = next((i for i, stage in enumerate(TRAINING_STAGES) if stage in seen), len(TRAINING_STAGES))
    rows += [(rows[0][0], None, stage) for stage in TRAINING_STAGES[first:] if stage not in seen]
    return pd.DataFrame(rows, columns=["step", "loss", "stage"])


def model_names(runtime: Runtime) -> list[str]:
    return [entry.name for entry in available_models(runtime)]


def build(runtime: Runtime) -> None:
    preset = load_preset(ENGINE).for_mode(runtime.demo)
    d, lim = preset.defaults, preset.limits
    demo_banner(runtime, DEMO_NOTE)
    gr.Markdown(
        "Give a few context frames (a video, or images in order) and RIVER predicts what comes next — several "
        "stochastic samples side by side if you like. When your clip is longer than the context, the true "
        "continuation is shown beside the prediction with PSNR / SSIM per frame."
    )
    with gr.Tabs():
        with gr.Tab("Predict"):
            with gr.Row():
                with gr.Column(scale=1):
                    with gr.Row():
                        model = gr.Dropdown(model_names(runtime), value=d["model"], label="Model", scale=4,
                                            allow_custom_value=True,
                                            info=RELEASES_NOTE)
                        refresh = gr.Button("↻", size="sm", scale=0, min_width=40,
                                            elem_id=f"{TAB_ID}_refresh_models")
                    weights_notice(runtime, ENGINE, model=model)  # a release not downloaded yet
                    controls = {
                        "model": model,
                        "input": gr.Video(label="Video", sources=["upload"], elem_id=f"{TAB_ID}_video"),
                        "images": gr.File(label="…or images, in order", file_count="multiple", file_types=["image"]),
                    }
                    clip_names = ("grey_ball", "two_balls_crossing", "three_fast_balls")
                    examples([[example_file("frame_prediction", f"{name}.mp4")] for name in clip_names],
                             [controls["input"]], [name.replace("_", " ") for name in clip_names],
                             label="Example clips (bouncing balls: 2 context frames + the true 8) — click one, then Predict")
                    frame_examples = example_clips()
                    examples([[frames] for frames in frame_examples.values()], [controls["images"]],
                             [f"{name.replace('_', ' ')} (frames)" for name in frame_examples],
                             label="…or as frames")
                    with gr.Row():
                        controls["start_frame"] = gr.Number(value=d["start_frame"], precision=0, minimum=0,
                                                            label="First context frame")
                        controls["context_frames"] = gr.Slider(*lim["context_frames"], value=d["context_frames"],
                                                               step=1, label="Context frames")
                        controls["predict_frames"] = gr.Slider(*lim["predict_frames"], value=d["predict_frames"],
                                                               step=1, label="Frames to predict")
                    controls["sampler"] = gr.Radio(list(SAMPLER_CHOICES), value=d["sampler"], label="Sampler",
                                                   info="rk4 with 100 steps is the official sampler (396 evaluations "
                                                        "per frame); euler/midpoint with 4-16 steps are much faster.")
                    with gr.Row():
                        controls["steps"] = gr.Slider(*lim["steps"], value=d["steps"], step=1, label="Steps")
                        controls["warm_start"] = gr.Slider(0.0, 0.9, value=d["warm_start"], step=0.05,
                                                           label="Warm start")
                    with gr.Row():
                        controls["samples"] = gr.Slider(*lim["samples"], value=d["samples"], step=1, label="Samples")
                        controls["seed"] = gr.Number(value=d["seed"], precision=0, label="Seed (-1 = random)")
                        controls["fps"] = gr.Slider(*lim["fps"], value=d["fps"], step=1, label="FPS")
                    with gr.Row():
                        run_button = gr.Button("Predict", variant="primary", elem_id=f"{TAB_ID}_run")
                        stop_button = gr.Button("Stop", variant="stop", elem_id=f"{TAB_ID}_stop")
                with gr.Column(scale=1):
                    scores = gr.Dataframe(headers=SCORE_HEADERS, label="Scores against the true continuation",
                                          interactive=False, render=False)
                    panel = job_panel(runtime, ENGINE, TAB_ID, artifact_labels=("Comparison",),
                                      preview_label="Latest predicted frame (all samples)",
                                      metrics=(scores, score_table))

        with gr.Tab("Train on your clips"):
            train_preset = load_preset(TRAIN_ENGINE).for_mode(runtime.demo)
            td, tlim = train_preset.defaults, train_preset.limits
            gr.Markdown(
                "Train both stages on your own clips: a small VQ autoencoder (or an official one), then the vector "
                "field. Upload clips (or, on your own machine, give a folder of videos or frame folders, or an HDF5 "
                "dataset in the official layout). Stop keeps the last checkpoint; running again with the same name "
                "resumes. The model then appears in the model list. Several GPUs: see the README (`accelerate launch`)."
            )
            with gr.Row():
                with gr.Column(scale=1):
                    clips = gr.File(label="Clips to train on", file_count="multiple", file_types=["video"])
                    train_controls = {
                        # a server folder only where the person is the server's owner
                        "data": gr.Textbox(label="…or a data folder or HDF5 on this machine", placeholder="/path/to/clips",
                                           visible=not runtime.shared),
                        "name": gr.Textbox(value=td["name"], label="Model name"),
                        "autoencoder": gr.Dropdown(["train", "bair_64", "kth_64", "bair_256", "clevrer_128"],
                                                   value=td["autoencoder"], allow_custom_value=True,
                                                   label="Autoencoder", info="train a new one, an official one, or a path"),
                    }
                    with gr.Row():
                        train_controls["image_size"] = gr.Slider(*tlim["image_size"], value=td["image_size"], step=16,
                                                                 label="Frame size")
                        train_controls["frames_per_sample"] = gr.Slider(*tlim["frames_per_sample"],
                                                                        value=td["frames_per_sample"], step=1,
                                                                        label="Frames per clip")
                    with gr.Row():
                        train_controls["autoencoder_steps"] = gr.Number(value=td["autoencoder_steps"], precision=0,
                                                                        label="Autoencoder steps")
                        train_controls["steps"] = gr.Number(value=td["steps"], precision=0, label="Vector-field steps")
                    with gr.Row():
                        train_controls["batch_size"] = gr.Number(value=td["batch_size"], precision=0, label="Batch size")
                        train_controls["learning_rate"] = gr.Number(value=td["learning_rate"], label="Learning rate")
                    with gr.Row():
                        train_controls["preview_every"] = gr.Number(value=td["preview_every"], precision=0,
                                                                    label="Sample every N steps")
                        train_controls["save_every"] = gr.Number(value=td["save_every"], precision=0,
                                                                 label="Checkpoint every N steps")
                    train_controls["resume"] = gr.Checkbox(value=True, label="Resume a run of the same name")
                    train_controls["clips"] = clips  # last: API callers may leave it out
                    examples([[[example_file("frame_prediction", f"{name}.mp4") for name in clip_names], "balls"]],
                             [clips, train_controls["name"]], ["Three bouncing-balls clips"])
                    with gr.Row():
                        train_button = gr.Button("Train", variant="primary", elem_id=f"{TRAIN_ID}_run")
                        train_stop = gr.Button("Stop (keeps the checkpoint)", variant="stop")
                with gr.Column(scale=1):
                    plot = gr.LinePlot(x="step", y="loss", color="stage", height=240, render=False,
                                        title="Training loss", show_label=False)  # a label would hide the legend
                    train_panel = job_panel(runtime, TRAIN_ENGINE, TRAIN_ID, result=False, gallery=False,
                                            preview_label="Samples: ground truth | prediction",
                                            metrics=(plot, loss_curve))

    def prediction_settings(values: dict) -> FramePredictionSettings:
        values["images"] = tuple(values.get("images") or ())
        values["input"] = values.get("input") or ""
        return with_defaults(FramePredictionSettings, preset.defaults, **values)

    wire_run(panel, run_button, controls, prediction_settings, api_name=TAB_ID, optional=("input", "images"))
    wire_panel(panel, stop_button, {k: c for k, c in controls.items() if k not in ("input", "images")})

    def refreshed_models():
        return gr.update(choices=model_names(runtime))

    # The list is read again on ↻ and when a page loads (a model trained since is there).
    refresh.click(refreshed_models, outputs=model, api_visibility="private")
    gr.on(None, refreshed_models, outputs=model, api_visibility="private")

    def training_settings(values: dict) -> RiverTrainingSettings:
        values["clips"] = tuple(values.get("clips") or ())
        return with_defaults(RiverTrainingSettings, train_preset.defaults, **values)

    training = wire_run(train_panel, train_button, train_controls, training_settings, api_name=TRAIN_ID,
                        optional=("clips",))
    wire_panel(train_panel, train_stop, {})
    # A trained (or stopped) model shows up in the prediction tab's list.
    training.then(refreshed_models, outputs=model, api_visibility="private")
