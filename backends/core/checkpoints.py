"""Reading checkpoint files safely and loading them strictly.

Safetensors first. Pickled checkpoints (``.ckpt``, ``.pth``, ``.pt``, ``.bin``) are read with
``torch.load(weights_only=True)``; files that hold more than tensors (PyTorch-Lightning
checkpoints carry callbacks and hyper-parameter objects) go through a small allow-listed
unpickler that rebuilds tensors and plain containers, turns known-harmless framework objects
into inert stand-ins, and refuses every other global. No pickled code is ever executed.
"""

from __future__ import annotations

import os
import pickle
import types
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

if TYPE_CHECKING:  # torch loads on first use, not when the app starts
    import torch

SAFETENSORS_SUFFIXES = (".safetensors",)


class CheckpointError(ValueError):
    """A checkpoint file could not be read or does not fit the model."""


class UnsafeCheckpointError(CheckpointError):
    """A pickle asked for a global we do not allow; nothing was executed."""


# Globals a tensor checkpoint legitimately needs: rebuild functions, storages, containers.
_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"),
    ("collections", "defaultdict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "slice"),
    ("builtins", "complex"),
    ("torch", "Size"),
    ("torch", "device"),
    ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_tensor_v3"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch.nn.parameter", "Parameter"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
}

# Framework objects that Lightning / OmegaConf / argparse put into checkpoints next to the
# weights. They are replaced by inert stand-ins that only record what they were given.
_STAND_IN_MODULE_PREFIXES = (
    "pytorch_lightning.",
    "lightning.",
    "lightning_fabric.",
    "omegaconf.",
    "argparse.",
    "typing.",
    "pathlib.",
)


class StandIn:
    """Inert replacement for a pickled framework object: it stores its state, runs nothing."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs, self.state = args, kwargs, None

    def __setstate__(self, state):
        self.state = state

    def __call__(self, *args, **kwargs):  # some pickles REDUCE the class itself
        return type(self)(*args, **kwargs)


def _stand_in_class(module: str, name: str) -> type:
    return type(name, (StandIn,), {"__module__": f"flowstudio_stand_in.{module}"})


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS or _is_torch_storage_or_dtype(module, name):
            return super().find_class(module, name)
        if module.startswith(_STAND_IN_MODULE_PREFIXES) or module in {m.rstrip(".") for m in _STAND_IN_MODULE_PREFIXES}:
            return _stand_in_class(module, name)
        raise UnsafeCheckpointError(
            f"refusing to load: the checkpoint asks for the Python object {module}.{name}, "
            "which is not a tensor or container we allow; it was not executed"
        )


def _is_torch_storage_or_dtype(module: str, name: str) -> bool:
    import torch

    return module == "torch" and (name.endswith("Storage") or isinstance(getattr(torch, name, None), torch.dtype))


# torch.load accepts a module with `Unpickler` and `load` as its pickle_module.
_restricted_pickle = types.SimpleNamespace(
    Unpickler=_RestrictedUnpickler,
    load=lambda f, **kw: _RestrictedUnpickler(f, **kw).load(),
    __name__="flowstudio_restricted_pickle",
)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Return the object stored in a checkpoint file (usually a dict of tensors or of state dicts)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    if path.suffix in SAFETENSORS_SUFFIXES:
        from safetensors.torch import load_file

        return load_file(str(path), device=str(map_location))
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        pass  # holds non-tensor objects (or is no pickle at all): the allow-listed unpickler decides
    except Exception as error:  # torch raises many kinds of errors on garbage
        raise CheckpointError(f"{path.name} is not a readable checkpoint ({error})") from error
    try:
        return torch.load(path, map_location=map_location, weights_only=False, pickle_module=_restricted_pickle)
    except UnsafeCheckpointError as error:
        raise UnsafeCheckpointError(f"{path.name}: {error}") from None
    except Exception as error:
        raise CheckpointError(f"{path.name} is not a readable checkpoint ({error})") from error


def atomic_save(obj, path: str | Path) -> Path:
    """torch.save to a temporary file, then rename, so a crash never leaves half a checkpoint."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, temporary)
    os.replace(temporary, path)
    return path


def strip_prefix(state_dict: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Drop ``prefix`` from the keys that start with it (e.g. ``module.`` from DDP checkpoints)."""
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state_dict.items()}


def select_prefix(state_dict: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries under ``prefix``, with the prefix removed."""
    return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}


def _name_keys(keys: Iterable[str], limit: int = 8) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f" … and {len(keys) - limit} more" if len(keys) > limit else "")


def check_state_dict(
    expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor], what: str, allow_missing: bool = False
) -> None:
    """Raise ``CheckpointError`` naming missing, unexpected and mis-shaped keys."""
    missing = set(expected) - set(given)
    unexpected = set(given) - set(expected)
    wrong_shape = {
        k for k in set(expected) & set(given) if tuple(expected[k].shape) != tuple(given[k].shape)
    }
    problems = []
    if missing and not allow_missing:
        problems.append(f"missing keys: {_name_keys(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_name_keys(unexpected)}")
    if wrong_shape:
        details = [f"{k} {tuple(given[k].shape)} vs model {tuple(expected[k].shape)}" for k in sorted(wrong_shape)]
        problems.append("shape mismatch: " + "; ".join(details[:8]))
    if problems:
        raise CheckpointError(f"{what} does not match the checkpoint: " + " | ".join(problems))


def load_state_dict_strict(module: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], what: str) -> None:
    """Load every key into ``module`` (cast to its dtypes) or raise naming what does not fit."""
    check_state_dict(module.state_dict(), state_dict, what)
    is_meta = any(p.is_meta for p in module.parameters())
    module.load_state_dict(dict(state_dict), strict=True, assign=is_meta)
