"""A job's events on a terminal: what headless runs and the trainers' own CLIs print."""

from __future__ import annotations

import sys
from typing import Iterable

from .jobs import Artifact, Event, Log, Metric, Progress, Result


def print_events(events: Iterable[Event]) -> Result | None:
    """Show a job's events on a terminal, one line each (progress rewrites its line on a
    terminal); previews are skipped. Returns the job's ``Result``."""
    result = None
    for event in events:
        if isinstance(event, Progress):
            end = "\n" if event.step >= event.total or not sys.stdout.isatty() else "\r"
            print(f"  {event.describe():<70}", end=end, flush=True)
        elif isinstance(event, Log):
            print(f"  {event.message}", flush=True)
        elif isinstance(event, Metric):
            print(f"  {event.name} step {event.step}: {event.value:.5g}", flush=True)
        elif isinstance(event, Artifact):
            print(f"  {event.label or event.kind}: {event.path}", flush=True)
        elif isinstance(event, Result):
            result = event
    return result
