"""Jobs on a ZeroGPU Space: each one runs inside a ``spaces.GPU`` call, in a worker process that
holds a GPU for a duration we ask for.

What `spaces` requires, and how we meet it:
- the GPU function is decorated when the app is built, before ``launch()`` (``decorate``): at
  launch `spaces` reports the decorated functions, and a Space without any fails to start;
- the call is made where the visitor's Gradio request is visible (the job's thread runs in a copy
  of the event handler's context), so the visitor's quota is charged, not the Space's;
- arguments and events are pickled: only the engine name, the settings and a time budget travel,
  and the worker uses the runtime it inherited from the app;
- only a ``gr.Error`` keeps its text on the way back: settings and weights are checked before a
  GPU is asked for, and the errors a job can still raise are turned into ``gr.Error`` in the worker;
- one call lasts at most ``CALL_LIMIT_S``: a resumable job (a trainer, Pyramid Flow) runs as several
  calls, each resuming from the checkpoint the last one saved, each asked for the work left plus
  what resuming costs (``gpu_resume_seconds``, where the settings have it); any other job that
  cannot fit is refused before it starts, with the limit and how much of it fits.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import gradio as gr

from backends.core.jobs import CallEnded, CancelToken, Event, JobContext, Log

CALL_LIMIT_S = 600  # the longest GPU call we ask ZeroGPU for
MIN_CALL_S = 15
RESUME_MARGIN_S = 30  # a resumable call stops this long before its end, to save its checkpoint
MAX_CALLS = 100  # successive calls of one resumable job

_gpu_call: Callable[..., Iterator[Event]] | None = None  # the decorated ``gpu_call``


@dataclass(frozen=True)
class CallFinished:
    """Sent by the worker when its call's time was up before the job's end (the next call resumes)."""


def gpu_duration(engine: str, settings: Any, budget_s: int, owner: str | None = None) -> int:
    """The seconds ``spaces`` reserves for a call: receives the same arguments as ``gpu_call``."""
    return budget_s


def gpu_call(engine: str, settings: Any, budget_s: int, owner: str | None = None) -> Iterator[Event]:
    """One GPU call, in the ZeroGPU worker: the job (or, resumable, as much of it as fits)."""
    from backends.core.sources import MissingWeights
    from backends.engines import get_engine, start_engine

    from .common import USER_ERRORS

    cancel = CancelToken()
    # a resumable job stops in time to save; half the call at least, so every call makes progress
    deadline = time.monotonic() + max(budget_s - RESUME_MARGIN_S, budget_s / 2) if get_engine(engine).resumable else None
    run = None
    try:
        run = start_engine(engine, settings, cancel, deadline=deadline, owner=owner)
        yield from run
    except GeneratorExit:  # Stop on the page: `spaces` closes this generator
        cancel.cancel()
        if run is not None:
            run.join()
        raise
    except CallEnded:
        yield CallFinished()
    except (*USER_ERRORS, MissingWeights) as error:  # only a gr.Error keeps its text through `spaces`
        raise gr.Error(str(error), print_exception=False) from None
    except Exception as error:
        raise gr.Error(f"The job failed on the GPU: {type(error).__name__}: {error}", print_exception=False) from None


def decorate() -> None:
    """Wrap ``gpu_call`` in ``spaces.GPU`` now, while the app is built (before launch)."""
    global _gpu_call
    if _gpu_call is None:
        import spaces

        _gpu_call = spaces.GPU(duration=gpu_duration)(gpu_call)


def resume_seconds(settings: Any) -> int:
    """What a resumed call spends beyond the work left (loading again, work its predecessor lost)."""
    return int(settings.gpu_resume_seconds()) if hasattr(settings, "gpu_resume_seconds") else 0


def first_call_seconds(engine: str, settings: Any) -> int:
    """The seconds of the first call; raises ValueError for a job that cannot fit one call and
    cannot resume, or whose resumed calls could not make progress."""
    from backends.engines import get_engine

    needed = max(MIN_CALL_S, int(settings.gpu_seconds()))
    resumable = get_engine(engine).resumable
    if needed > CALL_LIMIT_S and resumable and resume_seconds(settings) + RESUME_MARGIN_S > CALL_LIMIT_S:
        raise ValueError(
            f"each later GPU call of this job would need about {resume_seconds(settings)} s before it goes on "
            f"(loading again, then its longest step), more than one ZeroGPU call allows ({CALL_LIMIT_S} s): "
            "use fewer steps, a shorter or smaller video, or run it on your own GPU")
    if needed <= CALL_LIMIT_S or resumable:
        return min(needed, CALL_LIMIT_S)
    raise ValueError(
        f"this job needs about {needed} s of GPU time, more than one ZeroGPU call allows ({CALL_LIMIT_S} s); "
        f"about {CALL_LIMIT_S / needed:.0%} of it fits: use fewer frames, steps or a smaller size, "
        "or run it on your own GPU")


def run_on_zero_gpu(engine: str, settings: Any, owner: str | None, ctx: JobContext) -> None:
    """The job's events through successive GPU calls (one, unless a resumable job needs more).
    ``settings`` come checked (``ui.common.start_job``), so a bad request never spends GPU time."""
    if _gpu_call is None:
        raise RuntimeError("the ZeroGPU function was not decorated at start-up (ui.zerogpu.decorate)")
    remaining = max(MIN_CALL_S, int(settings.gpu_seconds()))
    budget = first_call_seconds(engine, settings)
    calls = 0
    while calls < MAX_CALLS:
        calls += 1
        events = _gpu_call(engine, settings, budget, owner)
        ended_early = False
        try:
            for event in events:
                if isinstance(event, CallFinished):
                    ended_early = True
                    continue
                if ctx.cancelled:
                    break
                ctx.emit(event)
        finally:
            events.close()  # Stop: the worker's job stops at its next step
        ctx.check()
        if not ended_early:
            return
        remaining = max(MIN_CALL_S, remaining - budget + RESUME_MARGIN_S + resume_seconds(settings))
        budget = min(remaining, CALL_LIMIT_S)
        settings = dataclasses.replace(settings, resume=True)
        ctx.emit(Log(f"ZeroGPU call {calls} ended at its time limit; call {calls + 1} resumes from the checkpoint"))
    raise RuntimeError(f"the job did not finish in {MAX_CALLS} ZeroGPU calls")
