"""What a client checks of a round's public parameters before it touches its data (issue 21)."""

import numpy as np
import pytest

from clients.node_policy import ClientPolicy
from clients.params_guard import check_round_params, read_round_params
from clients.request_guard import RunLedger, record_training
from strategies.codec import CodecParams
from strategies.errors import ProtocolError
from strategies.keys import generate_keypair, n_to_bytes
from strategies.privacy import DpSettings, epsilon_after
from strategies.round_params import RoundParams

N = generate_keypair()[0].n
WEIGHTS = 100
DP = DpSettings(clip=0.5, noise_multiplier=2.0, min_clients=3)


def params(dp=DP, key_bits=2048, weights=WEIGHTS, clip=None, max_examples=16_000, model=b"m"):
    clip = clip if clip is not None else (dp.value_bound if dp else 8.0)
    return RoundParams(N, CodecParams(key_bits, weights, clip, max_examples), dp, model)


def check(p, policy=None, ledger=None, weights=WEIGHTS):
    check_round_params(p, weights, policy or ClientPolicy(), ledger or RunLedger())


def test_a_set_within_the_nodes_bounds_passes():
    check(params())
    check(params(dp=None))
    policy = ClientPolicy(min_noise_multiplier=2.0, dp_min_noise_std=1.0, dp_min_share_std=0.5)
    check(params(), policy)


REFUSED = {
    # the range oracle: a codec for a bigger key puts a top slot across n
    "key bits above the key's": (params(key_bits=2100), ClientPolicy(), "key-bits = 2100"),
    "key bits below the key's": (params(key_bits=1024), ClientPolicy(), "key-bits = 1024"),
    "another model size": (params(weights=99), ClientPolicy(), "num-weights = 99"),
    "clip beyond the node's": (params(dp=None, clip=9.0), ClientPolicy(max_clip=8.0), "clip 9"),
    "max-examples beyond the node's": (
        params(dp=None, max_examples=16_001),
        ClientPolicy(max_examples=16_000),
        "max-examples 16001",
    ),
    "noise multiplier below the floor": (
        params(),
        ClientPolicy(min_noise_multiplier=2.5),
        "below this node's floor",
    ),
    # DP shrinking: a tiny dp-clip shrinks the update and the noise share
    "dp-clip below the node's range": (
        params(dp=DpSettings(0.05, 2.0, 3)),
        ClientPolicy(dp_min_clip=0.1),
        "dp-clip 0.05",
    ),
    # Review 4, F2: shares of a fraction of a grid step round to 0 and add no noise ...
    "noise shares below two grid steps": (
        params(dp=DpSettings(2.0**-19, 1.0, 30), clip=8.0),
        ClientPolicy(),
        "steps of the codec's grid",
    ),
    # ... and a dp-clip near the grid lets rounding, not the clip, bound the update
    "a dp-clip within the rounding slack": (
        params(dp=DpSettings(2.0**-19 * 4, 100.0, 3), clip=8.0),
        ClientPolicy(),
        "within twice what rounding",
    ),
    "dp-clip above the node's range": (
        params(dp=DpSettings(5.0, 2.0, 3)),
        ClientPolicy(dp_max_clip=1.0),
        "dp-clip 5.0",
    ),
    "noise on the sum below the node's floor": (
        params(),
        ClientPolicy(dp_min_noise_std=1.5),
        "noise std 1 on the sum",
    ),
    "its own share below the node's floor": (
        params(dp=DpSettings(0.5, 2.0, 12)),  # m = 12: a share of std 0.29
        ClientPolicy(dp_min_share_std=0.5),
        "noise share std 0.2887",
    ),
    "a codec clip that would cut the noise": (
        params(clip=0.6),
        ClientPolicy(),
        "would be clipped",
    ),
    "no DP where the node requires it": (
        params(dp=None),
        ClientPolicy(dp_min_noise_std=1.0),
        "requires differential privacy",
    ),
    "a demo key": (
        RoundParams(generate_keypair(512, insecure_demo_key=True)[0].n, CodecParams(512, WEIGHTS)),
        ClientPolicy(),
        "minimum is 2048",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_set_beyond_the_nodes_bounds_is_refused(case):
    p, policy, reason = REFUSED[case]
    with pytest.raises(ProtocolError, match=reason):
        check(p, policy)


def test_the_parameters_are_fixed_for_the_run():
    ledger = RunLedger()
    first = params(model=b"round 1")
    check(first, ledger=ledger)
    record_training(ledger, 1, {}, b"digest", first)
    check(params(model=b"round 2"), ledger=ledger)  # the model changes every round
    with pytest.raises(ProtocolError, match="differ from those this run started with"):
        check(params(dp=DpSettings(0.5, 2.0 + 1e-9, 3), model=b"round 2"), ledger=ledger)


def test_the_budget_counts_the_rounds_recorded():
    budget = epsilon_after(2.0, 2, 1e-5)
    policy = ClientPolicy(max_epsilon=budget)
    ledger = RunLedger()
    for server_round in (1, 2):
        check(params(), policy, ledger)
        record_training(ledger, server_round, {}, bytes([server_round]), params())
    assert ledger.dp_spent == [2.0, 2.0]
    with pytest.raises(ProtocolError, match="beyond its budget"):
        check(params(), policy, ledger)


PAILLIER = {"n": n_to_bytes(N), **CodecParams(2048, WEIGHTS).to_config()}
CONFIG = {"lr": 0.1, "local-epochs": 1, "batch-size": 8, **DP.train_config()}
MODEL = [np.zeros((WEIGHTS, 1))]


def test_the_request_is_read_into_one_parameter_set():
    read = read_round_params(PAILLIER, CONFIG, MODEL)
    assert (read.n, read.codec, read.dp) == (N, CodecParams(2048, WEIGHTS), DP)
    assert read_round_params(PAILLIER, {**CONFIG, "dp-clip": 0.0}, MODEL).dp is None


@pytest.mark.parametrize(
    "record, key, value",
    [
        ("paillier", "n", N),  # an int, not the modulus's bytes
        ("paillier", "clip", "8.0"),
        ("config", "dp-clip", "0.5"),
        ("config", "dp-min-clients", 3.0),
        ("config", "dp-noise-multiplier", True),
    ],
)
def test_a_value_of_the_wrong_kind_is_refused_not_converted(record, key, value):
    paillier = {**PAILLIER, key: value} if record == "paillier" else PAILLIER
    config = {**CONFIG, key: value} if record == "config" else CONFIG
    with pytest.raises(ProtocolError, match=key):
        read_round_params(paillier, config, MODEL)
