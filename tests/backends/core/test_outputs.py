import json
import time
from dataclasses import dataclass

import numpy as np

from backends.core.outputs import OutputStore, sidecar_record, software_versions


@dataclass(frozen=True)
class Toy:
    prompt: str
    steps: int = 3


def test_outputs_never_overwrite_and_keep_their_settings(tmp_path):
    store = OutputStore(tmp_path)
    frames = np.zeros((4, 16, 16, 3), np.uint8)
    record = sidecar_record("toy", Toy("a cat"), 5, {"base": "org/m"}, "cpu", "float32", time.time() - 2)
    saved = [store.save_video("toy", frames, 8, record, tag=5) for _ in range(3)]
    assert len({s.path for s in saved}) == 3 and all(s.path.exists() and s.sidecar.exists() for s in saved)
    data = json.loads(saved[1].sidecar.read_text())
    assert data["settings"] == {"prompt": "a cat", "steps": 3} and data["seed"] == 5
    assert data["output"] == saved[1].path.name and data["frames"] == 4 and data["fps"] == 8
    assert data["models"] == {"base": "org/m"} and data["versions"]["torch"]
    assert 2 <= data["elapsed_s"] < 30 and data["started_unix"] < time.time()
    listed = store.list("toy")
    assert {s.path for s in listed} == {s.path for s in saved}
    assert store.list("other") == []


def test_reserve_claims_names_atomically(tmp_path):
    store = OutputStore(tmp_path)
    stems = {store.reserve("x", "tag") for _ in range(5)}
    assert len(stems) == 5 and all(s.with_suffix(".json").exists() for s in stems)


def test_listing_skips_half_written_outputs(tmp_path):
    store = OutputStore(tmp_path)
    store.reserve("toy")  # a claimed name whose video was never written
    assert store.list("toy") == []


def test_versions_name_the_libraries():
    versions = software_versions()
    assert {"flowstudio", "python", "torch", "diffusers"} <= set(versions)


def test_a_claimed_stem_is_cleaned_up_when_the_job_fails(tmp_path):
    store = OutputStore(tmp_path)
    try:
        with store.claim("toy", 1) as stem:
            stem.with_suffix(".flow.mp4").write_bytes(b"partial")
            raise RuntimeError("stopped")
    except RuntimeError:
        pass
    assert list((tmp_path / "toy").iterdir()) == []
    with store.claim("toy", 2) as stem:
        saved = store.finish_video(stem, np.zeros((2, 8, 8, 3), np.uint8), 4, {"seed": 2})
    assert saved.path.exists() and store.list("toy")[0].path == saved.path
