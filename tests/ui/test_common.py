"""ui.common: what a tab shows of a job that failed, what Stop says when nothing runs, and the
missing-weights notice."""

import gradio as gr
import pytest

from backends.animatediff.settings import LongVideoSettings
from backends.core.jobs import CancelToken
from backends.core.runtime import Runtime
from ui.common import drive, failure_status, job_token, stop, weights_notice


def run_to_the_end(settings, runtime) -> CancelToken:
    token = job_token(CancelToken())
    with pytest.raises(gr.Error) as raised:
        list(drive("animatediff", settings, token, runtime, lambda *a, **k: None))
    token.raised = raised.value.message
    return token


def test_a_refused_job_leaves_nothing_for_stop_and_its_message_for_the_status(runtime):
    token = run_to_the_end(LongVideoSettings(prompt=""), runtime)
    assert "prompt is empty" in token.raised
    assert stop(token) == "Nothing is running."
    assert failure_status(token) == f"**Failed:** {token.raised}"
    assert failure_status(token) == "**Failed.**"  # read once: a later failure has its own message


def test_stop_on_a_running_job_then_on_the_ended_one(runtime):
    token = job_token(CancelToken())
    settings = LongVideoSettings(prompt="a lake", frames=16, steps=30, width=64, height=64, seed=3)
    views = drive("animatediff", settings, token, runtime, lambda *a, **k: None)
    next(views)
    assert "Stopping" in stop(token)
    assert "Stopping" in stop(token)  # pressed again before the step ended
    assert list(views)[-1].status.startswith("Stopped")
    assert stop(token) == "Nothing is running."


def test_a_shared_deployment_shows_file_names_not_server_folders():
    from backends.core.jobs import Log, Result
    from ui.common import JobView

    for shared, shown in ((False, "/srv/app/outputs/animatediff/clip_3.mp4"), (True, "clip_3.mp4")):
        view = JobView(shared=shared)
        view.apply(Log("read /srv/app/uploads/abc/in.mp4"))
        view.apply(Result("/srv/app/outputs/animatediff/clip_3.mp4", "/srv/app/outputs/animatediff/clip_3.json", 3))
        assert f"saved {shown}" in view.markdown()
        assert ("/srv/" in view.markdown()) is not shared


def test_a_weights_notice_follows_the_inputs_that_choose_the_weights(tmp_path):
    runtime = Runtime.create(offline=True, force_cpu=True, output_dir=tmp_path)
    with gr.Blocks() as page:
        model = gr.Dropdown(["bouncing_balls", "river_kth_64"], value="bouncing_balls")
        notice = weights_notice(runtime, "river", model=model)
    assert notice.value == ""  # the embedded model is here
    event = next(f for f in page.fns.values() if notice in f.outputs)
    assert {name for _, name in event.targets} == {"load", "change"}  # page load, and a new choice
    text = event.fn("river_kth_64")
    assert text.startswith("⚠️ Weights for RIVER (frame prediction) are not in the local cache: cvg-unibe/river_kth_64")
    assert event.fn("bouncing_balls") == "" and event.fn(None) == ""


def test_a_file_goes_to_the_page_once_and_again_in_the_last_update():
    from ui.common import JobView

    view = JobView()
    assert view.fresh("result", "/o/a.mp4") == "/o/a.mp4"
    assert view.fresh("result", "/o/a.mp4") == gr.skip()  # the page has it
    assert view.fresh("result", "/o/b.mp4") == "/o/b.mp4"
    assert view.fresh("preview", None) == gr.skip()  # nothing yet
    view.finished = True
    assert view.fresh("result", "/o/b.mp4") == "/o/b.mp4"
