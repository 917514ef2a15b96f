import pytest

from backends.core.jobs import CancelToken
from backends.core.runtime import Runtime
from backends.core.sources import MissingWeights
from backends.river.catalog import EMBEDDED_DIR
from backends.weights import download, download_choices, reused_weights, weight_rows


def test_offline_panel_lists_missing_weights_and_download_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    runtime = Runtime.create(offline=True, force_cpu=True, output_dir=tmp_path)
    rows = weight_rows(runtime)
    repos = {row[2]: row for row in rows}
    assert repos["stable-diffusion-v1-5/stable-diffusion-v1-5"][3:5] == ["no", "—"]
    assert repos["guoyww/animatediff-motion-adapter-v1-5-3"][5] == "~1.7 GB"
    with pytest.raises(MissingWeights, match="stable-diffusion-v1-5") as error:
        list(download("animatediff", cancel=CancelToken(), runtime=runtime))
    message = str(error.value)  # what --download and the Models panel show: neither advises itself
    assert "guoyww/animatediff-motion-adapter-v1-5-3 (about 1.7 GB)" in message and "offline" in message
    assert "--download" not in message and "Models panel" not in message and ".." not in message


def test_each_set_of_weights_is_listed_once_under_the_engine_that_names_it(tmp_path):
    rows = weight_rows(Runtime.create(offline=True, force_cpu=True, output_dir=tmp_path))
    by_engine = {}
    for row in rows:
        by_engine.setdefault(row[0], []).append(row[1])
    assert by_engine["AnimateDiff + FreeNoise"] == ["base", "motion_adapter"]
    assert by_engine["OnlyFlow (flow-guided AnimateDiff)"] == ["onlyflow", "ip_adapter (optional)"]  # no SD1.5 again
    assert "Pyramid Flow (image-to-video)" not in by_engine and "RIVER training" not in by_engine
    assert all(row[3] in ("yes", "no", "demo") for row in rows)
    assert "OnlyFlow (flow-guided AnimateDiff) uses AnimateDiff + FreeNoise's weights too" in reused_weights()


def test_the_shipped_river_model_is_listed_as_present(tmp_path):
    rows = weight_rows(Runtime.create(offline=True, force_cpu=True, output_dir=tmp_path))
    shipped = [row for row in rows if row[4] == "shipped with the app"]
    size_mb = sum(p.stat().st_size for p in EMBEDDED_DIR.rglob("*") if p.is_file()) / 1e6
    assert shipped == [["RIVER (frame prediction)", "bouncing_balls", "assets/river_bouncing_balls", "yes",
                        "shipped with the app", f"{size_mb:.1f} MB"]]


def test_the_download_list_names_engines_with_weights_of_their_own():
    choices = dict(download_choices())
    assert choices["AnimateDiff + FreeNoise"] == "animatediff" and choices["RIVER (frame prediction)"] == "river"
    assert "river_train" not in choices.values() and "pyramid_flow_i2v" not in choices.values()


def test_demo_stand_ins_are_marked_demo(tmp_path):
    rows = weight_rows(Runtime.create(demo=True, force_cpu=True, output_dir=tmp_path, demo_dir=tmp_path / "demo"))
    base = next(row for row in rows if row[1] == "base")
    assert base[3:5] == ["demo", "tiny stand-in"]
    assert not (tmp_path / "demo").exists()  # listing builds nothing


def test_local_folders_count_as_present(tiny_weights, tmp_path):
    runtime = Runtime.create(offline=True, force_cpu=True, output_dir=tmp_path, model_paths=tiny_weights)
    rows = [row for row in weight_rows(runtime) if row[0] == "AnimateDiff + FreeNoise"]
    assert all(row[3] == "yes" and row[4] == "local folder" for row in rows)
    assert all(row[5].endswith(" MB") and float(row[5].split()[0]) > 0 for row in rows)  # tiny folders
    events = list(download("animatediff", cancel=CancelToken(), runtime=runtime))
    assert all("already here" in e.message for e in events)


def test_optional_weights_are_marked_and_downloaded_only_when_asked(tiny_weights, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    (tmp_path / "onlyflow").mkdir()
    (tmp_path / "onlyflow" / "weights_fp16.ckpt").write_bytes(b"x")
    model_paths = {**tiny_weights, "obvious-research/onlyflow": tmp_path / "onlyflow"}
    runtime = Runtime.create(offline=True, force_cpu=True, output_dir=tmp_path, model_paths=model_paths)
    rows = {row[1]: row for row in weight_rows(runtime) if row[0] == "OnlyFlow (flow-guided AnimateDiff)"}
    assert rows["ip_adapter (optional)"][2:4] == ["h94/IP-Adapter", "no"] and rows["onlyflow"][3] == "yes"
    messages = [e.message for e in download("onlyflow", cancel=CancelToken(), runtime=runtime)]
    assert "h94/IP-Adapter: optional (ip_adapter), skipped" in messages[-1]
    assert all("already here" in m for m in messages[:-1])
    with pytest.raises(MissingWeights, match="h94/IP-Adapter"):
        list(download("onlyflow", cancel=CancelToken(), runtime=runtime, optional=True))
