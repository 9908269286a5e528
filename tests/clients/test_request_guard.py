"""What a client refuses before training: only the request decides, never its data."""

import numpy as np
import pytest

from clients.request_guard import RunLedger, check_dp_budget, check_training_request
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
    ledger = RunLedger(last_round=1)
    for rounds_before in (-1, -5):  # round 2 replaying round 1's shuffle, or any negative offset
        with pytest.raises(ProtocolError, match="already trained"):
            check_training_request(ledger, 2, WEIGHTS, {**CONFIG, "rounds-before": rounds_before})
    check_training_request(
        ledger, 1, WEIGHTS, {**CONFIG, "rounds-before": 3}
    )  # a resumed run's round 1


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
