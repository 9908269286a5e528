"""Errors the user can fix, and the one line each becomes: ``error: <what> — <what to do>``."""

from __future__ import annotations

import errno
import logging

from flwr.common.logger import FLOWER_LOGGER

from clients.model_file import ModelFileError
from data.corpus import CorpusError
from data.download import DownloadError
from strategies.errors import SecureAggregationError

from .config import RunConfigError
from .deploy import DeploymentError


class RunFailedError(RuntimeError):
    """A run that ended without training: every round was skipped. The message says why."""


# What ends a ServerApp as a failed run with one error line and no traceback: the
# run-config, the corpus and the federation are the user's to fix, not bugs.
RUN_ERRORS: tuple[type[Exception], ...] = (RunConfigError, CorpusError, RunFailedError)
# What ends an fl-spam command with one error line and exit code 2. Anything else
# is a bug, and keeps its traceback (exit code 1) so that it is reported.
CLI_ERRORS: tuple[type[Exception], ...] = (
    *RUN_ERRORS,
    DownloadError,
    DeploymentError,
    SecureAggregationError,
    ModelFileError,
    OSError,
)

# What to do about an OS error, by errno; the OS's own words say what happened.
_OS_FIXES = {
    errno.EACCES: "make it readable (chmod) or choose another path",
    errno.EPERM: "make it readable (chmod) or choose another path",
    errno.ENOENT: "check the path",
    errno.ENAMETOOLONG: "use a shorter name",
    errno.EISDIR: "give a file, not a folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder; check the path",
    errno.ENOSPC: "free some disk space",
    errno.EROFS: "choose a writable folder",
    errno.EPIPE: "the command reading this output stopped early; let it read everything",
}


def error_line(exc: BaseException) -> str:
    """``exc`` as the one line the user sees, without the ``error:`` prefix."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        fix = _OS_FIXES.get(exc.errno or 0, "check the path and try again")
        text = f"{where}{exc.strerror.lower()} — {fix}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())  # one line, whatever the message held


def run_error(exc: BaseException | None) -> BaseException | None:
    """The user's error ``exc`` is, or was explicitly raised from (``raise ... from``);
    ``None`` if it is a bug. An exception merely raised while handling a user's error
    (``__context__``) is a bug, and keeps its traceback."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, RUN_ERRORS):
            return exc
        exc, seen = exc.__cause__, seen + 1
    return None


class OneLineRunErrors(logging.Filter):
    """Turns Flower's "ServerApp raised an exception" and its traceback into one line,
    ``error: <what> — <what to do>``, when the exception is the user's to fix.

    Flower logs every ServerApp exception with its traceback and then fails the
    run; a wrong run-config is not a bug, and its traceback would bury the line
    that says what to change. The run still ends as failed.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = run_error(record.exc_info[1] if record.exc_info else None)
        if exc is not None:
            record.msg, record.args = "error: %s", (error_line(exc),)
            record.exc_info, record.exc_text = None, None
        return True


def install_run_error_filter() -> None:
    """Show a user's error that ends a ServerApp as one ``error:`` line (idempotent)."""
    if not any(isinstance(f, OneLineRunErrors) for f in FLOWER_LOGGER.filters):
        FLOWER_LOGGER.addFilter(OneLineRunErrors())
