"""Lazily loaded models, kept while in use: the last-used engine stays resident and is moved out
(dropped, memory freed) when another engine needs the GPU."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, TypeVar

from .devices import free_memory

T = TypeVar("T")


class ModelCache:
    def __init__(self, keep: int = 1):
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self.keep = keep
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.RLock()

    def get(self, key: str, load: Callable[[], T]) -> T:
        """The cached object for ``key``, loading it on first use (least recently used goes)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            while len(self._items) >= self.keep:
                self._drop(next(iter(self._items)))
            value = load()
            self._items[key] = value
            return value

    def peek(self, key: str) -> Any | None:
        with self._lock:
            return self._items.get(key)

    def loaded(self) -> list[str]:
        with self._lock:
            return list(self._items)

    def evict(self, key: str | None = None) -> None:
        """Drop one entry, or all of them."""
        with self._lock:
            for name in [key] if key else list(self._items):
                if name in self._items:
                    self._drop(name)

    def _drop(self, key: str) -> None:
        value = self._items.pop(key)
        release = getattr(value, "release", None)
        if callable(release):
            release()
        del value
        free_memory()


def attached(owner: Any, name: str, load: Callable[[], T]) -> T:
    """A model that lives and dies with ``owner`` (e.g. an adapter on a cached pipeline that two
    engines share): loaded on first use, dropped when the owner is evicted."""
    extras = owner.__dict__.setdefault("_flowstudio_attached", {})
    if name not in extras:
        extras[name] = load()
    return extras[name]


_owner_locks = threading.Lock()


def exclusive(owner: Any) -> threading.Lock:
    """The lock that gives one job at a time a shared model with per-job state (a pipeline's
    FreeNoise windows, LoRAs, IP-Adapter): with several GPU slots, jobs on it take turns."""
    with _owner_locks:
        return owner.__dict__.setdefault("_flowstudio_lock", threading.Lock())
