"""Running GPU work on a ZeroGPU Space, and plainly everywhere else.

On ZeroGPU the job runs inside ``spaces.GPU`` (a forked worker that holds a GPU for a
duration we estimate from the job's size). Its arguments are pickled, so only the engine name
and the settings travel; the worker uses the process runtime it inherited. Stop closes the
generator, which ``spaces`` relays to the worker, whose job then stops at its next step.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Iterator

from .jobs import CancelToken, Event


def _gpu_job(engine: str, settings: Any) -> Iterator[Event]:
    from ..engines import run_engine

    yield from run_engine(engine, settings)


def gpu_duration(engine: str, settings: Any) -> int:
    """Seconds of GPU to ask for: the settings' own estimate, within ZeroGPU's bounds."""
    return max(15, min(int(settings.gpu_seconds()), 600))


@lru_cache(maxsize=1)
def _wrapped_gpu_job() -> Callable[[str, Any], Iterator[Event]]:
    import spaces

    return spaces.GPU(duration=gpu_duration)(_gpu_job)


def stream_job(engine: str, settings: Any, cancel: CancelToken, zero_gpu: bool) -> Iterator[Event]:
    """The events of one job; on ZeroGPU through the decorated worker, else in this process."""
    if not zero_gpu:
        from ..engines import run_engine

        yield from run_engine(engine, settings, cancel)
        return
    events = _wrapped_gpu_job()(engine, settings)
    try:
        for event in events:
            yield event
            if cancel.cancelled:
                break
    finally:
        events.close()
    cancel.raise_if_cancelled()
