"""The app in demo mode on the tiny weights, served in-process, one per test module."""

import pytest
from gradio_client import Client

import app as flow_app
from backends.core.runtime import DEMO_OUTPUTS


@pytest.fixture(scope="module")
def served(tiny_weights, tmp_path_factory, free_port):
    """(client, output folder) of a running demo app (its demo outputs' folder)."""
    out = tmp_path_factory.mktemp("app_outputs")
    model_flags = [arg for repo, path in tiny_weights.items() for arg in ("--model-path", f"{repo}={path}")]
    args = flow_app.parse_args(["--demo", "--output-dir", str(out), "--port", str(free_port()), *model_flags])
    app = flow_app.launch(args, prevent_thread_lock=True)
    yield Client(app.local_url, verbose=False), out / DEMO_OUTPUTS
    app.close()
