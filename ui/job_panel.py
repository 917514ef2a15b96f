"""The right-hand side every generating tab shares — status, intermediate videos, live preview,
result, past outputs with their settings — and the wiring of Run / Stop buttons to a job."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import gradio as gr

from backends.core.runtime import Runtime

from backends.core.jobs import CancelToken, Metric

from .common import (GPU_QUEUE, JobView, LoraPicker, drive, failure_status, job_token, new_token, page_error, stop,
                     visitor)


@dataclass
class JobPanel:
    runtime: Runtime
    engine: str
    tab_id: str
    status: gr.Markdown
    preview: gr.Image
    result: gr.Video | None = None
    artifacts: dict[str, gr.Video] = field(default_factory=dict)  # label prefix -> component
    metrics: gr.components.Component | None = None  # shows ``metrics_value(view.metrics)``
    metrics_value: Callable[[list[Metric]], Any] | None = None
    gallery: gr.Gallery | None = None
    sidecar: gr.JSON | None = None
    reuse: gr.Button | None = None
    token: gr.State = None
    selected: gr.State = None

    @property
    def outputs(self) -> list[gr.components.Component]:
        optional = [self.result, self.gallery, self.metrics]
        return [self.status, self.preview, *(c for c in optional if c is not None), *self.artifacts.values(),
                self.token]

    def updates(self, view: JobView, token: CancelToken, owner: str | None = None) -> tuple:
        """One value per ``outputs`` entry; unchanged ones are skipped. The job's token goes back
        into the session, so ``/<tab>_stop`` reaches jobs started through the API too."""
        values = [view.markdown(), view.fresh("preview", view.preview)]
        if self.result is not None:
            values.append(view.fresh("result", view.result.path if view.result else None))
        if self.gallery is not None:
            values.append(self.items_of(owner) if view.finished else gr.skip())
        if self.metrics is not None:
            values.append(self.metrics_value(view.metrics) if view.metrics else gr.skip())
        for prefix in self.artifacts:
            path = next((a.path for a in reversed(view.artifacts) if a.label.startswith(prefix)), None)
            values.append(view.fresh(prefix, path))
        return (*values, token)

    def after_failure(self, token: CancelToken | None) -> tuple:
        return (failure_status(token), *[gr.skip()] * (len(self.outputs) - 1))

    def items_of(self, owner: str | None) -> list[tuple[str, str]]:
        return [(str(saved.path), caption_of(saved.record)) for saved in self.runtime.outputs.list(self.engine, owner=owner)]

    def gallery_items(self, request: gr.Request) -> list[tuple[str, str]]:
        """The outputs this page may see: its own on a shared deployment, all of them locally."""
        return self.items_of(visitor(request, self.runtime))

    def record(self, index: int, request: gr.Request) -> dict:
        outputs = self.runtime.outputs.list(self.engine, owner=visitor(request, self.runtime))
        return outputs[index].record if 0 <= index < len(outputs) else {}


def is_input_file(value: Any) -> bool:
    """A sidecar's record of input files (name and hash, no path): nothing to put back in a control."""
    return isinstance(value, dict) or (isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value))


def caption_of(record: Mapping[str, Any]) -> str:
    settings = record.get("settings", {})
    text = str(settings.get("prompt") or settings.get("model") or "")[:60]
    return f"{text} · seed {record.get('seed')}".strip(" ·")


def job_panel(runtime: Runtime, engine: str, tab_id: str, artifact_labels: Sequence[str] = (),
              preview_label: str = "Live preview (latents, every step)", result: bool = True, gallery: bool = True,
              metrics: tuple[gr.components.Component, Callable[[list[Metric]], Any]] | None = None) -> JobPanel:
    """Build the panel's components in the current layout context. ``metrics``: a component
    created by the caller and how to turn the job's metrics into its value."""
    panel = JobPanel(runtime, engine, tab_id, gr.Markdown("Ready.", elem_id=f"{tab_id}_status"), None)
    panel.artifacts = {label: gr.Video(label=label, interactive=False, autoplay=True, loop=True, height=256,
                                       elem_id=f"{tab_id}_artifact_{i}")
                       for i, label in enumerate(artifact_labels)}
    panel.preview = gr.Image(label=preview_label, interactive=False, format="jpeg", elem_id=f"{tab_id}_preview")
    if metrics:
        panel.metrics, panel.metrics_value = metrics
        panel.metrics.render()
    if result:
        panel.result = gr.Video(label="Result", interactive=False, autoplay=True, loop=True, height=384,
                                elem_id=f"{tab_id}_result")
    if gallery:
        panel.gallery = gr.Gallery(label="Past outputs", columns=4, height=220, preview=False, object_fit="contain")
        gr.on(None, panel.gallery_items, outputs=panel.gallery, api_visibility="private")  # filled on page load
        panel.reuse = gr.Button("Use the selected output's settings", size="sm")
        panel.sidecar = gr.JSON(label="Settings of the selected output")
    panel.token, panel.selected = gr.State(None), gr.State(-1)
    return panel


