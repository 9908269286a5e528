"""A deviating server replays a round number (review finding F1): round 1, then "round 1"
again as true round 2 (``rounds-before`` 1) to everyone but Bob, with Bob's old envelope
and correction. Refused; with the check off, the envelopes bound to round 1's parameters
(issue 21) still do not open for a round with another model; with both off, it decrypts
Bob's update alone."""

import shutil

import pytest

from clients import request_guard
from fl_app.attack import BOB_NODE, Federation, Scenario, _federation
from fl_app.attack_arena import reply_bytes
from fl_app.config import RunConfig
from strategies import wire
from strategies.codec import HEADER_SLOTS, unpack
from strategies.errors import CODE_BAD_ENVELOPE, CODE_REFUSED
from strategies.round_params import RoundParams

BOB = "w3 w8 w14 w22 w31"


@pytest.fixture
def fed(tiny_corpus):
    cfg = RunConfig.from_mapping(
        {
            "corpus": "tsv",
            "data-path": str(tiny_corpus),
            "num-clients": 3,
            "min-clients": 3,
            "preset": "book",
            "lr": 0.05,
        }
    )
    return Federation(Scenario(cfg, bob_email=BOB))


def replay_round(fed, workdir):
    """The attack; returns the other nodes' replies to the replayed training (and Sue's reply
    to the hop with Bob's old envelope, if she refused it), and the words whose weights the
    decrypted total moved (``None`` when the replay was refused)."""
    shutil.rmtree(workdir, ignore_errors=True)
    arena = fed.arena(_federation(workdir, fed.node_config))  # the authenticated roster
    roster, _ = arena.train(1, fed.weights, fed.train_config)
    alice, sue = [n for n in arena.nodes if n != BOB_NODE]
    everyone = [BOB_NODE, sue, alice]
    e_bob = reply_bytes(arena.hop(BOB_NODE, 1, roster, next_id=sue), wire.ENVELOPE)
    c_bob = arena.correction_of(arena.unmask(BOB_NODE, 1, roster, everyone))
    # "Round 1" again, true round 2, with a learning rate that moves nothing (a new model).
    again = {**fed.train_config, "lr": 5e-324, "rounds-before": 1}
    arena.train(1, fed.weights, again, nodes=[sue, alice])
    replies = arena.messages[-2:]
    if any(r.has_error() for r in replies):
        return replies, None
    sue_hop = arena.hop(
        sue, 1, roster, e_bob, in_step=1, out_step=2, next_id=alice, sender=BOB_NODE
    )
    if sue_hop.has_error():
        return [*replies, sue_hop], None
    root = arena.hop(
        alice,
        1,
        roster,
        reply_bytes(sue_hop, wire.ENVELOPE),
        in_step=2,
        out_step=3,
        next_id=0,
        survivors=everyone,
        sender=sue,
    )
    c_sue = arena.correction_of(arena.unmask(sue, 1, roster, everyone))
    plain = arena.decrypt(arena.total_of(root), c_bob, c_sue, arena.correction_of(root))
    codec = arena.round_state.codec
    slots = unpack(plain, codec)
    examples = slots[1]
    weights = slots[HEADER_SLOTS : HEADER_SLOTS + codec.num_weights]
    moved = [
        fed.data.vocabulary.words[i] for i, v in enumerate(weights) if v != examples * codec.q_max
    ]
    return replies, sorted(moved)


def test_a_replayed_round_number_is_refused_by_every_client(fed, tmp_path):
    replies, recovered = replay_round(fed, tmp_path / "fed")
    assert recovered is None
    assert [r.error.code for r in replies] == [CODE_REFUSED, CODE_REFUSED]


@pytest.fixture
def rounds_before_check_off(monkeypatch):
    real = request_guard.record_training

    def forgetful(ledger, server_round, config, digest, params=None):
        real(ledger, server_round, config, digest, params)
        ledger.rounds_before = -1

    monkeypatch.setattr("fl_app.client_app.record_training", forgetful)


def test_without_the_check_the_parameter_binding_still_stops_the_replay(
    fed, tmp_path, rounds_before_check_off
):
    """Bob's round-1 envelope is bound to round 1's model: Sue, given another, cannot open it."""
    replies, recovered = replay_round(fed, tmp_path / "fed")
    # The replayed training was not refused; Bob's old envelope did not open for Sue.
    assert [r.error.code if r.has_error() else 0 for r in replies] == [0, 0, CODE_BAD_ENVELOPE]
    assert recovered is None


def test_twin_without_the_check_and_the_binding_the_replay_decrypts_bobs_update_alone(
    fed, tmp_path, rounds_before_check_off, monkeypatch
):
    monkeypatch.setattr(RoundParams, "digest", lambda self: bytes(32))
    _, recovered = replay_round(fed, tmp_path / "fed")
    assert recovered == sorted(BOB.split())
