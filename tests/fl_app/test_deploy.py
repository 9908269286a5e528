"""Real processes: a SuperLink and 3 SuperNodes on loopback, dropouts and resume.

Each test waits on events (a log line, a checkpoint on disk, Flower's reply
for a node that is gone), never on a delay; bounds every wait; and stops
every process it started, also when it fails (``LocalDeployment`` is a
context manager, and inside it SIGTERM unwinds like Ctrl-C). They assert on
the results and checkpoints, not on log wording. They run on the tiny
label-TAB-text corpus so that one secure round is a ciphertext per client.
"""

import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fl_app import cli, deploy, server_app
from fl_app.checkpoint import CheckpointError, load_checkpoint
from fl_app.client_app import app as client_app
from fl_app.config import RunConfig
from fl_app.dataset import load_data
from fl_app.deploy import (
    NODE_CONNECTED,
    CapacityError,
    DeploymentError,
    FederationNeeds,
    LocalDeployment,
    Machine,
    check_capacity,
    config_arg,
    largest_federation,
)
from fl_app.local_grid import LocalGrid
from fl_app.processes import Terminated, live_processes, sigterm_guard
from strategies.wire import NODE_ALLOW_PLAIN

RUN_TIMEOUT_S = 240.0
# Bounds each wait for replies. The waits end on events, not on this: a node that is
# gone is answered for by the SuperLink with a NODE_UNAVAILABLE error reply. A node
# stopped by SIGTERM deregisters at once; one that dies silently is declared gone after
# no heartbeat for 2 x 30 s, so this is above 60 s.
ROUND_TIMEOUT_S = 120.0
EVENT_TIMEOUT_S = 60.0
# What a SuperNode logs (Flower's wording) when it has pulled a message of type "train".
TRAIN_RECEIVED = "Receiving: train message"
TEST_MARK = "FL_SPAM_TEST_MARK"
# A node answers plain rounds only when its own node config allows them.
PLAIN_NODE = {NODE_ALLOW_PLAIN: True}


class StopRun(Exception):
    """Raised from a log-line callback to stop following the run."""


def config(corpus, tmp_path, **overrides):
    values = {
        "corpus": "tsv",
        "data-path": str(corpus),
        "num-clients": 3,
        "num-server-rounds": 1,
        "lr": 0.05,
        "batch-size": 16,
        "round-timeout": ROUND_TIMEOUT_S,
        "results-dir": str(tmp_path / "results"),
        "checkpoint-dir": str(tmp_path / "checkpoints"),
    }
    return {**values, **overrides}


def all_stopped(deployment: LocalDeployment) -> bool:
    return deployment.stop() == [] and all(
        p.poll() is not None for p in [deployment.superlink, *deployment.supernodes]
    )


@pytest.fixture
def fingerprint(tiny_corpus):
    """The fingerprint of the tiny corpus's vocabulary, which its runs' checkpoints carry."""
    return load_data(RunConfig(corpus="tsv", data_path=str(tiny_corpus))).vocabulary.fingerprint()


def checkpoint_round(directory: Path, fingerprint: str) -> int:
    try:
        return load_checkpoint(directory, fingerprint).server_round
    except CheckpointError:
        return 0


# --------------------------------------------------------------- the launcher
def test_node_config_entries_go_to_every_supernode_next_to_its_partition(tmp_path):
    deployment = LocalDeployment(3, tmp_path, node_config={"min-clients": 2, "member": "a b"})
    assert deployment.node_configs == [
        f'partition-id={i} num-partitions=3 min-clients=2 member="a b"' for i in range(3)
    ]
    per_node = LocalDeployment(
        2, tmp_path, node_config=lambda i: {"identity-key": f"/keys/{i}.pem"}
    )
    assert per_node.node_configs[1] == 'partition-id=1 num-partitions=2 identity-key="/keys/1.pem"'
    with pytest.raises(ValueError, match="partition-id"):
        LocalDeployment(3, tmp_path, node_config={"partition-id": 0})
    with pytest.raises(ValueError, match="unresponsive"):
        LocalDeployment(3, tmp_path, unresponsive=[3])


