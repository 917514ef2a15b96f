"""The repository is a Hugging Face Space as it stands: README front matter the Hub reads, the
default engines' weights preloaded at build time, every binary under Git LFS."""

import subprocess
from fnmatch import fnmatch
from pathlib import Path

import gradio
import yaml
from packaging.requirements import Requirement

from backends.core.presets import load_preset

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ENGINES = ("animatediff", "onlyflow")  # their weights download at build time, not at boot


def front_matter() -> dict:
    text = (ROOT / "README.md").read_text()
    assert text.startswith("---\n"), "README.md must begin with the Space's YAML front matter"
    return yaml.safe_load(text.split("---\n")[1])


def test_front_matter_describes_a_gradio_space_of_the_gradio_we_require():
    meta = front_matter()
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and meta["python_version"] == "3.11"
    assert (ROOT / meta["app_file"]).is_file()
    required = next(Requirement(line) for line in (ROOT / "requirements.txt").read_text().splitlines()
                    if line.startswith("gradio"))
    assert required.specifier.contains(meta["sdk_version"]) and meta["sdk_version"] == gradio.__version__
    assert meta["suggested_hardware"].startswith("zero-") and len(meta["short_description"]) <= 60
    assert meta["tags"]


def test_preload_lists_exactly_the_files_the_default_engines_load():
    listed = {}
    for entry in front_matter()["preload_from_hub"]:
        repo, files = entry.split()[:2]
        listed[repo] = files.split(",")
    for engine in DEFAULT_ENGINES:
        for ref in load_preset(engine).models.values():
            if ref.optional:
                continue
            files = listed.get(ref.repo)
            assert files, f"{ref.repo} ({engine}) is not preloaded"
            if ref.filename:
                assert ref.filename in files
                continue
            for pattern in ref.allow_patterns:
                assert any(fnmatch(name, pattern) for name in files), f"{ref.repo}: nothing preloaded for {pattern}"
            for name in files:
                assert any(fnmatch(name, p) for p in ref.allow_patterns), f"{ref.repo}: {name} is never loaded"


def test_every_binary_in_the_repository_goes_through_git_lfs():
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    binaries = [name for name in tracked.split("\0") if name and b"\0" in (ROOT / name).read_bytes()[:8192]]
    assert binaries, "the repository ships binaries (the embedded model, example frames)"
    attributes = subprocess.run(["git", "check-attr", "filter", "--", *binaries], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.splitlines()
    not_lfs = [line.split(":")[0] for line in attributes if not line.endswith(": lfs")]
    assert not not_lfs, f"not tracked by LFS in .gitattributes: {not_lfs}"
