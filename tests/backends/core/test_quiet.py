"""Only the unactionable library warnings are dropped; the libraries' other warnings still show."""

import logging

from backends.core.quiet import silence_unactionable_warnings


def test_unactionable_warnings_are_dropped_and_others_kept(caplog):
    silence_unactionable_warnings()
    silence_unactionable_warnings()  # idempotent
    fp32 = logging.getLogger("diffusers.models.modeling_utils")
    assert len(fp32.filters) == len({type(f) for f in fp32.filters})
    with caplog.at_level(logging.WARNING):
        fp32.warning("There are modules in UNetMotionModel that should be kept in float32: []. Casting directly ...")
        fp32.warning("There are modules in X that should be kept in float32: ['norm']. Casting directly ...")
        logging.getLogger("transformers.utils.import_utils").warning(
            "`CLIPImageProcessor` requires torchvision (not installed); falling back to `CLIPImageProcessorPil` ...")
        logging.getLogger("transformers.utils.import_utils").warning("something else")
    assert [r.getMessage()[:40] for r in caplog.records] == [
        "There are modules in X that should be ke", "something else"]
