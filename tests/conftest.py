"""Shared fixtures: the reference folder (REFERENCE_DIR) and quiet, offline Hub settings."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Tests never touch the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def reference_root() -> Path:
    """The folder of official-code fixtures; swap in another set with REFERENCE_DIR."""
    return Path(os.environ.get("REFERENCE_DIR", ROOT.parent / "shared" / "reference")).resolve()


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    root = reference_root()
    if not root.is_dir():
        pytest.fail(f"REFERENCE_DIR {root} does not exist; parity tests need the fixture folder")
    return root
