"""A node's own floors, from its node config: what no server request can lower."""

from typing import NamedTuple

import numpy as np
import pytest
from flwr.serverapp.strategy import FedAvg

from fl_app.attack import _federation
from fl_app.client_app import app as client_app
from fl_app.config import RunConfig
from fl_app.dataset import load_data
from fl_app.local_grid import LocalGrid, run_strategy
from strategies.chain import PaillierChainFedAvg
from strategies.errors import CODE_NODE_MISCONFIGURED, CODE_REFUSED
from strategies.keys import generate_keypair
from strategies.privacy import DpSettings

KEYPAIR = generate_keypair()
TRAIN = {"lr": 0.05, "batch-size": 16, "local-epochs": 1}


class Run(NamedTuple):
    weights: np.ndarray  # the final model
    codes: list[int]  # the error codes of the replies
    initial: np.ndarray
    grid: LocalGrid


def zero_weights(data_path: str) -> np.ndarray:
    """The zero model of a run over the label-TAB-text corpus at ``data_path``."""
    return np.zeros((len(load_data(RunConfig(corpus="tsv", data_path=data_path)).vocabulary), 1))


def run(tiny_run_config, strategy, node_config, train=TRAIN, rounds=1) -> Run:
    """``rounds`` of ``strategy`` over the 3 nodes of ``tiny_run_config``, from zero weights."""
    initial = zero_weights(tiny_run_config["data-path"])
    arrays, grid = run_strategy(
        strategy,
        client_app,
        3,
        dict(tiny_run_config),
        [initial],
        train,
        rounds=rounds,
        node_config=node_config,
        plain=not isinstance(strategy, PaillierChainFedAvg),  # the node allows plain rounds
    )
    return Run(arrays[0], [m.error.code for m in grid.received if m.has_error()], initial, grid)


def secure(**kwargs):
    return PaillierChainFedAvg(
        min_clients=3, keypair=KEYPAIR, min_train_nodes=3, min_available_nodes=3, **kwargs
    )


def dp_run(tiny_run_config, dp, node_config, rounds=1) -> Run:
    """``run`` of secure rounds whose clients train with the client-level DP of ``dp``."""
    strategy = secure(clip=dp.value_bound, one_example_each=True)
    return run(tiny_run_config, strategy, node_config, {**TRAIN, **dp.train_config()}, rounds)


def test_nodes_with_an_authenticated_roster_refuse_plain_rounds_and_join_secure_ones(
    tiny_run_config, tmp_path
):
    nodes = _federation(tmp_path, {})
    plain = FedAvg(fraction_evaluate=0.0, min_train_nodes=3, min_available_nodes=3)
    assert run(tiny_run_config, plain, nodes).codes == [CODE_REFUSED] * 3
    weights, codes, initial, _ = run(tiny_run_config, secure(), nodes)
    assert codes == [] and not np.array_equal(weights, initial)


def test_a_dp_floor_refuses_rounds_without_dp_or_with_less_noise(tiny_run_config):
    floor = {"dp-min-noise-multiplier": 1.0}
    assert run(tiny_run_config, secure(), floor).codes == [CODE_REFUSED] * 3
    weak = DpSettings(0.5, 0.5, 3)
    assert dp_run(tiny_run_config, weak, floor).codes == [CODE_REFUSED] * 3
    enough = DpSettings(0.5, 1.0, 3)
    weights, codes, initial, _ = dp_run(tiny_run_config, enough, floor)
    assert codes == [] and not np.array_equal(weights, initial)


@pytest.mark.parametrize(
    "node_config",
    [
        {"min-clients": 1},
        {"member": "alice"},  # an identity needs the federation file and key too
        {
            "federation-file": "/nonexistent/federation.toml",
            "member": "a",
            "identity-key": "/nonexistent/key",
        },
    ],
)
def test_an_unusable_node_config_is_reported_as_misconfigured(tiny_run_config, node_config):
    assert run(tiny_run_config, secure(), node_config).codes == [CODE_NODE_MISCONFIGURED] * 3


def test_a_node_with_a_dp_budget_stops_contributing_when_it_is_spent(tiny_run_config):
    dp = DpSettings(0.5, 2.0, 3)
    budget = {"dp-max-epsilon": 8.0}  # 2 rounds at z = 2 fit (epsilon 6.7), 3 do not (8.4)
    outcome = dp_run(tiny_run_config, dp, budget, rounds=3)
    assert sorted(outcome.grid.result.train_metrics_clientapp) == [1, 2]
    assert outcome.codes == [CODE_REFUSED] * 3


def test_a_node_that_distrusts_the_server_reports_no_evaluation_metrics(tiny_run_config):
    plain = FedAvg(
        fraction_evaluate=1.0, min_train_nodes=3, min_available_nodes=3, min_evaluate_nodes=3
    )
    codes = run(tiny_run_config, plain, {"dp-min-noise-multiplier": 1.0}).codes
    assert codes == [CODE_REFUSED] * 6  # three training and three evaluation requests


def test_a_node_that_pins_its_data_cannot_be_pointed_at_another_file(tiny_corpus, tmp_path):
    # A file on the mail owner's machine the server should never see into, and the
    # server's guess of its content: the vocabulary that makes the update readable.
    secret = tmp_path / "secret.tsv"
    secret.write_text("spam\tmy password is hunter2\nham\tlunch at noon\n" * 3)
    vocabulary = load_data(RunConfig(corpus="tsv", data_path=str(secret))).vocabulary
    plain = FedAvg(fraction_evaluate=0.0, min_train_nodes=3, min_available_nodes=3)
    run_config = {"corpus": "tsv", "data-path": str(secret), "num-clients": 3, "partitioner": "iid"}
    initial = [np.zeros((len(vocabulary), 1))]

    def words_read(node_config):
        arrays, grid = run_strategy(
            plain, client_app, 3, run_config, initial, TRAIN, node_config=node_config, plain=True
        )
        changed = {vocabulary.words[i] for i in np.flatnonzero(arrays[0][:, 0])}
        return changed, [m.error.code for m in grid.received if m.has_error()]

    # Without a pin the node trains on whatever the run names: the server reads the file's words.
    changed, codes = words_read({})
    assert codes == [] and "hunter2" in changed
    # With its own data pinned, every node refuses, and nothing is read.
    changed, codes = words_read({"corpus": "tsv", "data-path": str(tiny_corpus)})
    assert codes == [CODE_REFUSED] * 3 and not changed
    # The pin does not stop the run it names.
    own = {**run_config, "data-path": str(tiny_corpus)}
    _, grid = run_strategy(
        plain,
        client_app,
        3,
        own,
        [zero_weights(str(tiny_corpus))],
        TRAIN,
        node_config={"corpus": "tsv", "data-path": str(tiny_corpus)},
        plain=True,
    )
    assert not any(m.has_error() for m in grid.received)
