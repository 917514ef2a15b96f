"""Where weights come from: a local folder, the Hugging Face cache, a download, or demo mode.

Every engine asks ``ModelSources.resolve(ref)`` for a path and never calls the Hub itself, so a
person with a models folder never touches the network, an offline machine gets a message that
names what is missing, and demo mode swaps in tiny random models through the same loading code.
"""

from __future__ import annotations

import importlib
import os
import threading
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Callable, Mapping, Sequence

from .devices import truthy
from .jobs import Event, Log, Progress
from .presets import ModelRef

MODELS_DIR_ENV = "FLOWSTUDIO_MODELS_DIR"
MODEL_PATHS_ENV = "FLOWSTUDIO_MODEL_PATHS"  # "repo=path,repo=path"
DEMO_DIR_ENV = "FLOWSTUDIO_DEMO_DIR"
OFFLINE_REASON = "This app runs offline (--offline or HF_HUB_OFFLINE=1)"
DEMO_REASON = "Demo mode has no tiny stand-in for them"
DEMO_BUILD_VERSION = "v1"  # bump when a tiny-model builder changes what it writes


class MissingWeights(RuntimeError):
    """The weights an engine needs are not on this machine and cannot be had now. Carries only
    its message, the repos it names and why they cannot be had, so it pickles (a ZeroGPU worker
    sends it back)."""

    def __init__(self, message: str, repos: tuple[str, ...] = (), reason: str = ""):
        super().__init__(message)
        self.repos = tuple(repos)
        self.reason = reason

    def __reduce__(self):
        return type(self), (str(self), self.repos, self.reason)

    @classmethod
    def of(cls, engine_label: str, refs: Sequence[ModelRef], reason: str, engine: str | None = None, *,
           command: bool = True, panel: bool = False) -> "MissingWeights":
        """Name every one of ``refs`` (with its size where known), say why they cannot be had
        and how to provide them: ``command``: `python app.py --download ENGINE` (where a download
        can help), ``panel``: the Models panel's Download button (where it can start one)."""
        named = ", ".join(f"{ref.id} (about {ref.size_gb:g} GB)" if ref.size_gb else ref.id for ref in refs)
        engine = engine or next((ref.engine for ref in refs if ref.engine), None)
        ways = []
        if command and engine:
            ways.append(f"with `python app.py --download {engine}`")
        if panel:
            ways.append("in the Models panel")
        folders = " / ".join(f"$FLOWSTUDIO_MODELS_DIR/{ref.repo}" for ref in refs)
        copy = f"a copy of each repository in {folders} (or map one with --model-path REPO=PATH)."
        provide = f"Download them {' or '.join(ways)}, or put {copy}" if ways else f"Put {copy}"
        reason = reason.strip().rstrip(".")
        return cls(f"Weights for {engine_label} are not in the local cache: {named}. {reason}. {provide}",
                   tuple(ref.repo for ref in refs), reason)


@dataclass(frozen=True)
class WeightStatus:
    ref: ModelRef
    present: bool
    where: str  # "local folder", "Hugging Face cache", "demo (tiny random weights)", "missing"
    path: Path | None
    size_bytes: int | None


def parse_model_paths(text: str | None) -> dict[str, str]:
    """``"org/a=/models/a,org/b=/models/b"`` -> mapping of repo id to folder."""
    pairs = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        repo, sep, path = item.partition("=")
        if not sep or not repo or not path:
            raise ValueError(f"model path mapping must look like REPO=PATH, got {item!r}")
        pairs[repo.strip()] = path.strip()
    return pairs


