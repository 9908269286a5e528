"""Flower's log, caught for a test to read, and a ServerApp's exception logged into it as
Flower's runtimes (``run_serverapp``, ``flwr-simulation``) log it."""

import contextlib
import io
import logging
from collections.abc import Iterator

from flwr.common.logger import FLOWER_LOGGER


@contextlib.contextmanager
def flower_log() -> Iterator[io.StringIO]:
    """What Flower's logger writes meanwhile, caught by a handler of the test's own."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    FLOWER_LOGGER.addHandler(handler)
    try:
        yield stream
    finally:
        FLOWER_LOGGER.removeHandler(handler)


def log_serverapp_error(exc: BaseException) -> None:
    """Log ``exc`` as Flower's runtimes log the exception a ServerApp raised."""
    FLOWER_LOGGER.log(logging.ERROR, "%s raised an exception", "ServerApp", exc_info=exc)
