"""Shared fixtures: the reference folder (REFERENCE_DIR) and quiet, offline Hub settings."""

import os
import socket
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Tests never touch the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Demo-mode builds go to a throwaway folder, not the user's cache.
os.environ.setdefault("FLOWSTUDIO_DEMO_DIR", tempfile.mkdtemp(prefix="flowstudio-demo-"))


def reference_root() -> Path:
    """The folder of official-code fixtures; swap in another set with REFERENCE_DIR."""
    return Path(os.environ.get("REFERENCE_DIR", ROOT.parent / "shared" / "reference")).resolve()


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    root = reference_root()
    if not root.is_dir():
        pytest.fail(f"REFERENCE_DIR {root} does not exist; parity tests need the fixture folder")
    return root


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def free_port():
    """A function giving a port nobody listens on now (test runs of other checkouts may share this machine)."""
    return _free_port


# Tiny models run faster on one thread than on two contended ones; results do not depend on it.
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> dict[str, Path]:
    """Tiny SD1.5 + motion adapter folders in the Hub layouts, built once per session."""
    from backends.core.tiny_models import build_tiny_motion_adapter, build_tiny_sd15

    root = tmp_path_factory.mktemp("tiny_weights")
    build_tiny_sd15(root / "sd15")
    build_tiny_motion_adapter(root / "motion_adapter")
    return {
        "stable-diffusion-v1-5/stable-diffusion-v1-5": root / "sd15",
        "guoyww/animatediff-motion-adapter-v1-5-3": root / "motion_adapter",
    }


@pytest.fixture(scope="session")
def session_runtime(tiny_weights, tmp_path_factory):
    """A CPU runtime whose Hub repos point at the tiny folders (the real loading code runs)."""
    from backends.core.runtime import Runtime

    root = tmp_path_factory.mktemp("runtime")
    # Demo mode gives the small-size limits; the explicit folders are used before any demo build.
    return Runtime.create(
        demo=True, offline=True, force_cpu=True, output_dir=root / "outputs", loras_dir=root / "loras", model_paths=tiny_weights
    )


@pytest.fixture
def runtime(session_runtime, tmp_path):
    """The session runtime (models stay cached between tests) with this test's own folders."""
    import dataclasses

    from backends.core.outputs import OutputStore

    (tmp_path / "loras").mkdir()
    return dataclasses.replace(session_runtime, outputs=OutputStore(tmp_path / "outputs"), loras_dir=tmp_path / "loras")
