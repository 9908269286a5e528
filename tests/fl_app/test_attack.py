"""Every attack on Bob's update, run as the server and colluders would, and its twin with the
defence off.

Each attack must recover nothing from the hardened protocol; each twin shows
the same attack does recover Bob's e-mail when its defence is switched off
(masks, the clients' checks, the authenticated roster, the server's DP
check) or under plain FedAvg, so no test here can pass for lack of trying.
"""

import logging

import numpy as np
import pytest

from clients import params_guard, secure_chain
from fl_app import attack
from fl_app.attack import Federation, Scenario, run_attack
from fl_app.attack_arena import Arena
from fl_app.cli import ATTACK_LINES, main
from fl_app.client_app import build_client_app
from fl_app.config import RunConfig
from fl_app.dataset import load_data, make_client
from strategies import masks
from strategies.codec import decode
from strategies.errors import CODE_BAD_ENVELOPE, CODE_CLIENT_FAILED, CODE_REFUSED, REASONS
from strategies.privacy import DpSettings
from strategies.round_params import RoundParams

BOB = "w3 w8 w14 w22 w31"


@pytest.fixture(scope="module")
def scenario(tiny_run_config):
    """Bob's e-mail among 3 clients of the tiny corpus, every one needed, the book's recipe."""
    cfg = RunConfig.from_mapping(
        {**tiny_run_config, "min-clients": 3, "preset": "book", "lr": 0.05}
    )
    return Scenario(cfg, bob_email=BOB)


@pytest.fixture(scope="module")
def fed(scenario):
    return Federation(scenario)


@pytest.fixture
def masks_off(monkeypatch):
    monkeypatch.setattr(masks, "mask", lambda seed, pairs, me, n, count: [0] * count)
    monkeypatch.setattr(masks, "correction", lambda seed, pairs, me, dropped, n, count: [0] * count)


@pytest.fixture
def checks_off(monkeypatch, masks_off):
    monkeypatch.setattr(secure_chain, "_require", lambda ok, problem: None)


BOB_WORDS = sorted(BOB.split())
TRAIN = {"lr": 0.05, "batch-size": 16, "local-epochs": 1}


def test_plain_fedavg_is_the_baseline_that_leaks(fed):
    assert attack.attack_plain(fed)["recovered"] == BOB_WORDS


def test_the_loss_gives_bobs_last_word_under_plain_fedavg_and_nothing_under_the_secure_round(fed):
    assert attack.attack_metrics(fed, secure=False)["recovered"] == ["w31"]
    result = attack.attack_metrics(fed)
    assert (
        result["recovered"] == [] and result["numbers_tried"] > 0
    )  # it tried the round's aggregates


def test_error_replies_carry_a_code_only_while_the_detail_stays_in_the_client_log(fed, caplog):
    arena = fed.arena()
    arena.train(1, fed.weights, fed.train_config)
    with caplog.at_level(logging.WARNING, logger="fl_app.client_app"):
        arena.train(1, fed.weights, fed.train_config)  # the same round again
    errors = [m.error for m in arena.messages if m.has_error()]
    assert [(e.code, e.reason) for e in errors] == [(CODE_REFUSED, REASONS[CODE_REFUSED])] * 3
    assert "already trained round 1" in caplog.text  # the detail, locally


# An attack, what the clients refuse of it, and the fixture that switches its defence off.
REFUSED_ATTACKS = {
    # A late reply gives no second total; without the clients' checks and masks, Bob.
    "late-reply": (attack.attack_late_reply, ["reseal-as-total"], "checks_off"),
    # A deviating server is refused every request; without the clients' checks it gets Bob.
    "deviating-server": (
        attack.attack_deviating,
        ["chain-of-one", "seal-for-himself", "second-pass"],
        "checks_off",
    ),
    # A colluder's view of Bob is noise; with the masks off it reads him.
    "colluder": (attack.attack_colluder, ["restart-after-blame"], "masks_off"),
    # A round trained twice is refused; without the ledger it gives Bob by difference.
    "retrain": (attack.attack_retrain, ["train-round-again"], "ledger_off"),
}


@pytest.mark.parametrize("case", list(REFUSED_ATTACKS))
def test_an_attack_is_refused_and_gets_bob_with_its_defence_off(fed, request, case):
    run, refused, defence_off = REFUSED_ATTACKS[case]
    result = run(fed)
    assert result["recovered"] == [] and result["refused"] == refused
    request.getfixturevalue(defence_off)
    assert run(fed)["recovered"] == BOB_WORDS


def test_sybils_are_refused_by_an_authenticated_roster_and_read_bob_without_one(fed, tmp_path):
    authenticated = attack.attack_sybil(fed, authenticated=True, workdir=tmp_path)
    assert authenticated["recovered"] == [] and authenticated["refused"]
    assert attack.attack_sybil(fed, authenticated=False, workdir=tmp_path)["recovered"] == BOB_WORDS


def test_a_dp_client_claiming_many_emails_is_refused_and_would_otherwise_take_the_mean(fed):
    assert attack.attack_dp_claim(fed)["accepted"] is False
    unchecked = attack.attack_dp_claim(fed, check=False)
    assert unchecked["accepted"] is True and unchecked["contributors"] == 3