def tool_description(engine: str, parameters: Sequence[str]) -> str:
    """A docstring for a tab's endpoint (Gradio's MCP server and API page read it): what the job
    does, then each parameter with the help text of its settings field."""
    from backends.core.presets import load_preset
    from backends.engines import get_engine

    settings_cls = get_engine(engine).settings_cls
    helps = {f.name: f.metadata.get("help", "") for f in dataclasses.fields(settings_cls)}
    lines = [f"Run {load_preset(engine).label}: the result is saved as a video with a JSON sidecar of its settings.",
             "", "Args:"]
    for name in parameters:
        if name.startswith("lora_"):
            helps[name] = ("a LoRA file from the LoRA list or a Hub repo id" if name.endswith("source")
                           else "that LoRA's weight (-2 to 2)")
        lines.append(f"    {name}: {helps.get(name) or name.replace('_', ' ')}")
    lines.append("    token: leave out (the page's Stop uses it)")
    return "\n".join(lines)


def wire_run(panel: JobPanel, button: gr.Button, controls: Mapping[str, gr.components.Component],
             make_settings: Callable[[dict[str, Any]], Any], api_name: str, loras: LoraPicker | None = None,
             optional: Sequence[str] = ()):
    """``button`` runs a job whose settings ``make_settings`` builds from the controls' values
    (by name, plus ``"loras"``); the panel shows its progress and result. API callers may leave
    out the ``optional`` controls (uploads with no initial value; they arrive as None). Returns
    the run event, for chaining what should happen after it."""
    names = list(controls)
    lora_components = loras.components if loras else []

    def generate(*values: Any, progress=gr.Progress()):
        *values, token, request = values  # Gradio passes the request positionally, after the token
        token = job_token(token)
        owner = visitor(request, panel.runtime)
        named = dict(zip(names, values[: len(names)]))
        try:
            if loras:
                named["loras"] = LoraPicker.choices(list(values[len(names) :]))
            settings = make_settings(named)
        except Exception as error:
            raise page_error(panel.runtime, panel.engine, token, error) from None
        for view in drive(panel.engine, settings, token, panel.runtime, progress, owner):
            yield panel.updates(view, token, owner)

    # Name the API's parameters after the settings (``client.predict(prompt=..., frames=...)``).
    lora_names = [f"lora_{i + 1}_{part}" for i in range(len(lora_components) // 2) for part in ("source", "weight")]
    # gradio makes a parameter optional when its component has an initial value or, failing that,
    # when the signature defaults it to None. Python wants the parameters after one with a default
    # to have one too: optional controls go last, after them only components with values.
    all_names = [*names, *lora_names, "token"]
    first_optional = min((all_names.index(name) for name in optional), default=len(all_names))
    parameters = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                    default=None if index >= first_optional else inspect.Parameter.empty)
                  for index, name in enumerate(all_names)]
    parameters.append(inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                        annotation=gr.Request))  # Gradio fills it; not an API parameter
    parameters.append(inspect.Parameter("progress", inspect.Parameter.KEYWORD_ONLY, default=gr.Progress()))
    generate.__signature__ = inspect.Signature(parameters)
    generate.__doc__ = tool_description(panel.engine, [*names, *lora_names])  # what MCP and the API docs show
    generate.__name__ = generate.__qualname__ = api_name  # the MCP tool's name
    generate.__annotations__ = {"request": gr.Request}  # what Gradio reads to know the request parameter

    run = button.click(new_token, outputs=panel.token, queue=False, api_visibility="private").then(
        generate,
        inputs=[*controls.values(), *lora_components, panel.token],
        outputs=panel.outputs,
        api_name=api_name,
        concurrency_id=GPU_QUEUE,
    )
    # After a failure the status says what went wrong, and the outputs (which the failed event
    # marked "Error") are touched by this event, so they show their last values again.
    run.failure(panel.after_failure, inputs=panel.token, outputs=panel.outputs, show_progress="hidden",
                queue=False, api_visibility="private")
    return run


def wire_panel(panel: JobPanel, stop_button: gr.Button, reusable: Mapping[str, gr.components.Component]) -> None:
    """Stop, gallery selection, and putting a past output's settings back into ``reusable``."""
    def stop_job(token: CancelToken | None) -> str:
        return stop(token)

    stop_job.__name__ = stop_job.__qualname__ = f"{panel.tab_id}_stop"
    stop_job.__doc__ = f"Stop the {panel.tab_id} job this session started (it ends at its next step).\n\nArgs:\n    token: leave out"
    stop_button.click(stop_job, inputs=panel.token, outputs=panel.status, queue=False, api_name=f"{panel.tab_id}_stop")
    if panel.gallery is None:
        return

    def on_select(event: gr.SelectData, request: gr.Request):
        return event.index, panel.record(event.index, request)

    panel.gallery.select(on_select, outputs=[panel.selected, panel.sidecar], api_visibility="private")

    def reuse(index: int, request: gr.Request):
        settings = panel.record(index, request).get("settings", {})
        if not settings:
            raise gr.Error("Select an output in the gallery first.")
        return [settings[name] if name in settings and not is_input_file(settings[name]) else gr.skip()
                for name in reusable]

    panel.reuse.click(reuse, inputs=panel.selected, outputs=list(reusable.values()), api_visibility="private")
