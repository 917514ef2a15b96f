import pytest

from backends.core.jobs import CancelToken
from backends.core.runtime import Runtime
from backends.core.sources import MissingWeights
from backends.weights import download, weight_rows


def test_offline_panel_lists_missing_weights_and_download_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    runtime = Runtime.create(offline=True, force_cpu=True, output_dir=tmp_path)
    rows = weight_rows(runtime)
    repos = {row[2]: row for row in rows}
    assert repos["stable-diffusion-v1-5/stable-diffusion-v1-5"][3] == "no"
    assert repos["guoyww/animatediff-motion-adapter-v1-5-3"][5] == "~1.7 GB"
    with pytest.raises(MissingWeights, match="stable-diffusion-v1-5"):
        list(download("animatediff", cancel=CancelToken(), runtime=runtime))


def test_local_folders_count_as_present(tiny_weights, tmp_path):
    runtime = Runtime.create(offline=True, force_cpu=True, output_dir=tmp_path, model_paths=tiny_weights)
    rows = [row for row in weight_rows(runtime) if row[0] == "AnimateDiff + FreeNoise"]
    assert all(row[3] == "yes" and row[4] == "local folder" for row in rows)
    assert all(row[5].endswith("GB") for row in rows)
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