def test_config_values_are_written_as_flower_parses_them():
    from flwr.common.config import parse_config_args

    values = {"a": True, "b": 3, "c": 0.05, "d": 1e-5, "e": "x y", "f": 'say "hi"', "g": "C:\\data"}
    assert parse_config_args([config_arg(values)]) == values
    with pytest.raises(ValueError):
        config_arg({"s": 'it\'s "both"'})
    with pytest.raises(ValueError):
        config_arg({"bad key": 1})


class FakeSpawn:
    """``LocalDeployment._spawn`` without processes: SuperNode i connects (its log gains
    Flower's line) the second time the deployment polls it; those in ``never`` never
    do, those in ``exits`` exit at the first poll. ``events``: ("spawn", i) and
    ("connect", i) in the order they happened."""

    def __init__(self, deployment: LocalDeployment, never=(), exits=()) -> None:
        self.deployment, self.never, self.exits = deployment, set(never), set(exits)
        self.events: list[tuple[str, int]] = []

    def __call__(self, name: str, command: list[str]) -> "FakeNode":
        assert command[0] == "flower-supernode"
        index = int(name.removeprefix("supernode-"))
        self.events.append(("spawn", index))
        return FakeNode(self, index)


class FakeNode:
    """A SuperNode process as ``start_supernodes`` sees it (``poll``, ``returncode``)."""

    def __init__(self, spawn: FakeSpawn, index: int) -> None:
        self.spawn, self.index, self.polls, self.returncode = spawn, index, 0, None

    @property
    def pid(self) -> int:
        raise AssertionError("a fake SuperNode is never signalled")

    def poll(self) -> int | None:
        self.polls += 1
        if self.index in self.spawn.exits:
            self.returncode = 1
        elif self.polls == 2 and self.index not in self.spawn.never:
            log = self.spawn.deployment.logs / f"supernode-{self.index}.log"
            with log.open("a") as f:
                f.write(f"INFO :      {NODE_CONNECTED}{1000 + self.index}\n")
            self.spawn.events.append(("connect", self.index))
        return self.returncode


def test_supernodes_start_in_batches_each_once_the_one_before_has_connected(tmp_path, monkeypatch):
    up: list[int] = []
    monkeypatch.setattr(deploy, "POLL_S", 0.01)
    deployment = LocalDeployment(5, tmp_path, start_batch=2, on_nodes_up=up.append)
    spawn = FakeSpawn(deployment)
    monkeypatch.setattr(deployment, "_spawn", spawn)
    deployment.start_supernodes(timeout=EVENT_TIMEOUT_S)
    waited = [[0, 1], [2, 3]]  # the last batch connects while the run is submitted
    assert spawn.events == [
        *[(event, i) for batch in waited for event in ("spawn", "connect") for i in batch],
        ("spawn", 4),
    ]
    assert up == [2, 4] and len(deployment.supernodes) == 5


@pytest.mark.parametrize(
    "fault, message",
    [("exits", r"SuperNode 2 exited"), ("never", r"SuperNode\(s\) 2 did not connect")],
    ids=["exits", "never-connects"],
)
def test_a_supernode_that_does_not_connect_ends_the_start_before_the_next_batch(
    tmp_path, monkeypatch, fault, message
):
    monkeypatch.setattr(deploy, "POLL_S", 0.01)
    deployment = LocalDeployment(5, tmp_path, start_batch=2)
    spawn = FakeSpawn(deployment, **{fault: [2]})
    monkeypatch.setattr(deployment, "_spawn", spawn)
    with pytest.raises(DeploymentError, match=message):
        deployment.start_supernodes(timeout=0.3)  # the bound itself is under test: short
    assert ("spawn", 3) in spawn.events and ("spawn", 4) not in spawn.events


# ------------------------------------------------------------------ capacity
# This project's development machine: 2 cores, ~24 GB.
MACHINE = Machine(memory_mb=24 * 1024, cores=2, pool_workers=2)


