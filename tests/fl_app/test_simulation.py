"""In-process Flower simulations (Ray): one round, plain on 2 SuperNodes and Paillier on 3."""

import json
import subprocess

import pytest
from flwr.serverapp import ServerApp
from flwr.simulation import run_simulation

from clients.model_file import load_model
from fl_app import server_app
from fl_app.client_app import app as client_app
from fl_app.config import RunConfig


def ray_processes() -> set[str]:
    out = subprocess.run(["pgrep", "-f", "raylet|gcs_server|ray::"], capture_output=True, text=True)
    return set(out.stdout.split())


# Plain FedAvg on Flower's default 2 SuperNodes, num-clients left at 0; the secure round on 3.
@pytest.mark.parametrize("aggregation, supernodes", [("plain", 2), ("paillier", 3)])
def test_simulation_learns_and_writes_results(tmp_path, wait_for, aggregation, supernodes):
    before = ray_processes()
    cfg = RunConfig(
        num_server_rounds=1,
        results_dir=str(tmp_path),
        aggregation=aggregation,
        checkpoint_dir=str(tmp_path / "checkpoints"),
    )
    payloads = []
    app = ServerApp()

    @app.main()
    def _main(grid, context):
        payloads.append(server_app.run(grid, cfg, "test-run"))

    run_simulation(server_app=app, client_app=client_app, num_supernodes=supernodes)

    [payload] = payloads
    assert [r["round"] for r in payload["rounds"]] == [0, 1]
    start = payload["rounds"][0]  # zero weights: nothing flagged, the majority class's accuracy
    assert start["accuracy"] == start["majority_accuracy"] and start["recall"] == 0.0
    assert payload["accuracy"] > 0.97 and payload["auc"] > 0.98 and payload["fpr"] < 0.02
    saved = json.loads((tmp_path / "test-run.json").read_text())
    assert (
        saved["accuracy"] == payload["accuracy"]
        and "sms" in saved["corpus"]
        and not saved["synthetic"]
    )
    if aggregation == "plain":  # federated evaluation: the test slices summed give the same figures
        assert saved["rounds"][-1]["federated"]["auc"] == pytest.approx(payload["auc"])
    else:  # clients of a secure round report nothing per client
        assert "federated" not in saved["rounds"][-1]
    assert (
        load_model(tmp_path / "test-run.model.npz").about["metrics"]["accuracy"]
        == payload["accuracy"]
    )
    assert (
        saved["config"]["num-server-rounds"] == 1 and saved["config"]["aggregation"] == aggregation
    )
    assert saved["config"]["num-clients"] == supernodes  # one client per SuperNode
    assert (tmp_path / "test-run.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "checkpoints" / "checkpoint.npz").exists()
    # Ray is shut down again: no Ray process started since ``before`` remains (it exits
    # asynchronously).
    assert wait_for(lambda: not ray_processes() - before, 15.0)
