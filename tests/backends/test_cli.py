"""Headless runs drive the same job and write the same output and sidecar as the browser."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backends.cli import free_output, main, parse_lora
from backends.core.loras import LoraChoice
from backends.core.video_io import read_video, write_mp4
from backends.engines import ENGINES
from backends.river.bouncing_balls import bouncing_balls
from backends.core.runtime import DEMO_OUTPUTS

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
    assert len(list((tmp_path / "o" / DEMO_OUTPUTS / "animatediff").glob("*.mp4"))) == 1  # demo outputs: apart
    assert not (tmp_path / "o" / "animatediff").exists()


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
    assert "saved " in result.stdout and list((tmp_path / DEMO_OUTPUTS).glob("animatediff/*.json"))


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


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Three 64x64 bouncing-balls clips in a folder; the first is the single-clip input."""
    folder = tmp_path_factory.mktemp("clips")
    for index in range(3):
        write_mp4(bouncing_balls(12, np.random.default_rng(index)), folder / f"{index}.mp4", fps=8)
    return folder


def required_flags(clips):
    """Only the inputs each engine cannot do without."""
    image = str(ROOT / "assets" / "examples" / "consisti2v_lake.png")
    return {
        "animatediff": ["--prompt", "a fox"],
        "pyramid_flow": ["--prompt", "a fox"],
        "pyramid_flow_i2v": ["--prompt", "a fox", "--image", image],
        "onlyflow": ["--prompt", "a fox", "--video", str(clips / "0.mp4")],
        "consisti2v": ["--prompt", "a fox", "--image", image],
        "river": ["--input", str(clips / "0.mp4")],
        "river_train": ["--data", str(clips)],
        "motion_director": ["--prompt", "a ball rolls", "--video", str(clips / "0.mp4")],
    }


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_every_engine_runs_on_its_demo_defaults(engine, clips, tmp_path, capsys):
    flags = required_flags(clips)
    assert set(flags) == set(ENGINES)
    code = main([ENGINES[engine].cli_names[0], "--demo", "--output-dir", str(tmp_path), *flags[engine]])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "saved " in printed.out and "outside this mode's range" not in printed.out


def test_frame_prediction_writes_native_size_samples_a_comparison_and_frames(clips, tmp_path, capsys):
    out, frames = tmp_path / "out.mp4", tmp_path / "frames"
    run = ["frame-prediction", "--demo", "--output-dir", str(tmp_path / "o"), "--input", str(clips / "1.mp4"),
           "--output", str(out), "--samples", "2", "--predict-frames", "4", "--seed", "5"]
    assert main([*run, "--frames-dir", str(frames)]) == 0
    assert read_video(out).frames.shape == (6, 64, 64, 3)  # context + predicted, the model's size
    assert read_video(tmp_path / "out-2.mp4").frames.shape == (6, 64, 64, 3)  # sample 2
    assert read_video(tmp_path / "out.compare.mp4").frames.shape[2] > 3 * 64  # truth | sample 1 | sample 2
    assert len(list(frames.glob("sample*/*.png"))) == 12 and not (tmp_path / "out.frames").exists()
    assert json.loads(out.with_suffix(".json").read_text())["seed"] == 5
    capsys.readouterr()

    # The same --output again keeps the first files and says where the new ones went.
    first = out.read_bytes()
    assert main(run) == 0
    assert f"writing {tmp_path / 'out-1.mp4'}" in capsys.readouterr().out
    assert out.read_bytes() == first and (tmp_path / "out-1.compare.mp4").is_file()
    assert main([*run, "--overwrite"]) == 0 and not (tmp_path / "out-3.mp4").exists()


def test_free_output_skips_names_whose_companions_exist(tmp_path):
    (tmp_path / "a.mp4").touch()
    assert free_output(tmp_path / "a.mp4", [".compare.mp4"]) == tmp_path / "a-1.mp4"
    (tmp_path / "a-1.compare.mp4").touch()
    assert free_output(tmp_path / "a.mp4", [".compare.mp4"]) == tmp_path / "a-2.mp4"
    assert free_output(tmp_path / "a.mp4", [], overwrite=True) == tmp_path / "a.mp4"
    assert free_output(tmp_path / "b.mp4", [".compare.mp4"]) == tmp_path / "b.mp4"


def test_frames_dir_needs_an_engine_that_saves_frames(tmp_path, capsys):
    assert main(["long-video", "--demo", "--prompt", "x", "--frames-dir", str(tmp_path)]) == 2
    assert "does not save frames" in capsys.readouterr().err
