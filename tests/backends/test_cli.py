"""Headless runs drive the same job and write the same output and sidecar as the browser."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from backends.cli import main, parse_lora
from backends.core.loras import LoraChoice
from backends.core.video_io import read_video
ROOT = Path(__file__).resolve().parents[2]

TINY = ["--frames", "16", "--steps", "2", "--width", "64", "--height", "64", "--seed", "3"]


def model_flags(tiny_weights):
    return [arg for repo, path in tiny_weights.items() for arg in ("--model-path", f"{repo}={path}")]


def test_run_writes_the_video_and_sidecar_and_copies_to_output(tiny_weights, tmp_path, capsys):
    out = tmp_path / "clip.mp4"
    code = main(["long-video", "--demo", "--output-dir", str(tmp_path / "o"), "--prompt", "a fox", *TINY,
                 "--output", str(out), "--gif", *model_flags(tiny_weights)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "denoising 2/2" in printed and f"saved {out} (seed 3)" in printed
    assert read_video(out).frames.shape == (16, 64, 64, 3)
    assert read_video(out.with_suffix(".gif")).frames.shape[0] == 16
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["settings"]["prompt"] == "a fox" and sidecar["seed"] == 3
    assert len(list((tmp_path / "o" / "animatediff").glob("*.mp4"))) == 1


def test_bad_values_and_unknown_engines_are_one_line_errors(tiny_weights, tmp_path, capsys):
    assert main(["long-video", "--demo", "--output-dir", str(tmp_path), "--prompt", "x", "--frames", "4",
                 *model_flags(tiny_weights)]) == 1
    assert "frames must be between 16 and 256, got 4" in capsys.readouterr().err
    assert main(["teleport"]) == 2
    assert "unknown engine 'teleport'" in capsys.readouterr().err


def test_lora_flag_parsing():
    assert parse_lora("zoom.ckpt:0.6") == LoraChoice("zoom.ckpt", 0.6)
    assert parse_lora("guoyww/animatediff-motion-lora-zoom-in") == LoraChoice("guoyww/animatediff-motion-lora-zoom-in", 1.0)
    assert parse_lora("C:/loras/x.safetensors") == LoraChoice("C:/loras/x.safetensors", 1.0)


def test_app_py_run_from_a_shell(tiny_weights, tmp_path):
    result = subprocess.run(
        [sys.executable, "app.py", "run", "long-video", "--demo", "--output-dir", str(tmp_path), "--prompt", "rain",
         *TINY, *model_flags(tiny_weights)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "saved " in result.stdout and list(tmp_path.glob("animatediff/*.json"))


def test_run_help_lists_settings_flags(capsys):
    try:
        main(["long-video", "--help"])
    except SystemExit as exit_:
        assert exit_.code == 0
    text = capsys.readouterr().out
    for flag in ("--prompt", "--negative-prompt", "--frames", "--context-stride", "--lora", "--output", "--offload"):
        assert flag in text


def test_flow_video_help_lists_the_reference_image_flags(capsys):
    with pytest.raises(SystemExit):
        main(["flow-video", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--reference-image REFERENCE_IMAGE image whose look the result takes (IP-Adapter); empty = none --" in text
    assert "--ip-adapter-scale IP_ADAPTER_SCALE how strongly the reference image steers (default: 0.5)" in text
