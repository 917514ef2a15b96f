"""Headless runs: ``python app.py run ENGINE --flag value ...`` drives the same job generator as
the browser, prints progress, and writes the same output and sidecar.

Each engine's flags come from its settings dataclass (one source of truth): a field
``context_stride`` becomes ``--context-stride``, with the field's type and help text. A flag
left out takes the engine preset's default for the mode (``--demo`` has its own), as the tab does.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import typing
from pathlib import Path
from typing import Any, Iterable, Sequence

from .core.devices import OFFLOAD_MODES
from .core.console import print_events
from .core.jobs import CancelToken, JobCancelled
from .core.loras import LoraChoice
from .core.presets import load_preset
from .core.runtime import Runtime, configure
from .core.settings import from_dict, mode_defaults
from .core.sources import parse_model_paths
from .core.video_io import read_video, write_gif
from .engines import ENGINES, get_engine, start_engine


def add_runtime_flags(parser: argparse.ArgumentParser) -> None:
    """Flags that shape the runtime, shared by the app and headless runs."""
    parser.add_argument("--demo", action="store_true", help="tiny random-weight models, no downloads (outputs are noise)")
    parser.add_argument("--offline", action="store_true", help="never reach the Hub; use local folders and the cache")
    parser.add_argument("--offload", choices=OFFLOAD_MODES, default=None,
                        help="CPU offload on CUDA: none, model or sequential (least VRAM); default: model on "
                             "cards under 24 GB, none on larger ones")
    parser.add_argument("--output-dir", default="outputs", help="where videos and sidecars are saved")
    parser.add_argument("--loras-dir", default="loras", help="folder of LoRA files offered in the pickers")
    parser.add_argument("--models-dir", default=None,
                        help="folder with local copies of Hub repos as <org>/<name> (also $FLOWSTUDIO_MODELS_DIR)")
    parser.add_argument("--model-path", action="append", default=[], metavar="REPO=PATH", dest="model_paths",
                        help="use a local folder for one Hub repo (repeatable)")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even if a GPU is present")


def runtime_from_args(args: argparse.Namespace, shared: bool = False, shared_gallery: bool = False,
                      allow_downloads: bool = False) -> Runtime:
    return configure(
        Runtime.create(
            demo=args.demo,
            offline=args.offline,
            offload=args.offload,
            output_dir=args.output_dir,
            loras_dir=args.loras_dir,
            models_dir=args.models_dir,
            model_paths=parse_model_paths(",".join(args.model_paths)),
            force_cpu=args.cpu,
            concurrency=getattr(args, "concurrency", 1),
            shared=shared,
            shared_gallery=shared_gallery,
            allow_downloads=allow_downloads,
        )
    )


def parse_lora(text: str) -> LoraChoice:
    """``SOURCE`` or ``SOURCE:WEIGHT``."""
    source, sep, weight = text.rpartition(":")
    if sep and source:
        try:
            return LoraChoice(source, float(weight))
        except ValueError:
            pass
    return LoraChoice(text, 1.0)


def add_settings_flags(parser: argparse.ArgumentParser, settings_cls: type, defaults: dict[str, Any]) -> None:
    """One flag per field; ``defaults`` (the preset's) are only shown, flags left out stay unset."""
    hints = typing.get_type_hints(settings_cls)
    for field in dataclasses.fields(settings_cls):
        flag = "--" + field.metadata.get("flag", field.name).replace("_", "-")
        hint = hints[field.name]
        has_default = field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
        default = defaults.get(field.name, field.default if field.default is not dataclasses.MISSING else None)
        help_text = field.metadata.get("help", "") + (f" (default: {default})" if default not in (None, (), "") else "")
        kwargs: dict[str, Any] = {"dest": field.name, "help": help_text, "default": argparse.SUPPRESS}
        args = typing.get_args(hint)
        if typing.get_origin(hint) is tuple and args and args[0] is LoraChoice:
            parser.add_argument("--lora", action="append", type=parse_lora, metavar="SOURCE[:WEIGHT]", **kwargs)
            continue
        if hint is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(hint) is tuple:
            kwargs.update(action="extend", nargs="+", type=args[0] if args else str)  # --x A B or --x A --x B
        else:
            kwargs["type"] = hint if hint in (int, float, str) else str
        if not has_default:
            kwargs["required"] = True
        parser.add_argument(flag, **kwargs)


def free_output(target: Path, suffixes: Iterable[str], overwrite: bool = False) -> Path:
    """``target``, or ``NAME-1.ext``, ``NAME-2.ext``, ... when it or a file beside it (the sidecar,
    ``NAME<suffix>`` for each suffix) already exists; ``target`` itself when ``overwrite``."""
    def taken(candidate: Path) -> bool:
        beside = [candidate.with_suffix(".json")] + [candidate.with_name(candidate.stem + s) for s in suffixes]
        return any(p.exists() for p in [candidate, *beside])

    for number in range(10_000):
        candidate = target if number == 0 else target.with_name(f"{target.stem}-{number}{target.suffix}")
        if overwrite or not taken(candidate):
            return candidate
    raise OSError(f"no free name beside {target}")


def copy_result(path: Path, sidecar: Path, files: dict[str, Path], target: Path, overwrite: bool) -> Path:
    """Copy the result, its sidecar (as .json) and the files beside it (``NAME<suffix>``) to ``target``."""
    chosen = free_output(target, files, overwrite)
    if chosen != target:
        print(f"  {target} exists; writing {chosen} (--overwrite replaces it)")
    chosen.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, chosen)
    shutil.copyfile(sidecar, chosen.with_suffix(".json"))
    for suffix, source in files.items():
        destination = chosen.with_name(chosen.stem + suffix)
        if source.is_dir():
            shutil.rmtree(destination, ignore_errors=True)
            shutil.copytree(source, destination)
        else:
            shutil.copyfile(source, destination)
        print(f"saved {destination}")
    return chosen