def test_a_federation_the_machine_cannot_hold_is_refused_saying_what_it_needs():
    with pytest.raises(CapacityError) as refused:
        check_capacity(1000, secure=True, round_timeout=120.0, machine=MACHINE)
    most = largest_federation(True, 120.0, MACHINE)
    message = str(refused.value)
    assert "--clients 1000" in message and "GB of memory" in message and "CPU-seconds" in message
    assert f"--clients {most} " in message and "--force" in message
    assert FederationNeeds.of(most, True, MACHINE).fits(MACHINE, 120.0)
    assert not FederationNeeds.of(most + 1, True, MACHINE).fits(MACHINE, 120.0)
    # The default and the benchmark's 10 fit; plain rounds hold more nodes than secure ones.
    assert 10 <= most < largest_federation(False, 120.0, MACHINE) < 1000
    assert check_capacity(10, True, 120.0, MACHINE).clients == 10


def test_time_alone_short_is_fixed_by_a_longer_round_timeout_and_a_tiny_machine_by_force():
    roomy = Machine(memory_mb=1e9, cores=2, pool_workers=2)
    with pytest.raises(CapacityError) as refused:
        check_capacity(100, True, 120.0, roomy)
    message = str(refused.value)
    assert "memory" not in message
    timeout = float(message.split("--round-timeout ")[-1].split(",")[0])
    assert FederationNeeds.of(100, True, roomy).fits(roomy, timeout)
    tiny = Machine(memory_mb=1024, cores=2, pool_workers=2)
    with pytest.raises(CapacityError) as refused:
        check_capacity(2, False, 120.0, tiny)
    assert "--clients" not in str(refused.value).split("—")[1] and "--force" in str(refused.value)


def test_this_machine_is_measured():
    here = Machine.here()
    assert here.memory_mb > 0 and here.cores >= 1 and here.pool_workers >= 1


# ------------------------------------------------------- the deploy command's nodes
class NotStarted(Exception):
    """Raised by the stand-in for LocalDeployment: the command got that far."""


@pytest.fixture
def node_configs(monkeypatch):
    """``fl-spam deploy``'s LocalDeployment replaced by one that records every node's node
    config and starts nothing; the machine is ``MACHINE``. Returns the list of deployments."""
    made: list[list[dict]] = []

    def record(clients, workdir, *, node_config, **options):
        made.append([dict(node_config(i)) for i in range(clients)])
        raise NotStarted

    monkeypatch.setattr(deploy, "LocalDeployment", record)
    monkeypatch.setattr(deploy.Machine, "here", staticmethod(lambda: MACHINE))
    return made


@pytest.mark.parametrize(
    "argv, min_clients, allow_plain",
    [
        (["--clients", "2", "--aggregation", "plain"], 2, True),
        (["--clients", "3", "--aggregation", "plain"], 3, True),
        (["--clients", "2", "--min-clients", "2"], 2, None),
        (["--clients", "3"], 3, None),
        (["--clients", "1000", "--force"], 3, None),
    ],
    ids=["plain-2", "plain-3", "secure-2-explicit", "secure-3", "secure-1000-forced"],
)
def test_deploy_gives_every_node_the_runs_floor_and_allows_plain_only_for_plain_runs(
    node_configs, tmp_path, argv, min_clients, allow_plain
):
    dirs = ["--results-dir", str(tmp_path / "r"), "--checkpoint-dir", str(tmp_path / "c")]
    with pytest.raises(NotStarted):
        cli.main(["deploy", *argv, *dirs])
    [nodes] = node_configs
    assert len(nodes) == int(argv[1])
    assert all(n["min-clients"] == min_clients for n in nodes)
    assert all(n.get(NODE_ALLOW_PLAIN) == allow_plain for n in nodes)


