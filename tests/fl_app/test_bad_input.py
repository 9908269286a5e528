"""Bad input, as a careless user types it: one ``error:`` line naming the value or file,
exit code 2 (or a failed run), no traceback, within seconds. The cases of issue 14."""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from flwr.app import Context, RecordDict

from fl_app import cli, deploy, server_app
from fl_app.client_app import app as client_app
from fl_app.config import RunConfig
from fl_app.local_grid import LocalGrid
from fl_app.user_errors import RunFailedError
from tests.fl_app.flower_log import flower_log, log_serverapp_error

SPAM_HAM = "spam\twin cash now\nham\tlunch at noon\n" * 20


def _files(tmp: Path) -> dict[str, str]:
    """The bad files and paths of the table, made in ``tmp``."""
    (tmp / "utf16.tsv").write_text(SPAM_HAM, encoding="utf-16")
    (tmp / "binary.tsv").write_bytes(bytes(range(256)) * 8)
    (tmp / "typo.tsv").write_text("hamm\tlunch at noon\n" + SPAM_HAM)
    (tmp / "nowords.tsv").write_text("spam\t  \nham\t \n" * 20)
    (tmp / "locked.tsv").write_text(SPAM_HAM)
    for label in ("ham", "spam"):
        (tmp / "enron1" / label).mkdir(parents=True)
        (tmp / "enron1" / label / "1.txt").write_text("Subject: lunch\n\nat noon")
    os.mkfifo(tmp / "fifo")
    (tmp / "folder").mkdir()
    return {k: str(tmp / f"{k}.tsv") for k in ("utf16", "binary", "typo", "nowords")} | {
        "locked": str(tmp / "locked.tsv"),
        "enron": str(tmp),
        "enron-locked": str(tmp / "enron1" / "spam" / "1.txt"),
        "fifo": str(tmp / "fifo"),
        "folder": str(tmp / "folder"),
    }


# (argv with {file} placeholders, what the error line must name, the file to deny)
CLI_CASES = {
    "deploy-0-clients": (["deploy", "--clients", "0"], "--clients 0", None),
    "deploy-1-client": (["deploy", "--clients", "1"], "--clients 1", None),
    "deploy-negative-clients": (["deploy", "--clients", "-3"], "--clients -3", None),
    "deploy-0-rounds": (["deploy", "--rounds", "0"], "num-server-rounds = 0", None),
    "deploy-2-clients-secure": (["deploy", "--clients", "2"], "--min-clients 2", None),
    "deploy-more-than-the-machine-holds": (["deploy", "--clients", "100000"], "--force", None),
    "deploy-authenticated-plain": (
        ["deploy", "--authenticated", "--aggregation", "plain"],
        "--authenticated with --aggregation plain",
        None,
    ),
    "unreadable-file": (
        ["data", "stats", "--corpus", "tsv", "--data", "{locked}"],
        "{locked}: permission denied",
        "locked",
    ),
    "unreadable-file-in-enron": (
        ["data", "stats", "--corpus", "enron", "--data", "{enron}"],
        "{enron-locked}: permission denied",
        "enron-locked",
    ),
    "name-too-long": (
        ["data", "stats", "--corpus", "tsv", "--data", "/tmp/" + "a" * 300],
        "name too long",
        None,
    ),
    "unknown-user": (
        ["data", "stats", "--corpus", "tsv", "--data", "~nosuchuser/x"],
        "no user 'nosuchuser'",
        None,
    ),
    "sha256-is-a-folder": (
        ["data", "download", "--sha256", "{folder}", "--dest", "{folder}"],
        "{folder}: is a directory",
        None,
    ),
    "attack-0-bit-key": (
        ["attack", "--key-bits", "0", "--insecure-demo-key"],
        "0-bit Paillier key",
        None,
    ),
    "utf16-file": (
        ["data", "stats", "--corpus", "tsv", "--data", "{utf16}"],
        "UTF-16",
        None,
    ),
    "binary-file": (
        ["data", "stats", "--corpus", "tsv", "--data", "{binary}"],
        "not a text file",
        None,
    ),
    "fifo-as-maildir": (
        ["data", "stats", "--corpus", "maildir", "--data", "{fifo}"],
        "{fifo}: is a FIFO",
        None,
    ),
    "device-as-maildir": (
        ["data", "stats", "--corpus", "maildir", "--data", "/dev/null"],
        "/dev/null: is a device",
        None,
    ),
    "negative-clip": (["privacy-curve", "--clip", "-1"], "dp-clip = -1.0", None),
    "negative-lr": (["centralized", "--lr", "-1"], "lr = -1.0", None),
    "data-without-corpus": (
        ["data", "stats", "--data", "{typo}"],
        "without --corpus",
        None,
    ),
    "misspelt-first-label": (
        ["data", "stats", "--corpus", "tsv", "--data", "{typo}"],
        "{typo}:1: label 'hamm'",
        None,
    ),
    "no-words": (
        ["data", "stats", "--corpus", "tsv", "--data", "{nowords}"],
        "has a word",
        None,
    ),
    "unknown-option": (["centralized", "--bogus"], "--bogus", None),
}


