"""What every tab shares: running a backend job from a Gradio event (progress, previews, Stop,
clear errors), the Stop token, the LoRA picker, the outputs gallery and the demo-mode banner."""

from __future__ import annotations

import atexit
import functools
import hashlib
import logging
import re
import shutil
import tempfile
import traceback
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import gradio as gr
import numpy as np
from PIL import Image

from backends.core.checkpoints import CheckpointError
from backends.core.jobs import Artifact, CancelToken, JobCancelled, JobRun, Log, Metric, Preview, Progress, Result
from backends.core.loras import LoraChoice, lora_choices
from backends.core.previews import contact_sheet
from backends.core.runtime import Runtime
from backends.core.sources import MissingWeights
from backends.core.video_io import VideoError

log = logging.getLogger("flowstudio")

GPU_QUEUE = "gpu"  # every GPU-bound event shares this concurrency id: one GPU job at a time
DEMO_NOTE = "**Demo mode** — tiny random-weight models: outputs are noise, but every control works."
LORA_SLOTS = 3

# Errors that are the person's to fix: shown as they are, without a traceback.
USER_ERRORS = (ValueError, MissingWeights, VideoError, CheckpointError)


@functools.cache
def preview_folder() -> Path:
    """Where this process writes the live previews it shows (in the temp folder, which Gradio
    serves from; removed when the process ends)."""
    folder = Path(tempfile.mkdtemp(prefix="flowstudio-previews-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def remove_files(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


@dataclass
class JobView:
    """What a tab shows of a running job, updated event by event.

    ``preview`` is a JPEG written once, under a new name, for each picture. (Given an array,
    Gradio writes it into a cache file named after its content each time it is sent: a picture
    sent again with every progress step rewrote the file the browser was reading.) A file goes
    when the next picture comes (Gradio copied it into its cache when it was sent), the last one
    with the view."""

    status: str = "Starting…"
    preview: str | None = None
    result: Result | None = None
    artifacts: list[Artifact] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    finished: bool = False
    shared: bool = False  # a shared deployment: the server's folders are not shown
    _files: list[Path] = field(default_factory=list, repr=False)  # the file in ``preview``
    _sent: dict[str, Any] = field(default_factory=dict, repr=False)  # output -> the value last sent

    def fresh(self, output: str, value: Any) -> Any:
        """``value`` if it is new for ``output``, else ``gr.skip()``: a file is sent (and copied
        into Gradio's cache) once, not with every later event of the job. The last update has
        every value (it is what an API caller gets)."""
        if value is None or (not self.finished and self._sent.get(output) == value):
            return gr.skip()
        self._sent[output] = value
        return value

    def __post_init__(self) -> None:
        weakref.finalize(self, remove_files, self._files)

    def show(self, frames: np.ndarray) -> None:
        path = preview_folder() / f"{uuid.uuid4().hex}.jpg"
        Image.fromarray(contact_sheet(frames)).save(path, quality=90)
        remove_files(self._files)
        self._files[:] = [path]
        self.preview = str(path)

    def apply(self, event: Any) -> None:
        if isinstance(event, Progress):
            self.status = event.describe()
        elif isinstance(event, Preview):
            self.show(event.frames)
        elif isinstance(event, Log):
            self.logs = (self.logs + [event.message])[-6:]
        elif isinstance(event, Metric):
            self.metrics.append(event)
        elif isinstance(event, Artifact):
            self.artifacts.append(event)
        elif isinstance(event, Result):
            self.result, self.finished = event, True
            self.status = f"Done · seed {event.seed} · saved {event.path}" if event.seed is not None else f"Done · saved {event.path}"

    def markdown(self) -> str:
        lines = [f"**{self.status}**"] + [f"- {line}" for line in self.logs]
        text = "\n".join(lines)
        return redact_paths(text) if self.shared else text


def new_token() -> CancelToken:
    return CancelToken()


def stop(token: CancelToken | None) -> str:
    if token is None or token.finished:
        return "Nothing is running."
    if token.cancelled:
        return "**Stopping…** the job ends after the current step."
    token.cancel()
    return "**Stopping…** the job ends after the current step."


def start_job(engine: str, settings: Any, token: CancelToken, runtime: Runtime, owner: str | None = None) -> JobRun:
    """Check the settings, then start the job on its worker thread: in this process, or on a
    ZeroGPU Space through its GPU calls. Bad settings raise here, before anything starts."""
    if runtime.policy.zero_gpu:
        from backends.engines import check_job

        from .zerogpu import run_on_zero_gpu

        settings = check_job(engine, settings, runtime)
        return JobRun(functools.partial(run_on_zero_gpu, engine, settings, owner), runtime, token, name=engine)
    from backends.engines import start_engine

    return start_engine(engine, settings, token, runtime, owner=owner)


def visitor(request: gr.Request | None, runtime: Runtime) -> str | None:
    """Whose outputs a page shows and writes: on a shared deployment, its session's (a hash of
    Gradio's session id), unless the gallery is shared; locally, everybody's (None)."""
    if not runtime.shared or runtime.shared_gallery or request is None or not request.session_hash:
        return None
    return hashlib.sha256(request.session_hash.encode()).hexdigest()[:16]


def redact_paths(text: str) -> str:
    """A message without the server's folders: each absolute path is cut to its file name."""
    return re.sub(r"(?<![\w.])/(?:[^\s/'\"]+/)+([^\s/'\"]*)", r"\1", text)


def job_token(token: CancelToken | None) -> CancelToken:
    """The token the Run click put in the session (so Stop reaches even a queued job), or a fresh
    one for an API call or a second run on a used token."""
    if token is None or not token.claim():
        token = CancelToken()
        token.claim()
    return token


def drive(engine: str, settings: Any, token: CancelToken, runtime: Runtime, progress: gr.Progress,
          owner: str | None = None) -> Iterator[JobView]:
    """Run a job and yield the updated view after every event; errors become ``gr.Error``.

    The job outlives this generator: if the page goes away (or an API client drops the call), it
    runs on and saves its result. Only Stop (``token``) ends it early. A page that reads slowly
    still gets every log, artifact and the result (progress and previews coalesce)."""
    view = JobView(shared=runtime.shared)
    try:
        for event in start_job(engine, settings, token, runtime, owner):
            view.apply(event)
            if isinstance(event, Progress):
                progress((event.step, event.total), desc=event.describe())
            yield view
    except JobCancelled:
        view.status, view.finished = "Stopped. Memory was freed; the app is ready for the next job.", True
        yield view
    except Exception as error:
        raise page_error(runtime, engine, token, error) from None


def page_error(runtime: Runtime, engine: str, token: CancelToken, error: Exception) -> gr.Error:
    """A job's error (or its settings') as a ``gr.Error`` a person can read; the job counts as
    ended (Stop has nothing to stop) and the message is kept for the tab's status line."""
    token.finish()
    if isinstance(error, (*USER_ERRORS, gr.Error)):  # gr.Error: already worded (a ZeroGPU worker sends these)
        message = error.message if isinstance(error, gr.Error) else str(error)
        message = redact_paths(message) if runtime.shared else message
    else:  # a bug or an out-of-memory: say so plainly, log the details
        log.error("job %s failed:\n%s", engine, "".join(traceback.format_exception(error)))
        detail = f": {redact_paths(str(error))}" if runtime.shared else f": {error}"
        message = f"The job failed ({type(error).__name__}{detail}). Details are in the server log."
    FAILURES[token] = message
    return gr.Error(message, print_exception=False)


# The last failure of each job (by its token), for the status line the tab shows after it.
FAILURES: "weakref.WeakKeyDictionary[CancelToken, str]" = weakref.WeakKeyDictionary()


def failure_status(token: CancelToken | None) -> str:
    message = FAILURES.pop(token, None) if token is not None else None
    return f"**Failed:** {message}" if message else "**Failed.**"


def demo_banner(runtime: Runtime, note: str = DEMO_NOTE) -> None:
    if runtime.demo:
        gr.Markdown(note, elem_classes=["demo-note"])


def weights_notice(runtime: Runtime, engine: str, **inputs: gr.components.Component) -> gr.Markdown:
    """Which weights a job of ``engine`` lacks on this machine (empty when all are here, and in
    demo mode), said when the page loads rather than after Generate. ``inputs``: settings fields
    that change what it needs (e.g. ``model=`` the model picker): the notice follows them.
    Looks at local folders and the Hugging Face cache only, never the network."""
    from backends.engines import missing_weights

    def text(*values: Any) -> str:
        chosen = {name: value for name, value in zip(inputs, values) if value is not None}
        missing = missing_weights(engine, runtime, values=chosen, panel=runtime.downloads)
        return f"⚠️ {missing}" if missing else ""

    notice = gr.Markdown(text(*(c.value for c in inputs.values())), elem_classes=["weights-notice"])
    # on page load (weights may have come since the app started), and when an input changes
    gr.on(None, text, inputs=list(inputs.values()), outputs=notice, api_visibility="private")
    return notice


@dataclass
class LoraPicker:
    sources: list[gr.Dropdown]
    weights: list[gr.Slider]

    @property
    def components(self) -> list[gr.components.Component]:
        return [c for pair in zip(self.sources, self.weights) for c in pair]

    @staticmethod
    def choices(values: list[Any]) -> tuple[LoraChoice, ...]:
        """(source, weight, source, weight, …) from the components -> the chosen LoRAs."""
        pairs = zip(values[0::2], values[1::2])
        return tuple(LoraChoice(str(s).strip(), float(w)) for s, w in pairs if s and str(s).strip())


def lora_picker(runtime: Runtime, label: str = "LoRAs (motion or spatial)") -> LoraPicker:
    """LoRA slots offering the LoRA folder's files and the LoRAs trained here (the list is read
    again when a page loads, so a LoRA trained a moment ago is there)."""
    def choices():
        return lora_choices(runtime.loras_dir, runtime.lora_folders()[1])

    sources, weights = [], []
    with gr.Accordion(label, open=False):
        gr.Markdown(
            f"Pick a file from `{runtime.loras_dir.name}/` or a LoRA trained in the Motion LoRA tab, or type a "
            "Hub id (e.g. `guoyww/animatediff-motion-lora-zoom-in`)."
        )
        for slot in range(LORA_SLOTS):
            with gr.Row():
                sources.append(
                    gr.Dropdown(choices=choices(), value="", allow_custom_value=True, label=f"LoRA {slot + 1}", scale=3)
                )
                weights.append(gr.Slider(-2.0, 2.0, value=1.0, step=0.05, label="weight", scale=1))
    gr.on(None, lambda: [gr.update(choices=choices())] * len(sources), outputs=sources, api_visibility="private")
    return LoraPicker(sources, weights)


def quality_presets(radio: gr.Radio, preset, runtime: Runtime, controls: dict) -> None:
    """Choosing fast / balanced / quality sets the preset's values on the controls (in demo
    mode sizes stay small: the tiny models are not meant for them)."""
    keys = [k for k in ("steps", "width", "height", "guidance") if k in controls]

    def apply(level: str):
        values = dict(preset.quality.get(level, {}))
        if runtime.demo:
            values = {k: v for k, v in values.items() if k not in ("width", "height")}
        return [gr.update(value=values[k]) if k in values else gr.skip() for k in keys]

    radio.change(apply, inputs=radio, outputs=[controls[k] for k in keys], api_visibility="private")