def main(argv: Sequence[str]) -> int:
    names = sorted({n for e in ENGINES.values() for n in (e.name, *e.cli_names)})
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: python app.py run ENGINE [flags]\nengines: {', '.join(names)}\n"
              "`python app.py run ENGINE --help` lists an engine's flags.")
        return 0 if argv else 2
    try:
        engine = get_engine(argv[0])
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog=f"python app.py run {argv[0]}")
    add_runtime_flags(parser)
    parser.add_argument("--output", default=None, help="also copy the result here (its sidecar goes beside it as .json; "
                        "a name in use becomes NAME-1, NAME-2, ...)")
    parser.add_argument("--overwrite", action="store_true", help="replace the files at --output instead")
    parser.add_argument("--frames-dir", default=None, help="also write the result's frames here as PNG files "
                        "(engines with a --save-frames setting)")
    parser.add_argument("--gif", action="store_true", help="also write the result as an animated GIF beside it")
    add_settings_flags(parser, engine.settings_cls, load_preset(engine.name).defaults)
    args = parser.parse_args(argv[1:])
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(engine.settings_cls) if hasattr(args, f.name)}
    values = {name: tuple(value) if isinstance(value, list) else value for name, value in values.items()}
    if "lora" in values:
        values["loras"] = tuple(values.pop("lora"))
    if args.frames_dir:
        if "save_frames" not in {f.name for f in dataclasses.fields(engine.settings_cls)}:
            print(f"error: --frames-dir: {engine.name} does not save frames", file=sys.stderr)
            return 2
        values["save_frames"] = True
    runtime = runtime_from_args(args)
    # Flags left out take the preset's defaults for this mode, pulled inside its limits (said once).
    defaults, notes = mode_defaults(engine.settings_cls, load_preset(engine.name), runtime.demo)
    for note in notes:
        print(f"  {note}", flush=True)
    cancel = CancelToken()
    try:
        job = start_engine(engine.name, from_dict(engine.settings_cls, {**defaults, **values}), cancel, runtime)
        try:
            result = print_events(job)
        except KeyboardInterrupt:  # Ctrl-C is Stop: the job ends at its next step (a trainer saves first)
            cancel.cancel()
            print("\nstopping…", file=sys.stderr)
            result = print_events(job)
    except JobCancelled:
        print("stopped", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if result is None:
        print("error: the job ended without a result", file=sys.stderr)
        return 1
    path = Path(result.path)
    files = {suffix: Path(p) for suffix, p in result.info.get("files", {}).items()}
    if args.frames_dir and ".frames" in files:
        shutil.copytree(files.pop(".frames"), args.frames_dir, dirs_exist_ok=True)
        print(f"saved frames in {args.frames_dir}")
    if args.output:
        path = copy_result(path, Path(result.sidecar), files, Path(args.output), args.overwrite)
    if args.gif:
        video = read_video(path)
        print(f"saved {write_gif(video.frames, path.with_suffix('.gif'), video.fps)}")
    print(f"saved {path} (seed {result.seed})" if result.seed is not None else f"saved {path}")
    return 0