def test_the_demo_has_one_column_per_attack_and_each_recovers_nothing(scenario):
    result = run_attack(scenario=scenario)
    assert result["plain"]["recovered"] == BOB_WORDS
    columns = [
        "metrics",
        "late_reply",
        "deviating_server",
        "retrain_difference",
        "count_oracle",
        "codec_split",
        "dp_shrink",
        "range_oracle",
        "colluder",
        "dp_example_claim",
        "sybil",
        "paillier",
        "paillier_dp",
    ]
    assert {c: result[c]["recovered"] for c in columns} == {c: [] for c in columns}
    assert all(ATTACK_LINES[c].format(**result[c]) for c in columns)  # what fl-spam attack prints
    assert result["sybil"]["without_authenticated_roster"] == BOB_WORDS
    assert result["paillier_dp"]["epsilon"] <= 8.0


def test_small_keys_are_refused_on_the_command_line(capsys):
    assert main(["attack", "--key-bits", "512", "--json"]) == 2
    assert "minimum is 2048" in capsys.readouterr().out


@pytest.fixture
def ledger_off(monkeypatch, checks_off):
    from clients.request_guard import RunLedger
    from fl_app import client_app

    monkeypatch.setattr(client_app, "_ledger", lambda context: RunLedger())


def test_bisecting_max_examples_gets_no_refusal_to_count_on(fed):
    result = attack.attack_count_oracle(fed)
    assert result["recovered"] == [] and result["refusals"] == 0 and result["requests"] > 10


def test_bisecting_max_examples_finds_the_count_when_clients_refuse_on_their_data(fed, monkeypatch):
    from strategies import codec
    from strategies.errors import ContributionError

    encode = codec.encode

    def refusing(delta, num_examples, params, *args, **kwargs):
        if num_examples > params.max_examples:
            raise ContributionError("too many e-mails")
        return encode(delta, num_examples, params, *args, **kwargs)

    monkeypatch.setattr("clients.secure_chain.encode", refusing)
    node_data = fed.client_for(fed.arena().grid.contexts[fed.arena().nodes[2]])
    assert attack.attack_count_oracle(fed)["recovered"] == [
        f"node {1003}: {len(node_data.train)} e-mails"
    ]


def test_a_chain_request_whose_envelopes_steps_and_senders_disagree_is_refused():
    from types import SimpleNamespace

    from flwr.app import ConfigRecord

    from fl_app.client_app import _hop
    from strategies import wire
    from strategies.errors import ProtocolError

    fields = {
        wire.ROUND: 1,
        wire.ACTION: wire.ADD,
        wire.ROSTER: b"",
        wire.ENVELOPES: [b"x", b"y"],
        wire.IN_STEPS: [1, 2],
        wire.SENDERS: [5],
        wire.OUT_STEP: 3,
        wire.NEXT: 0,
    }
    with pytest.raises(ProtocolError, match="2 envelopes with 2 steps and 1 senders"):
        _hop(SimpleNamespace(content={wire.RECORD: ConfigRecord(fields)}))


# ------------------------------------------- issue 21: one parameter set per round
@pytest.fixture
def binding_off(monkeypatch):
    """Every client's parameter digest the same, whatever its parameters: envelopes and
    masks no longer bind them."""
    monkeypatch.setattr(RoundParams, "digest", lambda self: bytes(32))


@pytest.fixture
def params_checks_off(monkeypatch):
    """The client takes whatever parameters the server sends."""
    monkeypatch.setattr(params_guard, "_require", lambda ok, problem: None)


def test_a_codec_split_fails_at_the_first_envelope_and_reads_bob_without_the_binding(fed, request):
    result = attack.attack_codec_split(fed)
    assert result["recovered"] == [] and result["rejected_envelopes"] == 1
    request.getfixturevalue("binding_off")
    assert attack.attack_codec_split(fed)["recovered"] == BOB_WORDS


def test_dp_shrinking_fails_and_without_the_binding_leaves_bob_under_his_own_share(fed, request):
    result = attack.attack_dp_shrink(fed)
    assert result["recovered"] == [] and result["rejected_envelopes"] == 1
    assert "noise_std" not in result  # nothing was decrypted
    request.getfixturevalue("binding_off")
    twin = attack.attack_dp_shrink(fed)
    # m = 3 shares, only Bob's left: std z C / sqrt(3), far below the promised z C.
    assert twin["recovered"] and twin["noise_std"] < 0.8 * twin["promised_noise_std"]


def test_a_range_oracle_gets_one_answer_for_all_and_without_the_checks_bisects_the_count(
    fed, request
):
    result = attack.attack_range_oracle(fed)
    assert result["recovered"] == [] and result["refusals"] == result["requests"] >= 10
    request.getfixturevalue("params_checks_off")
    sue = fed.arena().nodes[2]
    count = len(fed.client_for(fed.arena().grid.contexts[sue]).train)
    assert attack.attack_range_oracle(fed)["recovered"] == [f"node {sue}: {count} e-mails"]


