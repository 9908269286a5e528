"""Which errors are the user's (one line) and which are bugs (a traceback), and where the
run-config's paths are checked."""

import pytest

from fl_app.config import RunConfig, RunConfigError
from fl_app.user_errors import install_run_error_filter
from tests.fl_app.flower_log import flower_log, log_serverapp_error


def flower_log_of(exc: BaseException) -> str:
    """What Flower's runtimes log for a ServerApp that raised ``exc``."""
    install_run_error_filter()
    with flower_log() as log:
        log_serverapp_error(exc)
    return log.getvalue()


def raised(raiser):
    try:
        raiser()
    except Exception as exc:
        return exc
    raise AssertionError("nothing raised")


def test_a_users_error_and_one_raised_from_it_are_one_line():
    def wrapped():
        try:
            RunConfig(num_server_rounds=0)
        except RunConfigError as exc:
            raise RuntimeError("starting the run") from exc

    for exc in (raised(lambda: RunConfig(num_server_rounds=0)), raised(wrapped)):
        out = flower_log_of(exc)
        assert out.startswith("error: run-config num-server-rounds = 0") and "Traceback" not in out


def test_a_bug_while_handling_a_users_error_keeps_its_traceback():
    """Review F9: only an explicit ``raise ... from`` makes it the user's error."""

    def buggy_handler():
        try:
            RunConfig(num_server_rounds=0)
        except RunConfigError:
            {}["missing"]  # a bug in the error path

    out = flower_log_of(raised(buggy_handler))
    assert "Traceback" in out and "KeyError" in out and not out.startswith("error:")


def test_an_unknown_user_in_a_path_is_checked_by_the_server_never_by_a_client():
    """Review F4: a client parsing the run-config must not answer differently for
    ``~nosuchuser`` than for ``~root``: that would tell a server which accounts exist."""
    for path in ("~root/key", "~nosuchuser-xyz/key"):
        RunConfig.from_mapping({"key-file": path})  # what a client does: no error either way
    RunConfig.from_mapping({"key-file": "~root/key"}).check_paths()
    with pytest.raises(RunConfigError, match="no user 'nosuchuser-xyz'"):
        RunConfig.from_mapping({"key-file": "~nosuchuser-xyz/key"}).check_paths()
