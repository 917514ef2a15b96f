"""Only the unactionable library warnings are dropped; the libraries' other warnings still show."""

import logging

from backends.core.quiet import silence_unactionable_warnings


def passes(logger_name: str, message: str) -> bool:
    logger = logging.getLogger(logger_name)
    record = logger.makeRecord(logger_name, logging.WARNING, __file__, 0, message, (), None)
    return bool(logger.filter(record))


def test_unactionable_warnings_are_dropped_and_others_kept():
    silence_unactionable_warnings()
    silence_unactionable_warnings()  # idempotent
    fp32 = "diffusers.models.modeling_utils"
    assert len(logging.getLogger(fp32).filters) == len({type(f) for f in logging.getLogger(fp32).filters})
    assert not passes(fp32, "There are modules in UNetMotionModel that should be kept in float32: []. Casting ...")
    assert passes(fp32, "There are modules in X that should be kept in float32: ['norm']. Casting ...")
    imports = "transformers.utils.import_utils"
    assert not passes(imports, "`CLIPImageProcessor` requires torchvision (not installed); falling back to `X` ...")
    assert passes(imports, "something else")
