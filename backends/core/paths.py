"""Names and paths that come from a person (a run name, a data folder, a LoRA file): checked so
that nothing we build leaves its folder, and, on a shared deployment (a share link, a login, a
Space), so that a visitor reaches only uploads and the app's own folders, never a server path."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Iterable

NAME = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


def check_name(field: str, value: str) -> str:
    """A name that becomes a file or folder: letters, digits, '-', '_' and inner dots."""
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise ValueError(f"{field} must use letters, digits, '-' and '_' (dots only between them), got {value!r}")
    return value


def is_inside(path: str | Path, root: str | Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))


def inside(root: str | Path, *parts: str) -> Path:
    """``root / parts``, refused if it would lead out of ``root`` (``..``, absolute parts, links)."""
    path = Path(root).joinpath(*parts)
    if not is_inside(path, root):
        raise ValueError(f"{'/'.join(parts)!r} leads outside {Path(root).name}/")
    return path


def upload_folder() -> Path:
    """Where Gradio keeps uploaded files."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")


def check_allowed(field: str, value: str | Path, roots: Iterable[str | Path]) -> Path:
    """``value`` if it lies inside one of ``roots``; else a ValueError that names no server path."""
    roots = [Path(root) for root in roots]
    if not any(is_inside(value, root) for root in roots):
        folders = ", ".join(f"{root.name}/" for root in roots)
        raise ValueError(f"{field}: on a shared deployment only uploads and files inside the app's folders "
                         f"({folders}) are accepted, not server paths ({Path(str(value)).name!r} is neither)")
    return Path(value)


def file_digest(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_input(path: str | Path) -> dict[str, str] | str:
    """How a sidecar names an input file: its name and SHA-256, never where it lies on the server."""
    if not path:
        return ""
    path = Path(path)
    if not path.is_file():
        return {"name": path.name}
    return {"name": path.name, "sha256": file_digest(path)}
