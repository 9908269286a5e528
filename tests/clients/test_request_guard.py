"""What a client refuses before training: only the request decides, never its data."""

import numpy as np
import pytest

from clients.request_guard import (
    RunLedger,
    check_dp_budget,
    check_training_request,
    record_training,
)
from strategies.errors import ProtocolError
from strategies.privacy import epsilon_after

WEIGHTS = [np.zeros((5, 1))]
CONFIG = {"lr": 0.01, "batch-size": 500, "local-epochs": 1}


def test_one_training_per_round_and_rounds_only_increase():
    ledger = RunLedger(last_round=3)
    for server_round in (1, 3):
        with pytest.raises(ProtocolError, match="already trained round 3"):
            check_training_request(ledger, server_round, WEIGHTS, CONFIG)
    check_training_request(ledger, 4, WEIGHTS, CONFIG)


def test_a_model_is_trained_on_once_per_run():
    ledger = RunLedger()
    ledger.models.append(check_training_request(ledger, 1, WEIGHTS, CONFIG))
    with pytest.raises(ProtocolError, match="already trained on this model"):
        check_training_request(ledger, 2, WEIGHTS, CONFIG)
    check_training_request(ledger, 2, [WEIGHTS[0] + 1e-9], CONFIG)  # another model is fine


def test_the_same_model_in_disguise_is_the_same_model():
    ledger = RunLedger()
    ledger.models.append(check_training_request(ledger, 1, WEIGHTS, CONFIG))
    with pytest.raises(ProtocolError, match="already trained on this model"):
        check_training_request(ledger, 2, [-WEIGHTS[0]], CONFIG)  # -0.0 for 0.0


@pytest.mark.parametrize("key, value", [("lr", "0.01"), ("batch-size", 500.0), ("lr", True)])
def test_a_setting_of_the_wrong_kind_is_refused_not_converted(key, value):
    """``"0.01"`` for 0.01 or ``500.0`` for 500 would be the same model spelt otherwise."""
    with pytest.raises(ProtocolError, match=repr(key)):
        check_training_request(RunLedger(), 1, WEIGHTS, {**CONFIG, key: value})


def test_the_true_round_only_increases_so_no_rounds_shuffle_is_replayed():
    ledger = RunLedger(last_round=1, rounds_before=0)
    for rounds_before in (-1, -5):  # round 2 replaying round 1's shuffle, or any negative offset
        with pytest.raises(ProtocolError, match="rounds-before"):
            check_training_request(ledger, 2, WEIGHTS, {**CONFIG, "rounds-before": rounds_before})
    # A resumed run is a new run, with a new ledger: its round 1 after 3 rounds before.
    check_training_request(RunLedger(), 1, WEIGHTS, {**CONFIG, "rounds-before": 3})


@pytest.mark.parametrize("server_round, rounds_before", [(0, 0), (2**31, 0), (1, 2**31 - 1)])
def test_a_true_round_outside_32_bits_is_refused(server_round, rounds_before):
    """Review 5, F2: numpy takes seeds as 32-bit words, so round 2^32 + k under one seed
    would replay round k's shuffle under another."""
    with pytest.raises(ProtocolError, match="expected 1 to"):
        check_training_request(
            RunLedger(), server_round, WEIGHTS, {**CONFIG, "rounds-before": rounds_before}
        )


def test_rounds_before_never_changes_within_a_run_so_no_server_round_comes_twice():
    """Masks, envelopes and the round state are bound to server-round: server-round 1 again,
    as true round 2 (rounds-before 1), would let a server reuse a client's round-1 envelope
    and correction to decrypt its update alone (review finding F1)."""
    ledger = RunLedger()
    record_training(ledger, 1, CONFIG, check_training_request(ledger, 1, WEIGHTS, CONFIG))
    assert (ledger.last_round, ledger.rounds_before) == (1, 0)
    with pytest.raises(ProtocolError, match="rounds-before = 1: this run's is 0"):
        check_training_request(ledger, 1, [WEIGHTS[0] + 1], {**CONFIG, "rounds-before": 1})
    check_training_request(ledger, 2, [WEIGHTS[0] + 1], CONFIG)


@pytest.mark.parametrize("missing", ["lr", "local-epochs", "batch-size"])
def test_a_request_names_every_training_setting(missing):
    """Review findings F2 and F7, and issue 21: a setting left out would be filled in by each
    client with its own default, which could differ between clients and escape the bounds;
    every setting shapes the update and is bound into the round's parameters, so a request
    without one is refused."""
    without = {k: v for k, v in CONFIG.items() if k != missing}
    with pytest.raises(ProtocolError, match=f"'{missing}' is missing"):
        check_training_request(RunLedger(), 1, WEIGHTS, without)


@pytest.mark.parametrize(
    "weights, config",
    [
        ([np.full((5, 1), np.nan)], CONFIG),
        ([np.full((5, 1), 1e300)], CONFIG),
        (
            WEIGHTS,
            {**CONFIG, "lr": 1.7e308},
        ),  # overflow on one crafted e-mail: a one-bit oracle per request
        (WEIGHTS, {**CONFIG, "lr": -1.0}),
        (WEIGHTS, {**CONFIG, "local-epochs": 10**6}),
    ],
)
def test_requests_that_could_only_serve_an_oracle_are_refused_whatever_the_data(weights, config):
    with pytest.raises(ProtocolError):
        check_training_request(RunLedger(), 1, weights, config)


def test_a_client_keeps_its_own_dp_budget():
    ledger = RunLedger(dp_spent=[2.0, 2.0])
    budget = epsilon_after(2.0, 3, 1e-5)
    check_dp_budget(ledger, 2.0, budget, 1e-5)
    with pytest.raises(ProtocolError, match="beyond its budget"):
        check_dp_budget(RunLedger(dp_spent=[2.0, 2.0, 2.0]), 2.0, budget, 1e-5)
    check_dp_budget(RunLedger(dp_spent=[2.0] * 50), 2.0, 0.0, 1e-5)  # 0: no budget set
