"""Library warnings printed on every run that a person cannot act on, dropped at their source
(only these messages: every other warning of those libraries still shows)."""

from __future__ import annotations

import logging

# logger name -> fragments of the messages to drop
UNACTIONABLE = {
    # transformers without torchvision (not a dependency here) uses the PIL image processors, as we want.
    "transformers.utils.import_utils": ("requires torchvision (not installed); falling back to",),
    # diffusers' UNetMotionModel.from_unet2d casts with `.to(dtype)`, which warns even when no module
    # has to stay in float32 (the list it prints is empty).
    "diffusers.models.modeling_utils": ("that should be kept in float32: []",),
}


class DropMessages(logging.Filter):
    def __init__(self, fragments: tuple[str, ...]):
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(fragment in message for fragment in self.fragments)


def silence_unactionable_warnings() -> None:
    """Install the filters (once; calling again changes nothing)."""
    for name, fragments in UNACTIONABLE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropMessages) for f in logger.filters):
            logger.addFilter(DropMessages(fragments))
