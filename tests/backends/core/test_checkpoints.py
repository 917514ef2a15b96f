import sys
import types

import pytest
import torch
from safetensors.torch import save_file

from backends.core.checkpoints import (
    CheckpointError,
    UnsafeCheckpointError,
    load_checkpoint,
    load_state_dict_strict,
    strip_prefix,
)


def _with_best(obj):
    obj.best = 1.5
    return obj


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_safetensors_and_weights_only_pickle_round_trip(tmp_path):
    tensors = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.ones(2, dtype=torch.float16)}
    save_file(tensors, tmp_path / "w.safetensors")
    torch.save({"state_dict": tensors, "step": 3}, tmp_path / "w.ckpt")
    assert torch.equal(load_checkpoint(tmp_path / "w.safetensors")["a"], tensors["a"])
    loaded = load_checkpoint(tmp_path / "w.ckpt")
    assert loaded["step"] == 3 and loaded["state_dict"]["b"].dtype == torch.float16


def test_lightning_objects_become_inert_stand_ins(tmp_path):
    # A class whose module looks like Lightning's, pickled next to the weights.

    names = ["pytorch_lightning", "pytorch_lightning.callbacks", "pytorch_lightning.callbacks.fake"]
    assert not any(n in sys.modules for n in names), "the test needs Lightning not to be installed"
    fake = types.ModuleType(names[-1])

    ModelCheckpoint = type("ModelCheckpoint", (), {"__module__": fake.__name__})
    ModelCheckpoint.__qualname__ = "ModelCheckpoint"
    fake.ModelCheckpoint = ModelCheckpoint
    sys.modules.update({n: fake if n == names[-1] else types.ModuleType(n) for n in names})
    try:
        torch.save({"state_dict": {"w": torch.zeros(2)}, "callbacks": {"cb": _with_best(ModelCheckpoint())}}, tmp_path / "l.ckpt")
    finally:
        for n in names:
            del sys.modules[n]
    loaded = load_checkpoint(tmp_path / "l.ckpt")
    assert torch.equal(loaded["state_dict"]["w"], torch.zeros(2))
    assert type(loaded["callbacks"]["cb"]).__name__ == "ModelCheckpoint"
    assert loaded["callbacks"]["cb"].state == {"best": 1.5}


def test_unknown_global_is_refused_not_executed(tmp_path):
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": _Evil()}, tmp_path / "evil.ckpt")
    with pytest.raises(UnsafeCheckpointError, match="os.system|posix.system"):
        load_checkpoint(tmp_path / "evil.ckpt")


def test_unreadable_file_gives_clear_error(tmp_path):
    (tmp_path / "bad.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "bad.ckpt")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.ckpt")


def test_strict_load_names_missing_unexpected_and_shape(tmp_path):
    module = torch.nn.Linear(3, 2)
    good = {"module.weight": torch.ones(2, 3), "module.bias": torch.zeros(2)}
    load_state_dict_strict(module, strip_prefix(good, "module."), "toy")
    assert torch.equal(module.weight, torch.ones(2, 3))
    with pytest.raises(CheckpointError, match="missing keys: bias"):
        load_state_dict_strict(module, {"weight": torch.ones(2, 3)}, "toy")
    with pytest.raises(CheckpointError, match="unexpected keys: extra"):
        load_state_dict_strict(module, {"weight": torch.ones(2, 3), "bias": torch.zeros(2), "extra": torch.zeros(1)}, "toy")
    with pytest.raises(CheckpointError, match=r"weight \(3, 3\)"):
        load_state_dict_strict(module, {"weight": torch.ones(3, 3), "bias": torch.zeros(2)}, "toy")


def test_strict_load_onto_meta_module_assigns_tensors():
    with torch.device("meta"):
        module = torch.nn.Linear(3, 2)
    load_state_dict_strict(module, {"weight": torch.ones(2, 3, dtype=torch.float16), "bias": torch.zeros(2, dtype=torch.float16)}, "toy")
    assert not module.weight.is_meta and module.weight.dtype == torch.float16
