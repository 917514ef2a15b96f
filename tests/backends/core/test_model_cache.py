import pytest

from backends.core.model_cache import ModelCache


class Model:
    def __init__(self, name, log):
        self.name, self.log = name, log
        log.append(f"load {name}")

    def release(self):
        self.log.append(f"release {self.name}")


def test_loads_lazily_once_and_moves_the_last_used_out():
    log = []
    cache = ModelCache(keep=1)
    assert cache.loaded() == []
    a = cache.get("a", lambda: Model("a", log))
    assert cache.get("a", lambda: Model("a", log)) is a
    cache.get("b", lambda: Model("b", log))
    assert log == ["load a", "release a", "load b"] and cache.loaded() == ["b"]


def test_keeps_the_most_recently_used_when_it_can_hold_more():
    log = []
    cache = ModelCache(keep=2)
    for name in ["a", "b", "a", "c"]:
        cache.get(name, lambda name=name: Model(name, log))
    assert cache.loaded() == ["a", "c"] and "release b" in log
    cache.evict()
    assert cache.loaded() == [] and cache.peek("a") is None


def test_keep_must_be_positive():
    with pytest.raises(ValueError):
        ModelCache(keep=0)


def test_attached_models_load_once_per_owner():
    from backends.core.model_cache import attached

    class Owner:
        pass

    log, first, second = [], Owner(), Owner()
    a = attached(first, "adapter", lambda: Model("a", log))
    assert attached(first, "adapter", lambda: Model("again", log)) is a
    attached(second, "adapter", lambda: Model("b", log))
    assert log == ["load a", "load b"]