DP = DpSettings(0.5, 2.0, 3)


@pytest.mark.parametrize(
    "settings",
    [
        [DP, DpSettings(0.5, 1.0, 3), DpSettings(0.5, 4.0, 3)],  # noise multipliers
        [DP, DpSettings(0.25, 2.0, 3), DpSettings(1.0, 2.0, 3)],  # dp-clips
        [DP, DpSettings(0.5, 2.0, 2), DpSettings(0.5, 2.0, 4)],  # shares sized for other m
    ],
    ids=["noise-multiplier", "dp-clip", "shares"],
)
def test_a_round_whose_clients_got_different_dp_settings_is_never_decrypted(fed, settings):
    """Whatever the server sends, the noise on a decrypted sum is that of one DP setting that
    every contributor checked against its floors: clients given different settings fail at
    the first envelope between them."""
    arena = fed.arena()
    clip = max(dp.value_bound for dp in settings)  # a codec clip every client accepts
    split = {node: ({}, dp.train_config()) for node, dp in zip(arena.nodes, settings, strict=True)}
    config = {**fed.train_config, **DP.train_config()}
    roster, _ = arena.train(1, fed.weights, config, clip=clip, split=split)
    assert len(roster) == 3  # every client accepted its own settings
    assert arena.unmasked_total(1, roster, arena.nodes) is None
    assert [m.error.code for m in arena.messages if m.has_error()] == [CODE_BAD_ENVELOPE]


def run_config_split(tiny_run_config, keypair, key, value):
    """One round over the real ClientApp in which every node but the first reads ``key =
    value`` in its run-config, which a server may serve each node differently: the decrypted
    sum (``None`` if the round was refused), and the first node's client."""
    run_config = {**tiny_run_config, "min-clients": 3}  # the default recipe: a bias
    cfg = RunConfig.from_mapping(run_config)
    data = load_data(cfg)
    arena = Arena.create(build_client_app(), 3, run_config, keypair, data)
    for node in arena.nodes[1:]:
        arena.grid.contexts[node].run_config[key] = value
    roster, _ = arena.train(1, np.zeros((len(data.vocabulary), 1)), TRAIN)
    total = arena.unmasked_total(1, roster, arena.nodes)
    assert arena.round_state is not None
    summed = None if total is None else decode(total, 3, arena.round_state.codec)
    return summed, make_client(cfg, 0)


def test_a_recipe_split_through_the_run_config_fails_and_reads_one_bias_without_the_binding(
    tiny_run_config, fed, request
):
    """The others train no bias: the decrypted bias is the first node's alone (the mean error
    of its e-mails, so its class balance)."""
    assert run_config_split(tiny_run_config, fed.keypair, "bias", False)[0] is None
    request.getfixturevalue("binding_off")
    summed, first = run_config_split(tiny_run_config, fed.keypair, "bias", False)
    zeros = np.zeros((summed.mean_delta.size, 1))  # the round's global model
    new, examples, _ = first.fit([zeros], {**TRAIN, "server-round": 1})
    expected = examples * new[0][0, 0]
    assert expected != 0 and summed.mean_delta[0] * summed.examples == pytest.approx(
        expected, abs=1e-4
    )


def test_a_shard_split_through_the_run_config_fails_and_reads_a_count_without_the_binding(
    tiny_run_config, fed, request
):
    """Review 4, F1: the run-config also chooses a node's shard. The others get ``num-clients``
    = the training set's size, so a shard of one e-mail each: the decrypted example count is
    the first node's e-mail count plus 2."""
    train = len(load_data(RunConfig.from_mapping(dict(tiny_run_config))).train)
    assert run_config_split(tiny_run_config, fed.keypair, "num-clients", train)[0] is None
    request.getfixturevalue("binding_off")
    summed, first = run_config_split(tiny_run_config, fed.keypair, "num-clients", train)
    assert summed.examples - 2 == len(first.train)


def test_a_request_that_fails_after_the_checks_uses_up_its_round(fed):
    """Review 4, F3: the round is recorded before the data is loaded, so a request that fails
    in training (here a model one row longer than the vocabulary) cannot be sent again to
    time the training once more, or probe the vocabulary's size again."""
    arena = fed.arena()
    too_long = np.zeros((fed.weights.shape[0] + 1, 1))
    for _ in range(3):
        arena.train(1, too_long, fed.train_config, nodes=[arena.nodes[2]])
    assert [m.error.code for m in arena.messages] == [CODE_CLIENT_FAILED] + [CODE_REFUSED] * 2


def test_the_same_model_under_a_run_config_that_trains_alike_is_the_same_model(fed):
    """Review 5, F2: only what shapes training tells two models apart; a server that changes
    its own keys (here round-timeout) between rounds does not get the same model trained
    twice, and so no two sums that differ by one client."""
    arena = fed.arena()
    arena.train(1, fed.weights, fed.train_config)
    for context in arena.grid.contexts.values():
        context.run_config["round-timeout"] = 601.0
    arena.train(2, fed.weights, fed.train_config)
    assert [m.error.code for m in arena.messages if m.has_error()] == [CODE_REFUSED] * 3