def folder_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _progress_tqdm(emit: Callable[[Event], None], stage: str):
    """A tqdm class that reports to a job's event stream instead of a terminal."""
    from tqdm.auto import tqdm

    class EventTqdm(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = False
            kwargs["file"] = open(os.devnull, "w")
            super().__init__(*args, **kwargs)

        def update(self, n=1):
            super().update(n)
            if self.total:
                rate = self.format_dict.get("rate")
                eta = (self.total - self.n) / rate if rate else None
                emit(Progress(int(self.n), int(self.total), f"{stage} {self.desc or ''}".strip(), eta))

    return EventTqdm


class ModelSources:
    def __init__(
        self,
        models_dir: str | Path | None = None,
        overrides: Mapping[str, str | Path] | None = None,
        offline: bool = False,
        demo: bool = False,
        demo_dir: str | Path | None = None,
        cache_dir: str | Path | None = None,
    ):
        self.models_dir = Path(models_dir) if models_dir else None
        self.overrides = {repo: Path(path) for repo, path in (overrides or {}).items()}
        self.offline = offline or truthy(os.environ.get("HF_HUB_OFFLINE"))
        self.demo = demo
        self.demo_dir = Path(demo_dir or Path.home() / ".cache" / "flowstudio" / "demo")
        self.cache_dir = cache_dir
        self._demo_lock = threading.Lock()

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, **kwargs) -> "ModelSources":
        kwargs["models_dir"] = kwargs.get("models_dir") or env.get(MODELS_DIR_ENV)
        kwargs["demo_dir"] = kwargs.get("demo_dir") or env.get(DEMO_DIR_ENV)
        overrides = parse_model_paths(env.get(MODEL_PATHS_ENV))
        overrides.update(kwargs.pop("overrides", None) or {})
        return cls(overrides=overrides, **kwargs)

    # -- finding what is already here ------------------------------------------------------
    def _local_folder(self, ref: ModelRef) -> tuple[Path, str] | None:
        candidates = []
        if ref.repo in self.overrides:
            candidates.append(self.overrides[ref.repo])
        if self.models_dir:
            candidates += [self.models_dir / ref.repo, self.models_dir / ref.repo.replace("/", "--")]
        for folder in candidates:
            target = folder / ref.filename if ref.filename else folder
            if target.exists():
                return target, "local folder"
        return None

    def _hub_cache(self, ref: ModelRef) -> Path | None:
        import huggingface_hub as hub

        if ref.filename:
            found = hub.try_to_load_from_cache(ref.repo, ref.filename, cache_dir=self.cache_dir)
            return Path(found) if isinstance(found, str) else None
        try:
            folder = Path(
                hub.snapshot_download(
                    ref.repo, allow_patterns=list(ref.allow_patterns or ()) or None,
                    local_files_only=True, cache_dir=self.cache_dir,
                )
            )
        except Exception:  # not cached (the hub raises several kinds of errors for that)
            return None
        # A snapshot folder exists; make sure the files we need are really there.
        files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
        for pattern in ref.allow_patterns or ():
            if not any(fnmatch(name, pattern) for name in files):
                return None
        return folder if files else None

    def _demo_build(self, ref: ModelRef) -> Path:
        if not ref.demo:
            raise MissingWeights.of(ref.repo, [ref], DEMO_REASON, command=False)
        module_name, _, function_name = ref.demo.partition(":")
        builder = getattr(importlib.import_module(module_name), function_name)
        folder = self.demo_dir / f"{function_name}-{DEMO_BUILD_VERSION}"
        with self._demo_lock:
            if not (folder / ".complete").exists():
                folder.mkdir(parents=True, exist_ok=True)
                builder(folder)
                (folder / ".complete").touch()
        return folder / ref.filename if ref.filename else folder

    def status(self, ref: ModelRef) -> WeightStatus:
        local = self._local_folder(ref)
        if local:
            return WeightStatus(ref, True, local[1], local[0], folder_size(local[0]))
        if self.demo and ref.demo:
            return WeightStatus(ref, True, "demo (tiny random weights)", None, None)
        cached = self._hub_cache(ref)
        if cached:
            return WeightStatus(ref, True, "Hugging Face cache", cached, folder_size(cached))
        return WeightStatus(ref, False, "missing", None, None)

    def describe(self, refs: Mapping[str, ModelRef]) -> dict[str, str]:
        """Role -> ``repo[/file]@version`` for a sidecar: the Hub snapshot's commit when the files
        come from the Hugging Face cache, else where they came from (local folder, demo)."""
        described = {}
        for role, ref in refs.items():
            if ref.optional:
                continue  # named by the job when it is used
            status = self.status(ref)
            parts = status.path.parts if status.path else ()
            commit = parts[parts.index("snapshots") + 1] if "snapshots" in parts[:-1] else None
            described[role] = f"{ref.id}@{commit or status.where}"
        return described

    def available(self, ref: ModelRef) -> bool:
        """Whether ``resolve`` can give ``ref`` without the network."""
        if self._local_folder(ref):
            return True
        return bool(ref.demo) if self.demo else self._hub_cache(ref) is not None

    def check_available(self, refs: Sequence[ModelRef], engine_label: str, engine: str | None = None,
                        command: bool = True) -> None:
        """Raise ``MissingWeights`` naming every one of ``refs`` that cannot be had, when the
        network may not be used (offline, demo mode); online, missing weights download in the job.
        ``command``: the message may advise `python app.py --download` (not when that is what ran)."""
        if not (self.offline or self.demo):
            return
        missing = [ref for ref in refs if not self.available(ref)]
        if missing:
            reason = DEMO_REASON if self.demo else OFFLINE_REASON  # a download helps only offline
            raise MissingWeights.of(engine_label, missing, reason, engine, command=command and not self.demo)

    # -- getting it -------------------------------------------------------------------------
    def resolve(self, ref: ModelRef, engine_label: str, emit: Callable[[Event], None] | None = None) -> Path:
        """A local path for ``ref``: a local folder first, then (demo mode) a tiny stand-in, the
        Hugging Face cache, and last a download if allowed."""
        local = self._local_folder(ref)
        if local:
            return local[0]
        if self.demo:
            return self._demo_build(ref)
        cached = self._hub_cache(ref)
        if cached:
            return cached
        if self.offline:
            raise MissingWeights.of(engine_label, [ref], OFFLINE_REASON)
        return self.download(ref, engine_label, emit)

    def download(self, ref: ModelRef, engine_label: str, emit: Callable[[Event], None] | None = None) -> Path:
        import huggingface_hub as hub

        emit = emit or (lambda event: None)
        size = f" (about {ref.size_gb:g} GB)" if ref.size_gb else ""
        emit(Log(f"downloading {ref.repo}{size} from the Hugging Face Hub"))
        tqdm_class = _progress_tqdm(emit, f"downloading {ref.repo}")
        try:
            if ref.filename:
                return Path(hub.hf_hub_download(ref.repo, ref.filename, cache_dir=self.cache_dir, tqdm_class=tqdm_class))
            return Path(
                hub.snapshot_download(
                    ref.repo, allow_patterns=list(ref.allow_patterns or ()) or None,
                    cache_dir=self.cache_dir, tqdm_class=tqdm_class,
                )
            )
        except Exception as error:  # network down, repo gated, disk full: say which
            reason = f"The download failed: {' '.join(str(error).split())}"  # the Hub's messages span lines
            raise MissingWeights.of(engine_label, [ref], reason, command=False) from error
