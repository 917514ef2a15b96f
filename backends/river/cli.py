"""Consuming RIVER job events on a terminal (the trainers' `python -m` entry points)."""

from __future__ import annotations

import sys
from typing import Iterable

from ..core.jobs import Artifact, Event, Log, Metric, Progress, Result


def print_events(events: Iterable[Event], stream=sys.stdout) -> Result | None:
    """Print progress, metrics, logs and artifacts one line each; return the final `Result`."""
    result = None
    for event in events:
        if isinstance(event, Progress):
            print(event.describe(), file=stream, flush=True)
        elif isinstance(event, Metric):
            print(f"  {event.name} @ {event.step}: {event.value:.5g}", file=stream, flush=True)
        elif isinstance(event, Log):
            print(f"[{event.level}] {event.message}", file=stream, flush=True)
        elif isinstance(event, Artifact):
            print(f"saved {event.kind}: {event.path} ({event.label})", file=stream, flush=True)
        elif isinstance(event, Result):
            result = event
            print(f"done: {event.path}", file=stream, flush=True)
    return result