def _no_deployment(*args, **kwargs):
    raise AssertionError("bad input started a deployment")


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_bad_input_on_the_command_line_is_one_error_line_and_exit_2(
    case, tmp_path, deny_reading, capsys, monkeypatch
):
    argv, names, denied = CLI_CASES[case]
    monkeypatch.setattr(deploy, "LocalDeployment", _no_deployment)  # refused before any process
    files = _files(tmp_path)
    if denied:
        deny_reading(files[denied])
    try:
        code = cli.main([a.format(**files) for a in argv])
    except SystemExit as exc:  # argparse
        code = exc.code
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and "Traceback" not in err, err
    assert len(errors) == 1 and names.format(**files) in errors[0], err


def test_a_closed_stdout_is_one_error_line_not_a_traceback():
    """``fl-spam ... --json | true``: the reader is gone before the JSON is written."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "fl_app.cli", "data", "stats", "--corpus", "sms", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()  # as `| true` does
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 2, err
    assert "Traceback" not in err and err.count("error:") == 1 and "broken pipe" in err


# ------------------------------------------------------------ the ServerApp's start-up
class SimulatedGrid:
    """A simulation's grid as the ServerApp first sees it: ``nodes`` SuperNodes, no replies."""

    def __init__(self, nodes: int) -> None:
        self.run = SimpleNamespace(primary_task_type="flwr-simulation")
        self.nodes = list(range(1, nodes + 1))

    def get_node_ids(self) -> list[int]:
        return self.nodes

    def send_and_receive(self, *args, **kwargs):
        raise AssertionError("the ServerApp sent a message before refusing its run-config")


def serverapp_log(run_config: dict, tmp_path: Path, nodes: int = 3) -> list[str]:
    """What the ServerApp's log shows when it starts with ``run_config``: it must raise, and
    Flower logs that exception as its runtimes do (``run_serverapp``, ``flwr-simulation``)."""
    context = Context(
        run_id=1,
        node_id=0,
        node_config={},
        state=RecordDict(),
        run_config={
            "results-dir": str(tmp_path / "r"),
            "checkpoint-dir": str(tmp_path / "c"),
            **run_config,
        },
    )
    with flower_log() as log:
        with pytest.raises(Exception) as raised:
            server_app.main(SimulatedGrid(nodes), context)
        log_serverapp_error(raised.value)
    assert not (tmp_path / "r").exists()  # no results of a run that did not run
    return log.getvalue().splitlines()


SERVERAPP_CASES = {
    "zero-rounds": ({"num-server-rounds": 0}, "num-server-rounds = 0"),
    "min-clients-above-the-nodes": ({"min-clients": 5}, "min-clients = 5"),
    "num-clients-above-the-nodes": ({"num-clients": 5}, "num-clients = 5"),
    "1024-bit-key": ({"key-bits": 1024}, "key-bits = 1024"),
    "tsv-without-data-path": ({"corpus": "tsv"}, "data-path = ''"),
    "max-examples-below-the-training-set": ({"max-examples": 10}, "max-examples = 10"),
}


@pytest.mark.parametrize("case", list(SERVERAPP_CASES))
def test_a_run_config_that_cannot_run_fails_the_serverapp_with_one_error_line(case, tmp_path):
    run_config, names = SERVERAPP_CASES[case]
    lines = serverapp_log(run_config, tmp_path)
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and names in errors[0], lines
    assert not any("Traceback" in line for line in lines), lines


def test_a_bug_in_the_serverapp_keeps_its_traceback():
    """The filter shortens only the user's errors; anything else must still be reported."""
    with flower_log() as log:
        try:
            raise KeyError("a bug")
        except KeyError as exc:
            log_serverapp_error(exc)
    assert "Traceback" in log.getvalue() and "error:" not in log.getvalue()


def test_a_run_whose_every_round_is_skipped_fails_with_the_reason(tiny_run_config, tmp_path):
    """Every node's own floor is above the run's clients: each refuses, each round skips."""
    cfg = RunConfig.from_mapping(
        {
            **tiny_run_config,
            "num-server-rounds": 2,
            "round-timeout": 30.0,
            "results-dir": str(tmp_path / "r"),
            "checkpoint-dir": str(tmp_path / "c"),
        }
    )
    grid = LocalGrid(client_app, 3, cfg.to_dict(), node_config={"min-clients": 4})
    with pytest.raises(RunFailedError, match="every round was skipped.*round 2"):
        server_app.run(grid, cfg, "skipped")
    assert not (tmp_path / "r").exists()
