"""Our packages' loggers, shown through Flower's console handler."""

from __future__ import annotations

import logging

from flwr.common.logger import FLOWER_LOGGER, console_handler

# Our packages log through the standard library (logging.getLogger(__name__)),
# so that the crypto and data layers do not depend on Flower. Here they are wired to the
# handler Flower gives its own logger: the same format, and the same stream, which Flower
# redirects to the SuperLink when a ServerApp or ClientApp runs in deployment.
PACKAGES = ("strategies", "clients", "data", "fl_app")


def route_package_logs() -> None:
    """Send the records of ``PACKAGES`` to Flower's console handler (idempotent)."""
    for name in PACKAGES:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:  # never undo set_log_level
            logger.setLevel(logging.DEBUG)  # as Flower's logger: the handler decides what shows
        if console_handler not in logger.handlers:
            logger.addHandler(console_handler)


def set_log_level(verbose: bool) -> None:
    """Quiet (the command line's default): our warnings only, and Flower's errors; verbose:
    every INFO line of both."""
    FLOWER_LOGGER.setLevel(logging.INFO if verbose else logging.ERROR)
    for name in PACKAGES:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
