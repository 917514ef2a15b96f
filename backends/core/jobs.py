"""The job protocol every engine speaks.

A job is a plain generator: ``run(settings, cancel=token, runtime=rt)`` yields the small
events below and returns when done. The UI turns them into Gradio updates, the CLI into
printed lines, tests into assertions. Stop is one flag (``CancelToken``) that the job checks
at every step; a cancelled job raises ``JobCancelled`` out of its generator.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Union

import numpy as np


class JobCancelled(Exception):
    """Raised inside a job when its cancel token is set."""


class CancelToken:
    """A cooperative stop flag shared by the UI (or CLI) and a running job."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._claimed = False
        self._lock = threading.Lock()

    def claim(self) -> bool:
        """Take this token for one job; False if a job already has it (a token serves one job)."""
        with self._lock:
            claimed, self._claimed = self._claimed, True
            return not claimed

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise JobCancelled("stopped by the user")


@dataclass(frozen=True)
class Progress:
    """``step`` of ``total`` units of ``stage`` done; ``eta_s`` seconds left for this stage."""

    step: int
    total: int
    stage: str = ""
    eta_s: float | None = None
    seconds_per_step: float | None = None

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0

    def describe(self) -> str:
        text = f"{self.stage} {self.step}/{self.total}".strip()
        if self.seconds_per_step is not None:
            text += f" · {self.seconds_per_step:.2f} s/step"
        if self.eta_s is not None:
            text += f" · ETA {format_seconds(self.eta_s)}"
        return text


@dataclass(frozen=True)
class Preview:
    """Cheap intermediate frames, uint8 (F, H, W, 3)."""

    frames: np.ndarray
    step: int
    caption: str = ""


@dataclass(frozen=True)
class Log:
    message: str
    level: str = "info"


@dataclass(frozen=True)
class Metric:
    """A scalar to plot, e.g. a training loss."""

    name: str
    step: int
    value: float


@dataclass(frozen=True)
class Artifact:
    """An intermediate file worth showing now (flow video, finished section, checkpoint)."""

    path: str
    kind: str  # "video" | "image" | "checkpoint" | "file"
    label: str = ""


@dataclass(frozen=True)
class Result:
    """The job's final output and its sidecar of settings."""

    path: str
    sidecar: str
    seed: int | None = None
    info: dict[str, Any] = field(default_factory=dict)


Event = Union[Progress, Preview, Log, Metric, Artifact, Result]


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class StepTimer:
    """Turns step completions into ``Progress`` events with a rate and an ETA.

    The rate excludes the first step (it pays warm-up costs), once a later one exists.
    """

    def __init__(self, total: int, stage: str = "", clock: Callable[[], float] = time.perf_counter):
        self.total, self.stage, self._clock = total, stage, clock
        self._start = clock()
        self._first_done: float | None = None
        self.done = 0

    def tick(self, step: int | None = None) -> Progress:
        self.done = self.done + 1 if step is None else step
        now = self._clock()
        if self._first_done is None:
            self._first_done = now
            per_step = now - self._start
        elif self.done > 1:
            per_step = (now - self._first_done) / (self.done - 1)
        else:
            per_step = now - self._start
        eta = per_step * max(self.total - self.done, 0)
        return Progress(self.done, self.total, self.stage, eta, per_step)


_DONE = object()


def run_in_thread(work: Callable[[Callable[[Event], None]], Any], cancel: CancelToken) -> Iterator[Event]:
    """Run blocking ``work(emit)`` in a worker thread and yield what it emits, as it emits it.

    This is how a blocking library call (a diffusers pipeline with a step callback) becomes a
    streaming job. If the consumer stops iterating (the browser went away, the generator was
    closed), the token is cancelled so the worker stops at its next step. Exceptions raised in
    the worker, ``JobCancelled`` included, are re-raised here.
    """
    events: queue.Queue = queue.Queue()
    failure: list[BaseException] = []

    def target() -> None:
        try:
            work(events.put)
        except BaseException as error:  # re-raised in the consumer's thread
            failure.append(error)
        finally:
            events.put(_DONE)

    worker = threading.Thread(target=target, name="flowstudio-job", daemon=True)
    worker.start()
    try:
        while (event := events.get()) is not _DONE:
            yield event
    finally:
        if worker.is_alive():
            cancel.cancel()
            worker.join()
    if failure:
        raise failure[0]
