"""app.py's flags: tabs, login, the open-share warning, --download offline, and --tabs in the page."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import app as flow_app
from backends.core.runtime import Runtime
from ui.app_ui import TABS, build_app

ROOT = Path(__file__).resolve().parents[1]
KNOWN = [t.id for t in TABS]


def test_tabs_and_auth_are_parsed_and_checked(capsys):
    tabs, auth = flow_app.access(flow_app.parse_args(["--tabs", "long_video, flow_video", "--auth", "ann:s3cret"]), KNOWN)
    assert tabs == ["long_video", "flow_video"] and auth == ("ann", "s3cret")
    assert flow_app.access(flow_app.parse_args([]), KNOWN) == (None, None)
    with pytest.raises(ValueError, match="unknown tab"):
        flow_app.access(flow_app.parse_args(["--tabs", "teleport"]), KNOWN)
    with pytest.raises(ValueError, match="USER:PASS"):
        flow_app.access(flow_app.parse_args(["--auth", "nopassword"]), KNOWN)
    assert capsys.readouterr().err == ""


def test_sharing_without_a_login_warns(capsys):
    flow_app.access(flow_app.parse_args(["--share"]), KNOWN)
    assert "--auth USER:PASS" in capsys.readouterr().err
    flow_app.access(flow_app.parse_args(["--share", "--auth", "a:b"]), KNOWN)
    assert capsys.readouterr().err == ""


def test_download_offline_names_what_is_missing(tmp_path):
    result = subprocess.run(
        [sys.executable, "app.py", "--download", "animatediff", "--offline", "--output-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env={"HF_HUB_CACHE": str(tmp_path / "hub"), "PATH": ""},
    )
    assert result.returncode == 1
    assert "not in the local cache: stable-diffusion-v1-5/stable-diffusion-v1-5" in result.stderr


def test_only_the_chosen_tabs_are_built(tmp_path):
    runtime = Runtime.create(demo=True, force_cpu=True, output_dir=tmp_path)

    def top_level_tabs(app):
        return [block.id for block in app.blocks.values() if type(block).__name__ == "Tab" and block.id in KNOWN]

    assert top_level_tabs(build_app(runtime, ["long_video"])) == ["long_video"]
    assert top_level_tabs(build_app(runtime)) == KNOWN and len(KNOWN) == 5


def test_help_lists_every_flag():
    text = subprocess.run([sys.executable, "app.py", "--help"], cwd=ROOT, capture_output=True, text=True).stdout
    for flag in ("--host", "--port", "--share", "--auth", "--demo", "--offline", "--offload", "--output-dir",
                 "--tabs", "--download", "--models-dir", "--model-path", "--allow-downloads"):
        assert flag in text


def test_building_the_page_imports_no_model_code():
    """The app answers HTTP before any model library loads (on a machine without CUDA, not even torch)."""
    code = ("import sys, app; from backends.cli import runtime_from_args; from ui.app_ui import build_app; "
            "build_app(runtime_from_args(app.parse_args(['--offline']))); "
            "print(sorted(m for m in ('torch', 'diffusers', 'transformers', 'peft') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "FLOWSTUDIO_DEMO_DIR": "/tmp/flowstudio-demo-unused"})
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = result.stdout.strip().splitlines()[-1]
    from backends.core.devices import may_have_cuda

    assert loaded == ("['torch']" if may_have_cuda() else "[]")