@pytest.mark.parametrize(
    "argv, names",
    [
        (["--clients", "2", "--aggregation", "paillier"], "--clients 3"),
        (["--clients", "1000"], "--force"),
        (["--clients", "1000", "--aggregation", "plain"], "--force"),
    ],
    ids=["secure-2", "secure-1000", "plain-1000"],
)
def test_deploy_refuses_before_any_process_starts(node_configs, tmp_path, capsys, argv, names):
    dirs = ["--results-dir", str(tmp_path / "r"), "--checkpoint-dir", str(tmp_path / "c")]
    assert cli.main(["deploy", *argv, *dirs]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and names in errors[0], errors
    assert node_configs == []  # no deployment was made


def test_under_the_guard_sigterm_unwinds_like_ctrl_c_but_never_cuts_a_cleanup_short(wait_for):
    with pytest.raises(Terminated), sigterm_guard():
        os.kill(os.getpid(), signal.SIGTERM)
        assert wait_for(lambda: False, 10), "SIGTERM to arrive: not within 10 s"
    cleaned = []
    with pytest.raises(Terminated), sigterm_guard() as guard:
        with guard.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            assert wait_for(lambda: guard.held, 10), "SIGTERM to arrive: not within 10 s"
            cleaned.append(True)  # the cleanup went on
    assert cleaned == [True]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


# ----------------------------------------------------------------- dropouts
# Two cases keep the suite within its time budget: a SIGKILLed node is only reported
# unavailable after its heartbeat lapses (~60 s), and plain rounds share BoundedFedAvg's path.
@pytest.mark.parametrize(
    "aggregation, min_clients, completes",
    [
        ("paillier", 2, True),
        ("paillier", 3, False),
    ],
    ids=["paillier-2-completes", "paillier-3-skipped"],
)
def test_a_supernode_killed_mid_round(
    tiny_corpus, fingerprint, tmp_path, aggregation, min_clients, completes
):
    """SuperNode 2 is killed once it holds its training message; it can never have replied.

    It runs no ClientApp (``unresponsive``), so the kill happens at that protocol
    point and not in a race with its reply. The round's wait ends on the
    SuperLink's NODE_UNAVAILABLE reply for it, not on ``round-timeout``: at
    once after a SIGTERM (the node deregisters), within 60 s of a SIGKILL
    (its heartbeat is overdue).
    """
    killed = []

    def kill_node_2_once_it_has_its_training_message(index: int, line: str) -> None:
        if index == 2 and TRAIN_RECEIVED in line and not killed:
            deployment.kill_supernode(2)
            killed.append(line)

    # Each client's own floor (node config) equals the server's min-clients here.
    run_config = config(
        tiny_corpus, tmp_path, aggregation=aggregation, **{"min-clients": min_clients}
    )
    with LocalDeployment(
        3, tmp_path / "work", node_config={"min-clients": min_clients}, unresponsive=[2]
    ) as deployment:
        if completes:
            result = deployment.run(
                run_config,
                timeout=RUN_TIMEOUT_S,
                on_node_line=kill_node_2_once_it_has_its_training_message,
            )
        else:  # its only round skipped: the run fails, with the reason, and writes no results
            with pytest.raises(DeploymentError, match="every round was skipped.*2 client"):
                deployment.run(
                    run_config,
                    timeout=RUN_TIMEOUT_S,
                    on_node_line=kill_node_2_once_it_has_its_training_message,
                )
    assert all_stopped(deployment)
    assert killed, "SuperNode 2 never received a training message"
    final = load_checkpoint(tmp_path / "checkpoints", fingerprint)
    assert final.server_round == 1
    if completes:
        rounds = {r["round"]: r for r in result["rounds"]}
        assert sorted(rounds) == [0, 1] and result["accuracy"] >= 0.9
        assert rounds[1]["contributors"] == 2  # the secure sum says how many updates it holds
    else:
        assert not np.any(final.arrays[0])  # the model stayed at zeros
        assert [r["round"] for r in final.history] == [0, 1]
        assert "contributors" not in final.history[1]  # never decrypted


# ------------------------------------------------------------------- resume
def test_resume_after_the_server_is_killed_gives_the_uninterrupted_model(
    tiny_corpus, fingerprint, tmp_path, wait_for
):
    # Two nodes (plain FedAvg's smallest federation): every message wave starts a ClientApp
    # per node on 2 cores, and what is under test is the server's restart, not the nodes.
    run_config = config(
        tiny_corpus,
        tmp_path,
        aggregation="plain",
        **{"num-server-rounds": 2, "num-clients": 2, "min-clients": 2},
    )

    # The reference: the same run, uninterrupted, in-process.
    reference_cfg = RunConfig.from_mapping(
        {
            **run_config,
            "checkpoint-dir": str(tmp_path / "reference"),
            "results-dir": str(tmp_path / "reference"),
        }
    )
    grid = LocalGrid(client_app, 2, reference_cfg.to_dict(), node_config=PLAIN_NODE)
    server_app.run(grid, reference_cfg, "reference")
    reference = load_checkpoint(tmp_path / "reference", fingerprint)

    def kill_server_once_round_1_is_checkpointed(line):
        if "round 1: test accuracy" in line:  # the checkpoint is written right after this line
            assert wait_for(
                lambda: checkpoint_round(tmp_path / "checkpoints", fingerprint) == 1,
                EVENT_TIMEOUT_S,
            ), f"the round-1 checkpoint: not within {EVENT_TIMEOUT_S:.0f} s"
            deployment.kill_superlink()  # SIGKILL; returns once its ServerApp is gone too
            raise StopRun

    with LocalDeployment(2, tmp_path / "work", tls=True, node_config=PLAIN_NODE) as deployment:
        with pytest.raises(StopRun):
            deployment.run(
                run_config, timeout=RUN_TIMEOUT_S, on_line=kill_server_once_round_1_is_checkpointed
            )
        interrupted = load_checkpoint(tmp_path / "checkpoints", fingerprint)
        assert interrupted.server_round == 1
        deployment.start_superlink()  # same port and database; the SuperNodes reconnect
        result = deployment.run({**run_config, "resume": True}, timeout=RUN_TIMEOUT_S)
    assert all_stopped(deployment)
    final = load_checkpoint(tmp_path / "checkpoints", fingerprint)
    assert final.server_round == reference.server_round == 2
    # FedAvg sums the replies in arrival order, so equal up to float rounding.
    np.testing.assert_allclose(final.arrays[0], reference.arrays[0], rtol=0, atol=1e-12)
    assert [r["round"] for r in result["rounds"]] == [0, 1, 2]


def test_an_unreachable_superlink_is_one_clear_error(tmp_path):
    deployment = LocalDeployment(3, tmp_path)  # nothing started
    with pytest.raises(DeploymentError, match="Connection to the SuperLink is unavailable"):
        deployment.run({"results-dir": str(tmp_path / "results")}, timeout=60)
    assert deployment.stop() == []


# ------------------------------------------------------------ interruptions
def processes_on_port(port: int) -> list[int]:
    """Live processes (not zombies) whose arguments name ``port``.

    The SuperLink's, or one linking to it.
    """
    return live_processes(
        lambda args, environ: (
            any(f"127.0.0.1:{port}" in a for a in args)
            or any(a == "--port" and b == str(port) for a, b in itertools.pairwise(args))
        )
    )


def processes_marked(mark: str) -> list[int]:
    """Live processes (not zombies) that inherited ``TEST_MARK=mark``.

    Everything a command started, in any session.
    """
    return live_processes(lambda args, environ: environ.get(TEST_MARK) == mark)


# SIGTERM and SIGHUP take the same path once the guard raises; test_signals sends them.
@pytest.mark.parametrize("sig", [signal.SIGINT], ids=["ctrl-c"])
def test_an_interrupt_stops_every_process_the_deploy_command_started(tmp_path, read_until, sig):
    import re

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fl_app.cli",
            "deploy",
            "--clients",
            "2",
            "--rounds",
            "3",
            "--aggregation",
            "plain",
            "--results-dir",
            str(tmp_path / "r"),
            "--checkpoint-dir",
            str(tmp_path / "c"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, TEST_MARK: str(tmp_path)},
    )
    port = None
    try:
        line, _ = read_until(proc, "SuperLink on 127.0.0.1:", EVENT_TIMEOUT_S)
        port = int(re.search(r"SuperLink on 127\.0\.0\.1:(\d+)", line).group(1))
        # The run is under way: its ServerApp has evaluated the initial model.
        read_until(proc, "round 0: test accuracy", RUN_TIMEOUT_S)
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:  # the test failed: stop the command the same way, then for good
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == 130 and "interrupted" in output
    assert processes_on_port(port) == []
    assert processes_marked(str(tmp_path)) == []
