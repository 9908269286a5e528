"""Which errors are the user's (one line) and which are bugs (a traceback), and where the
run-config's paths are checked."""

import subprocess
import sys

import pytest

from fl_app import cli
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


# ------------------------------------------------------------ the command line
# Bad values that reached the command line as plain ValueErrors (numpy's, urllib's, a
# decoder's), which CLI_ERRORS no longer takes for the user's: each must now be a user's
# error of its own, refused before any work, as one line and exit code 2.
VALUE_CASES = {
    "negative-seed": (["data", "stats", "--corpus", "synthetic", "--seed", "-1"], "seed = -1"),
    "negative-epochs": (["centralized", "--epochs", "-1"], "--epochs: -1"),
    "nan-threshold": (["classify", "--model", "m.npz", "--threshold", "nan"], "--threshold"),
    "url-without-scheme": (
        ["data", "download", "--base-url", "no-scheme", "--dest", "{tmp}"],
        "no-scheme/enron1.tar.gz",
    ),
    "negative-timeout": (["data", "download", "--timeout", "-1"], "--timeout: -1"),
    "binary-digests": (
        ["data", "download", "--sha256", "{tmp}/digests", "--dest", "{tmp}"],
        "{tmp}/digests: not a text file",
    ),
    "no-png": (["privacy-curve", "--png", "curve.txt"], "curve.txt"),
    "no-clients": (["privacy-curve", "--clients", "0"], "--clients: 0"),
    "member-not-a-toml-key": (
        ["identity", "--member", "al ice", "--key-file", "{tmp}/k"],
        "'al ice'",
    ),
}


@pytest.mark.parametrize("case", list(VALUE_CASES))
def test_a_bad_value_is_one_error_line_and_exit_2(case, tmp_path, capsys):
    argv, names = VALUE_CASES[case]
    (tmp_path / "digests").write_bytes(b"\xff\xfe\x00 not text")
    try:
        code = cli.main([a.format(tmp=tmp_path) for a in argv])
    except SystemExit as exc:  # argparse
        code = exc.code
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and "Traceback" not in err, err
    assert len(errors) == 1 and names.format(tmp=tmp_path) in errors[0], err


BUGGY_COMMAND = """
import sys
from fl_app import cli

def buggy(args):
    raise ValueError("a bug, not bad input")

cli.cmd_data_stats = buggy
sys.exit(cli.main(["data", "stats"]))
"""


def test_a_bug_raising_valueerror_in_a_command_exits_1_with_its_traceback():
    """A ValueError is no longer taken for bad input: it is reported as the bug it is."""
    proc = subprocess.run(
        [sys.executable, "-c", BUGGY_COMMAND], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" in proc.stderr and "ValueError: a bug, not bad input" in proc.stderr
    assert not [line for line in proc.stderr.splitlines() if line.startswith("error:")]
