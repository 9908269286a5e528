"""Bad input at the node boundary: one clear error in the node's log, a code to the server,
and the run goes on without that node."""

import logging

import numpy as np
import pytest
from flwr.app import ArrayRecord, ConfigRecord
from phe import paillier

from fl_app.client_app import app as client_app
from fl_app.config import RunConfig
from fl_app.dataset import load_data
from fl_app.local_grid import LocalGrid
from strategies.chain import PaillierChainFedAvg
from strategies.errors import CODE_NODE_MISCONFIGURED, CODE_REFUSED
from strategies.keys import generate_keypair

KEYPAIR = generate_keypair()
TRAIN = {"lr": 0.05, "batch-size": 16, "local-epochs": 1}


@pytest.fixture(autouse=True)
def node_log(caplog):
    caplog.set_level(logging.WARNING, logger="fl_app.client_app")
    return caplog


def secure_round(tiny_corpus, spoil, keypair=KEYPAIR):
    """One secure round over 3 nodes, after ``spoil(grid)`` broke something; result, error codes."""
    run_config = {
        "corpus": "tsv",
        "data-path": str(tiny_corpus),
        "num-clients": 3,
        "min-clients": 2,
    }
    grid = LocalGrid(client_app, 3, run_config, node_config={"min-clients": 2})
    spoil(grid)
    strategy = PaillierChainFedAvg(
        min_clients=2,
        keypair=keypair,
        seed=0,
        fraction_evaluate=0.0,
        min_train_nodes=2,
        min_available_nodes=2,
    )
    initial = np.zeros(
        (len(load_data(RunConfig(corpus="tsv", data_path=str(tiny_corpus))).vocabulary), 1)
    )
    result = strategy.start(
        grid, ArrayRecord([initial]), num_rounds=1, train_config=ConfigRecord(TRAIN)
    )
    errors = [m.error.code for m in grid.received if m.has_error()]
    return result, errors, initial


def contributors(result):
    return int(result.train_metrics_clientapp[1].get("contributors", 0))


def assert_dropped(tiny_corpus, node_log, spoil, *words):
    """After ``spoil``, one node is dropped as misconfigured and the round goes on with the
    other two; one line of the node's log holds each of ``words``."""
    result, errors, _ = secure_round(tiny_corpus, spoil)
    assert contributors(result) == 2 and errors == [CODE_NODE_MISCONFIGURED]
    assert any(all(word in r.message for word in words) for r in node_log.records)


def test_a_partition_id_out_of_range_drops_that_node_with_a_clear_error(tiny_corpus, node_log):
    def spoil(grid):
        grid.contexts[1003].node_config["partition-id"] = 7

    assert_dropped(
        tiny_corpus, node_log, spoil, "node 1003", "partition-id 7 is out of range", "0..2"
    )


def test_a_node_whose_data_folder_is_missing_is_dropped_with_the_path_named(
    tiny_corpus, tmp_path, node_log
):
    missing = tmp_path / "not-here.tsv"

    def spoil(grid):
        grid.contexts[1001].run_config["data-path"] = str(missing)

    assert_dropped(
        tiny_corpus, node_log, spoil, "node 1001", str(missing), "no such file or folder"
    )


def test_a_public_key_that_is_no_paillier_modulus_is_refused_by_every_client(tiny_corpus):
    _, real_private = KEYPAIR
    fake_public = paillier.PaillierPublicKey(real_private.public_key.n * 3)  # has the factor 3
    result, errors, initial = secure_round(
        tiny_corpus, lambda grid: None, keypair=(fake_public, real_private)
    )
    assert errors == [CODE_REFUSED] * 3
    assert result.arrays.to_numpy_ndarrays() == []  # skipped: the global model never changed
