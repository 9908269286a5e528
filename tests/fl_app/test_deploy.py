"""Real processes: a SuperLink and 3 SuperNodes on loopback, dropouts and resume.

Each test bounds every wait and stops every process it started, also when it
fails (``LocalDeployment`` is a context manager). They run on the tiny
label-TAB-text corpus so that one secure round is a ciphertext per client.
"""

import numpy as np
import pytest

from fl_app import server_app
from fl_app.checkpoint import load_checkpoint
from fl_app.client_app import app as client_app
from fl_app.config import RunConfig
from fl_app.dataset import load_data
from fl_app.deploy import DeploymentError, LocalDeployment
from fl_app.local_grid import LocalGrid

RUN_TIMEOUT_S = 240.0


class StopRun(Exception):
    """Raised from a log-line callback to stop following the run."""


def config(corpus, tmp_path, **overrides):
    values = {
        "corpus": "tsv", "data-path": str(corpus), "num-clients": 3, "num-server-rounds": 1,
        "lr": 0.05, "batch-size": 16,
        # Flower polls every 3 s and starts a process per message: a live node answers in
        # ~5-10 s. A dead one costs the full timeout, so the dropout tests keep it short.
        "round-timeout": 15.0,
        "results-dir": str(tmp_path / "results"), "checkpoint-dir": str(tmp_path / "checkpoints"),
    }
    return {**values, **overrides}


def all_stopped(deployment: LocalDeployment) -> bool:
    return deployment.stop() == [] and all(
        p.poll() is not None for p in [deployment.superlink, *deployment.supernodes]
    )


@pytest.mark.parametrize("min_clients, completes", [(2, True), (3, False)])
def test_a_supernode_killed_mid_round(tiny_corpus, tmp_path, min_clients, completes):
    seen = []

    def on_line(line):
        seen.append(line)
        if "[ROUND 1/1]" in line:
            deployment.kill_supernode(2)

    with LocalDeployment(3, tmp_path / "work") as deployment:
        result = deployment.run(
            config(tiny_corpus, tmp_path, aggregation="paillier", **{"min-clients": min_clients}),
            timeout=RUN_TIMEOUT_S, on_line=on_line,
        )
    assert all_stopped(deployment)
    rounds = {r["round"]: r for r in result["rounds"]}
    log = "\n".join(seen)
    assert "dropped" in log or "skipped" in log  # the log says who dropped, or why the round was skipped
    if completes:
        assert rounds[1]["contributors"] == 2 and result["accuracy"] >= 0.9
    else:
        assert "contributors" not in rounds[1]  # never decrypted: the model stayed at zeros
        assert rounds[1]["accuracy"] == rounds[0]["accuracy"] == 0.5
        assert "round 1 skipped" in log or "training skipped" in log


def test_resume_after_the_server_is_killed_gives_the_uninterrupted_model(tiny_corpus, tmp_path):
    run_config = config(tiny_corpus, tmp_path, aggregation="plain",
                        **{"num-server-rounds": 2, "round-timeout": 60.0})

    # The reference: the same run, uninterrupted, in-process.
    reference_cfg = RunConfig.from_mapping({**run_config, "checkpoint-dir": str(tmp_path / "reference"),
                                            "results-dir": str(tmp_path / "reference")})
    server_app.run(LocalGrid(client_app, 3, reference_cfg.to_dict()), reference_cfg, "reference")
    fingerprint = load_data("tsv", str(tiny_corpus), 0).vocabulary.fingerprint()
    reference = load_checkpoint(tmp_path / "reference", fingerprint)

    def kill_server_after_round_1(line):
        if "round 1: test accuracy" in line:
            deployment.kill_superlink()
            raise StopRun

    with LocalDeployment(3, tmp_path / "work", tls=True) as deployment:
        with pytest.raises(StopRun):
            deployment.run(run_config, timeout=RUN_TIMEOUT_S, on_line=kill_server_after_round_1)
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


def test_ctrl_c_stops_every_process_the_deploy_command_started(tmp_path):
    import re
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "fl_app.cli", "deploy", "--clients", "2", "--rounds", "1",
         "--results-dir", str(tmp_path / "r"), "--checkpoint-dir", str(tmp_path / "c")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    port = None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        if match := re.search(r"SuperLink on 127\.0\.0\.1:(\d+)", line):
            port = match.group(1)
            break
        assert time.monotonic() < deadline
    assert port is not None
    time.sleep(3)  # let the SuperNodes and the run start
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=90)
    assert proc.returncode == 130 and "interrupted" in output
    left = [
        line for line in subprocess.run(["ps", "-eo", "stat,args"], capture_output=True, text=True).stdout.splitlines()
        if f"127.0.0.1:{port}" in line and not line.startswith("Z")
    ]
    assert left == []
