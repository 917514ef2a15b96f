"""One OnlyFlow run (or gamma sweep) as a job: read the video, extract and show its optical flow,
generate with the flow guiding the motion modules, save the result with its sidecar."""

from __future__ import annotations

import dataclasses
import time
import numpy as np

from ..animatediff.pipeline import configure_free_noise, decode_latents, load_animatediff
from ..core.ip_adapter import configure_ip_adapter, read_reference_image
from ..core.jobs import Artifact, JobContext, Log, Preview, Progress, Result, StepTimer
from ..core.loras import apply_loras
from ..core.model_cache import attached, exclusive
from ..core.outputs import sidecar_record
from ..core.presets import load_preset
from ..core.previews import latents_to_rgb
from ..core.runtime import Runtime
from ..core.settings import checked
from ..core.video_io import VideoError, captioned, read_video, side_by_side, write_mp4
from .attention_processor import flow_processor_specs
from .checkpoint import encoder_config_for, load_onlyflow_adapter
from .optical_flow import flow_estimator, flow_to_color
from .pipeline import generate
from .settings import ENGINE, FlowVideoSettings


def load_adapter(runtime: Runtime, pipe, emit=lambda event: None):
    """The OnlyFlow weights for ``pipe``'s UNet, loaded strictly once and kept with the pipeline."""

    def load():
        preset = load_preset(ENGINE)
        path = runtime.sources.resolve(preset.models["onlyflow"], preset.label, emit)
        emit(Log(f"loading OnlyFlow weights from {path.name}"))
        return load_onlyflow_adapter(
            path, flow_processor_specs(pipe.unet), encoder_config_for(pipe.unet),
            device=runtime.policy.device, dtype=pipe.unet.dtype,
        )

    return attached(pipe, "onlyflow", load)


def load(runtime: Runtime):
    """Pipeline and adapter, for ZeroGPU's start-up placement."""
    pipe = load_animatediff(runtime)
    return pipe, load_adapter(runtime, pipe)


def read_motion_source(settings: FlowVideoSettings) -> tuple[np.ndarray, FlowVideoSettings, list[str]]:
    """frames + 1 frames of the video at the working size and fps (fewer if the clip is short)."""
    video = read_video(settings.video, fps=settings.fps, max_frames=settings.frames + 1,
                       size=(settings.width, settings.height))
    if len(video.frames) < 2:
        raise VideoError("the video has a single frame at this fps: optical flow needs at least 2 frames")
    notes = []
    if len(video.frames) < settings.frames + 1:
        notes.append(f"the clip has {len(video.frames)} frames at {settings.fps} fps: generating {len(video.frames) - 1}")
        settings = dataclasses.replace(settings, frames=len(video.frames) - 1)
    return video.frames, settings, notes


def run(settings: FlowVideoSettings, ctx: JobContext) -> Result:
    runtime, emit = ctx.runtime, ctx.emit
    # 1. Check inputs (limits come from the preset, demo mode has its own)
    preset, settings = checked(settings, ENGINE, runtime.demo)
    emit(Log(f"seed {settings.seed}"))
    started = time.time()

    with runtime.outputs.claim(ENGINE, settings.seed) as stem:
        # 2. Read the reference image and the clip, extract its optical flow (shown before generation
        #    starts); the status says so from the start: reading, then each frame pair's flow with an ETA
        emit(Progress(0, 1, "reading the clip"))
        reference = read_reference_image(settings.reference_image) if settings.reference_image else None
        frames, settings, notes = read_motion_source(settings)
        for note in notes:
            emit(Log(note))
        timer = StepTimer(len(frames) - 1, "optical flow, frame pair")
        emit(Progress(0, timer.total, timer.stage))
        estimator = flow_estimator(runtime.policy.device)

        def on_pairs(done: int) -> None:
            emit(timer.tick(done))
            ctx.check()

        flow = estimator(frames, on_pairs)
        flow_video = flow_to_color(flow)
        write_mp4(flow_video, stem.with_suffix(".flow.mp4"), settings.fps)
        emit(Artifact(str(stem.with_suffix(".flow.mp4")), "video", f"optical flow ({estimator.name})"))
        ctx.check()

        # 3. Load models: the shared AnimateDiff pipeline and OnlyFlow's weights for it
        pipe = load_animatediff(runtime, emit)
        adapter = load_adapter(runtime, pipe, emit)
        ctx.check()

        with exclusive(pipe):  # its FreeNoise / LoRA / IP-Adapter state is this job's until it ends
            # 4. FreeNoise for long clips, LoRAs at their weights, the IP-Adapter only with a reference
            #    image (its weights are fetched on first use; the shared pipeline drops it otherwise)
            configure_free_noise(pipe, settings.frames, settings.context_length, settings.context_stride,
                                 runtime.policy.attention)
            apply_loras(pipe, settings.loras, runtime.loras_dir, runtime.sources)
            ip_ref = preset.models["ip_adapter"]
            ip_folder = runtime.sources.resolve(ip_ref, preset.label, emit) if reference else None
            ip_weights = configure_ip_adapter(pipe, runtime.policy, ip_folder, settings.ip_adapter_scale)
            ctx.check()

            # 5. Generate once per gamma (one gamma, or the sweep), the same seed each time
            timer = StepTimer(settings.steps * len(settings.gammas), "denoising")
            outputs = []
            for gamma in settings.gammas:
                def on_step(step, total, latents, gamma=gamma):
                    emit(timer.tick())
                    emit(Preview(latents_to_rgb(latents), step, f"gamma {gamma:g} · step {step}/{total}"))

                latents = generate(pipe, adapter, flow, settings, gamma, on_step, ctx.cancel, runtime.policy.attention,
                                   ip_adapter_image=reference)
                outputs.append(decode_latents(pipe, latents, ctx))
            dtype = str(pipe.unet.dtype).removeprefix("torch.")

        # 6. Save: the result (or the sweep as input | flow | outputs), a comparison, the sidecar
        source = frames[: settings.frames]
        comparison = side_by_side(captioned([source, flow_video, *outputs], ["input", f"flow ({estimator.name})",
                                                                             *(f"gamma {g:g}" for g in settings.gammas)]))
        if not settings.sweep:
            write_mp4(comparison, stem.with_suffix(".compare.mp4"), settings.fps)
            emit(Artifact(str(stem.with_suffix(".compare.mp4")), "video", "input | flow | result"))
        models = runtime.sources.describe(preset.models)  # optional models are named only when used
        if ip_weights:
            models[ip_ref.role] = f"{ip_ref.repo}/{ip_weights.relative_to(ip_folder).as_posix()}"
        record = sidecar_record(
            ENGINE, settings, settings.seed, models=models, device=runtime.policy.device, dtype=dtype,
            started=started, demo=runtime.demo, flow_method=estimator.name, input_frames=len(frames),
        )
        saved = runtime.outputs.finish_video(stem, comparison if settings.sweep else outputs[0], settings.fps, record)
        return Result(str(saved.path), str(saved.sidecar), settings.seed, {"frames": settings.frames})
