"""The frame-prediction tab: its live preview, its training-loss plot and its model list."""

from collections import Counter
from pathlib import Path

import cv2
import gradio as gr
import gradio.processing_utils
from gradio_client import handle_file

from backends.core.jobs import Metric
from backends.river.catalog import TRAINED_MODELS
from ui import frame_prediction
from ui.common import preview_folder
from ui.frame_prediction import loss_curve, model_names


def test_each_preview_is_a_new_file_written_once_and_large_enough_to_see(served, monkeypatch):
    """Given an array, Gradio writes it into a cache file named after its content each time it is
    sent: the same picture sent with every progress step rewrote the file the browser read."""
    client, _ = served
    rewritten, handed = Counter(), {}  # cache files Gradio wrote from arrays; preview files it copied
    save_array, copy_file = gradio.processing_utils.save_pil_to_cache, gradio.processing_utils.save_file_to_cache

    def saving_array(*args, **kwargs):
        path = save_array(*args, **kwargs)
        rewritten[path] += 1
        return path

    def copying_file(path, cache_dir):
        if Path(path).parent == preview_folder():
            assert handed.setdefault(path, Path(path).read_bytes()) == Path(path).read_bytes()  # never rewritten
        return copy_file(path, cache_dir)

    monkeypatch.setattr(gradio.processing_utils, "save_pil_to_cache", saving_array)
    monkeypatch.setattr(gradio.processing_utils, "save_file_to_cache", copying_file)
    clip = next(p for p in sorted((frame_prediction.EMBEDDED_DIR / "examples").iterdir()) if p.is_dir())
    status, preview, *_ = client.predict(model="bouncing_balls", images=[handle_file(str(f)) for f in sorted(clip.glob("*.png"))],
                                         context_frames=2, predict_frames=3, sampler="euler", steps=2, samples=2,
                                         seed=1, api_name="/frame_prediction")
    assert status.startswith("**Done") and len(handed) == 3  # a new file per predicted frame
    assert max(rewritten.values(), default=1) == 1
    assert not list(preview_folder().glob("*.jpg"))  # each removed once the page had it
    height, width = cv2.imread(preview).shape[:2]  # the API still gets the last one: two 64-px samples, enlarged
    assert height >= 192 and width >= 2 * 192


def test_the_loss_plot_has_one_series_per_stage():
    metrics = [Metric("autoencoder loss", 10, 0.9), Metric("autoencoder psnr", 10, 20.0),
               Metric("autoencoder loss", 20, 0.5), Metric("vector field loss", 10, 2.0),
               Metric("vector field lr", 10, 1e-4), Metric("vector field loss", 20, 1.5)]
    frame = loss_curve(metrics)
    assert list(frame.columns) == ["step", "loss", "stage"]
    assert frame.groupby("stage")["step"].apply(list).to_dict() == {"autoencoder": [10, 20], "vector field": [10, 20]}
    assert list(frame["loss"]) == [0.9, 0.5, 2.0, 1.5]
    plot = gr.LinePlot(x="step", y="loss", color="stage").postprocess(frame)
    assert {row[-1] for row in plot.model_dump()["data"]} == {"autoencoder", "vector field"}
    assert loss_curve([Metric("vector field lr", 1, 1e-4)]).empty


def test_the_stage_still_to_come_is_in_the_plot_from_its_first_value():
    """The page's plot colours only the series of the first value it draws: a series that shows up
    later is never drawn. So the vector field's series is there, empty, while the autoencoder trains."""
    frame = loss_curve([Metric("autoencoder loss", 10, 0.9)])
    assert frame.values.tolist()[0] == [10, 0.9, "autoencoder"]
    assert frame["stage"].tolist() == ["autoencoder", "vector field"] and frame["loss"].isna().tolist() == [False, True]
    # with an official autoencoder the training starts at the vector field: nothing before it is added
    assert loss_curve([Metric("vector field loss", 10, 2.0)])["stage"].tolist() == ["vector field"]


def test_the_model_list_is_read_again_when_a_page_loads(runtime):
    with gr.Blocks() as page:
        frame_prediction.build(runtime)
    model = next(b for b in page.blocks.values() if isinstance(b, gr.Dropdown) and b.label == "Model")
    on_load = [fn for fn in page.fns.values()
               if any(event == "load" for _, event in fn.targets) and model in fn.outputs]
    assert len(on_load) == 1
    folder = Path(runtime.outputs.root) / TRAINED_MODELS / "trained_since"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("model: {}\n")
    (folder / "model.pth").write_bytes(b"")
    assert "trained_since" in on_load[0].fn()["choices"] and "trained_since" in model_names(runtime)
    refresh = next(b for b in page.blocks.values() if isinstance(b, gr.Button) and b.value == "↻")
    assert refresh.scale == 0 and refresh.size == "sm"  # a small button beside the list, not a wide bar
