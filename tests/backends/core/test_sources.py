import pytest

from backends.core.presets import ModelRef
from backends.core.sources import MissingWeights, ModelSources, parse_model_paths

REF = ModelRef(role="base", repo="org/model", allow_patterns=("config.json", "weights/*"), size_gb=1.5, engine="animatediff")
FILE_REF = ModelRef(role="ckpt", repo="org/ckpts", filename="weights_fp16.ckpt")


def fake_hub_cache(root, repo, files):
    """The Hugging Face cache layout: models--org--name/{refs/main, snapshots/<commit>/...}."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = root / ("models--" + repo.replace("/", "--"))
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)
    for name in files:
        path = repo_dir / "snapshots" / commit / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 10)
    return repo_dir / "snapshots" / commit


def test_offline_and_missing_names_the_repo_and_how_to_provide_it(tmp_path):
    sources = ModelSources(offline=True, cache_dir=tmp_path)
    with pytest.raises(MissingWeights) as error:
        sources.resolve(REF, "AnimateDiff + FreeNoise")
    message = str(error.value)
    assert "Weights for AnimateDiff + FreeNoise are not in the local cache: org/model (about 1.5 GB)" in message
    assert "--download animatediff" in message and "FLOWSTUDIO_MODELS_DIR/org/model" in message and "offline" in message
    assert ".." not in message and "ENGINE" not in message
    assert sources.status(REF).present is False


def test_missing_weights_pickle_with_their_message(tmp_path):
    import pickle

    error = MissingWeights.of("X", [REF, ModelRef(role="b", repo="org/other")], "The Hub said no.")
    copy = pickle.loads(pickle.dumps(error))  # a ZeroGPU worker sends it back pickled
    assert type(copy) is MissingWeights and str(copy) == str(error) and copy.repos == ("org/model", "org/other")
    assert copy.reason == "The Hub said no"  # the job names what else it lacks with it
    assert "org/model (about 1.5 GB), org/other" in str(copy) and "no.." not in str(copy)


def test_explicit_folder_and_models_dir_stand_in_for_the_hub(tmp_path):
    (tmp_path / "mine").mkdir()
    assert ModelSources(overrides={"org/model": tmp_path / "mine"}, offline=True).resolve(REF, "x") == tmp_path / "mine"
    (tmp_path / "models" / "org" / "model").mkdir(parents=True)
    sources = ModelSources(models_dir=tmp_path / "models", offline=True)
    assert sources.resolve(REF, "x") == tmp_path / "models" / "org" / "model"
    assert sources.status(REF).where == "local folder"
    (tmp_path / "models" / "org" / "ckpts").mkdir(parents=True)
    (tmp_path / "models" / "org" / "ckpts" / "weights_fp16.ckpt").write_bytes(b"1")
    assert sources.resolve(FILE_REF, "x").name == "weights_fp16.ckpt"


def test_hub_cache_is_used_only_when_every_needed_file_is_there(tmp_path):
    snapshot = fake_hub_cache(tmp_path, "org/model", ["config.json", "weights/a.safetensors"])
    sources = ModelSources(offline=True, cache_dir=tmp_path)
    assert sources.resolve(REF, "x") == snapshot
    status = sources.status(REF)
    assert status.present and status.where == "Hugging Face cache" and status.size_bytes == 20

    partial = ModelRef(role="base", repo="org/partial", allow_patterns=("config.json", "weights/*"))
    fake_hub_cache(tmp_path, "org/partial", ["config.json"])
    with pytest.raises(MissingWeights):
        sources.resolve(partial, "x")


def test_sidecars_name_the_snapshot_commit_or_the_folder(tmp_path):
    fake_hub_cache(tmp_path, "org/model", ["config.json", "weights/a.safetensors"])
    (tmp_path / "mine").mkdir()
    optional = ModelRef(role="extra", repo="org/extra", optional=True)
    described = ModelSources(offline=True, cache_dir=tmp_path, overrides={"org/ckpts": tmp_path / "mine"}).describe(
        {"base": REF, "ckpt": ModelRef(role="ckpt", repo="org/ckpts"), "extra": optional})
    assert described == {"base": "org/model@0123456789abcdef0123456789abcdef01234567", "ckpt": "org/ckpts@local folder"}


def test_single_file_from_the_hub_cache(tmp_path):
    snapshot = fake_hub_cache(tmp_path, "org/ckpts", ["weights_fp16.ckpt"])
    assert ModelSources(offline=True, cache_dir=tmp_path).resolve(FILE_REF, "x") == snapshot / "weights_fp16.ckpt"


BUILT = []


def build_marker(folder):
    BUILT.append(folder)
    (folder / "config.json").write_text("{}")


def test_demo_mode_builds_once_with_the_named_builder(tmp_path):
    ref = ModelRef(role="base", repo="org/model", demo=f"{__name__}:build_marker")
    sources = ModelSources(demo=True, demo_dir=tmp_path)
    first = sources.resolve(ref, "x")
    assert (first / "config.json").exists() and sources.resolve(ref, "x") == first and len(BUILT) == 1
    assert sources.status(ref).where.startswith("demo")
    assert not sources.status(ModelRef(role="r", repo="org/none")).present  # no stand-in: not there
    with pytest.raises(MissingWeights, match="no tiny stand-in"):
        sources.resolve(ModelRef(role="r", repo="org/none"), "x")


def test_from_env_reads_models_dir_and_mappings(tmp_path):
    env = {"FLOWSTUDIO_MODELS_DIR": str(tmp_path), "FLOWSTUDIO_MODEL_PATHS": "org/a=/m/a, org/b=/m/b"}
    sources = ModelSources.from_env(env, overrides={"org/c": "/m/c"})
    assert sources.models_dir == tmp_path
    assert {k: str(v) for k, v in sources.overrides.items()} == {"org/a": "/m/a", "org/b": "/m/b", "org/c": "/m/c"}
    assert parse_model_paths("") == {}
    with pytest.raises(ValueError, match="REPO=PATH"):
        parse_model_paths("org/a")


def test_the_message_offers_only_the_ways_that_can_help(tmp_path, monkeypatch):
    both = str(MissingWeights.of("X", [REF], "Not yet.", "onlyflow", panel=True))
    assert "Not yet. Download them with `python app.py --download onlyflow` or in the Models panel, or put a copy" in both
    assert "--download animatediff" not in both  # the engine asked for, not the one whose preset names the repo
    neither = str(MissingWeights.of("X", [REF], "Not yet", command=False))
    assert "Not yet. Put a copy of each repository in $FLOWSTUDIO_MODELS_DIR/org/model" in neither
    assert "Download" not in neither
    demo = ModelSources(demo=True, demo_dir=tmp_path)
    with pytest.raises(MissingWeights) as error:  # downloads are not used in demo mode
        demo.check_available([REF], "X", "animatediff")
    assert "Demo mode has no tiny stand-in for them. Put a copy" in str(error.value)

    import huggingface_hub as hub

    def unreachable(*args, **kwargs):
        raise OSError("Cannot reach the Hub.\nCheck your connection and try again.")

    monkeypatch.setattr(hub, "snapshot_download", unreachable)
    with pytest.raises(MissingWeights) as error:
        ModelSources(cache_dir=tmp_path).download(REF, "X")
    message = str(error.value)
    assert "The download failed: Cannot reach the Hub. Check your connection and try again. Put a copy" in message
    assert error.value.reason.startswith("The download failed") and ".." not in message and "\n" not in message
