"""The job protocol every engine speaks, and the one path every job runs through.

A job is a plain function, ``run(settings, ctx) -> Result``: it emits the small events below
through ``ctx.emit`` while it works, calls ``ctx.check()`` at every step boundary (Stop raises
``JobCancelled`` there), and returns its ``Result``. ``JobRun`` runs it on one worker thread
with one event queue; the page, the API, the CLI and the tests all read that queue the same
way. Progress and previews are coalesced (only the latest matters); logs, metrics, artifacts
and the result are never dropped, however slowly the reader reads.
"""

from __future__ import annotations

import collections
import contextvars
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
        self._finished = threading.Event()
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

    def finish(self) -> None:
        """The job of this token has ended (done, failed or stopped): Stop has nothing to stop."""
        self._finished.set()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

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


class EventQueue:
    """The one queue between a job and its reader. A progress or preview replaces one of its kind
    not read yet, unless another event came between them (order is kept); everything else queues
    without a bound: a slow reader gets every log, metric, artifact and the result."""

    COALESCED = (Progress, Preview)

    def __init__(self) -> None:
        self._items: collections.deque = collections.deque()
        self._pending: dict[type, list] = {}  # kind -> its unread [event, barrier] cell
        self._barrier = 0  # events put that are never coalesced
        self._ready = threading.Condition()
        self._closed = False

    def put(self, event: Event) -> None:
        with self._ready:
            kind = type(event)
            if kind in self.COALESCED:
                cell = self._pending.get(kind)
                if cell is not None and cell[1] == self._barrier:
                    cell[0] = event
                    return
                cell = self._pending[kind] = [event, self._barrier]
                self._items.append(cell)
            else:
                self._barrier += 1
                self._items.append(event)
            self._ready.notify()

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event; None once the queue is closed and empty (or after ``timeout``)."""
        with self._ready:
            if not self._ready.wait_for(lambda: self._items or self._closed, timeout):
                return None
            if not self._items:
                return None
            item = self._items.popleft()
            if isinstance(item, list):  # a coalesced cell
                if self._pending.get(type(item[0])) is item:
                    del self._pending[type(item[0])]
                return item[0]
            return item


class CallEnded(JobCancelled):
    """A ZeroGPU call's time is up: a resumable job (a trainer) saves and stops here, and the next
    GPU call resumes it."""


@dataclass
class JobContext:
    """What a running job gets: the runtime, its Stop token and where its events go."""

    runtime: Any  # backends.core.runtime.Runtime (not imported: the runtime imports jobs)
    cancel: CancelToken
    emit: Callable[[Event], None]
    deadline: float | None = None  # time.monotonic() at which a resumable job ends this call

    @property
    def cancelled(self) -> bool:
        return self.cancel.cancelled

    def check(self) -> None:
        """Call at every step boundary: raises ``JobCancelled`` once Stop was pressed, and
        ``CallEnded`` once the call's deadline has passed."""
        self.cancel.raise_if_cancelled()
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise CallEnded("this GPU call's time is up")

    raise_if_cancelled = check  # a context stands in where a CancelToken is taken (the trainers)


Job = Callable[[JobContext], "Result | None"]


class JobRun:
    """One job on its own worker thread, its events on one ``EventQueue``.

    Iterating yields the events as they come (the result last) and re-raises the job's error.
    The job keeps running if the reader goes away (a closed page still gets its result saved);
    only the token stops it. Once Stop is pressed, progress and previews of later steps are no
    longer shown. The worker runs in a copy of the starting thread's context, so what the caller
    sees there (a Gradio request, which ZeroGPU bills) the job sees too.
    """

    def __init__(self, job: Job, runtime: Any, cancel: CancelToken | None = None, deadline: float | None = None,
                 name: str = "job"):
        self.cancel = cancel or CancelToken()
        self.events = EventQueue()
        self.error: BaseException | None = None
        self.context = JobContext(runtime, self.cancel, self.events.put, deadline)
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._work, job), daemon=True,
                                        name=f"flowstudio-{name}")
        self._thread.start()

    def _work(self, job: Job) -> None:
        try:
            result = job(self.context)
            if result is not None:
                self.events.put(result)
        except BaseException as error:  # re-raised in the reader's thread
            self.error = error
        finally:
            self.cancel.finish()
            self.events.close()

    @property
    def finished(self) -> bool:
        return not self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def __iter__(self) -> Iterator[Event]:
        while (event := self.events.get()) is not None:
            if self.cancel.cancelled and isinstance(event, EventQueue.COALESCED):
                continue  # a step that ended after Stop: not shown
            yield event
        self._thread.join()
        if self.error is not None:
            raise self.error


def drain(events: Iterator[Event], emit: Callable[[Event], None]) -> Any:
    """Emit every event of an event generator and return its return value (for the trainers and
    samplers that are generators themselves)."""
    while True:
        try:
            emit(next(events))
        except StopIteration as stop:
            return stop.value
