"""The secure round end to end, in-process, through the real ClientApp.

Every test runs the real strategy against the real ClientApp handlers over
``LocalGrid`` (no Ray) on a tiny label-TAB-text corpus written here, so a
round takes a fraction of a second even with 2048-bit keys.
"""

import logging

import numpy as np
import pytest
from flwr.serverapp.strategy import FedAvg

from clients import secure_chain
from clients.spam_client import SpamClient
from fl_app.client_app import ROUND_STATE, spam_client
from fl_app.client_app import app as client_app
from fl_app.config import RunConfig
from fl_app.dataset import load_data
from fl_app.local_grid import LocalGrid, run_strategy
from strategies import paillier_math, tree_walk, wire
from strategies.bounded import BoundedFedAvg
from strategies.chain import PaillierChainFedAvg
from strategies.codec import FRAC_BITS, LOSS_BOUND
from strategies.errors import CODE_BAD_ENVELOPE, InsecureKeyError
from strategies.keys import generate_keypair
from strategies.parallel import WORKERS

TRAIN = {"lr": 0.05, "batch-size": 16, "local-epochs": 1}
KEYPAIR = generate_keypair(2048)
# The codec's worst-case quantisation error on the mean, plus float64 rounding.
BOUND = 2.0 ** -(FRAC_BITS + 1) + 1e-12


@pytest.fixture
def corpus(tiny_corpus):
    return tiny_corpus


def run_config(corpus, clients):
    # a hundred clients share 192 training e-mails: one or two each
    partitioner = (
        {"partitioner": "iid"}
        if clients > 20
        else {"partitioner": "dirichlet", "dirichlet-alpha": 1.0}
    )
    return {
        "corpus": "tsv",
        "data-path": str(corpus),
        "num-clients": clients,
        "min-clients": 2,
        **partitioner,
    }


def initial(corpus):
    return np.zeros((len(load_data(RunConfig(corpus="tsv", data_path=str(corpus))).vocabulary), 1))


def secure(clients, min_clients=2, **kwargs):
    return PaillierChainFedAvg(
        min_clients=min_clients,
        keypair=KEYPAIR,
        seed=kwargs.pop("seed", 0),
        min_train_nodes=clients,
        min_available_nodes=clients,
        **kwargs,
    )


def plain(clients):
    return FedAvg(fraction_evaluate=0.0, min_train_nodes=clients, min_available_nodes=clients)


def run(strategy, corpus, clients, intercept=None, rounds=1, floor=2, **node_config):
    arrays, grid = run_strategy(
        strategy,
        client_app,
        clients,
        run_config(corpus, clients),
        [initial(corpus)],
        TRAIN,
        rounds,
        intercept,
        node_config={"min-clients": floor, **node_config},
        plain=not isinstance(strategy, PaillierChainFedAvg),
    )
    return arrays[0], grid


def survivors_plain(corpus, clients, dropped):
    """Plain FedAvg over every client but ``dropped``."""
    weights, _ = run(plain(clients), corpus, clients, intercept=dropping(set(dropped)))
    return weights


def dropping(node_ids, message_type="train"):
    """Interceptor: these nodes' replies of this type never arrive."""
    return lambda ins, rep: (
        None
        if (ins.metadata.dst_node_id in node_ids and ins.metadata.message_type == message_type)
        else rep
    )


def first_reply_rewriter(rewrite, message_type=wire.CHAIN):
    """Interceptor: the first node to answer a ``message_type`` instruction (a chain hop by
    default) without an error emits ``rewrite(instruction, reply)`` instead; ``seen["first"]``
    is that node."""
    seen = {}

    def intercept(ins, rep):
        if (
            ins.metadata.message_type == message_type
            and "first" not in seen
            and not rep.has_error()
        ):
            seen["first"] = ins.metadata.dst_node_id
            return rewrite(ins, rep)
        return rep

    return intercept, seen


def first_sender_seals(monkeypatch, body):
    """A malicious client: the first to seal a sum for another seals ``body()`` in place of its
    ciphertexts (the server alone cannot: envelopes are sender-authenticated)."""
    real, to_bytes, seen = secure_chain._pass_on, paillier_math.to_bytes, {}

    def pass_on(state, me, roster, hop):
        if "first" in seen or not hop.next_id:
            return real(state, me, roster, hop)
        seen["first"] = me.node_id
        monkeypatch.setattr(paillier_math, "to_bytes", lambda n, values: body())
        try:
            return real(state, me, roster, hop)
        finally:
            monkeypatch.setattr(paillier_math, "to_bytes", to_bytes)

    monkeypatch.setattr(secure_chain, "_pass_on", pass_on)
    return seen


def with_envelope(rep, data):
    rep.content[wire.RECORD][wire.ENVELOPE] = data
    return rep


def skipped(weights, corpus):
    return np.array_equal(weights, initial(corpus))


def never_restarted(grid):
    """No node was asked to add twice, and nobody to re-seal."""
    adds = [
        m.metadata.dst_node_id
        for m in grid.sent
        if m.metadata.message_type == wire.CHAIN and m.content[wire.RECORD][wire.ACTION] == wire.ADD
    ]
    resealed = [
        m
        for m in grid.sent
        if m.metadata.message_type == wire.CHAIN
        and m.content[wire.RECORD][wire.ACTION] == wire.RESEAL
    ]
    return len(adds) == len(set(adds)) and not resealed


@pytest.mark.parametrize("clients", [2, 3, 10])
def test_decrypted_aggregate_equals_plain_weighted_fedavg(corpus, clients):
    secure_weights, grid = run(secure(clients), corpus, clients)
    plain_weights, _ = run(plain(clients), corpus, clients)
    assert np.abs(secure_weights).max() > 0.01  # it learned something
    assert np.abs(secure_weights - plain_weights).max() <= BOUND
    types = [m.metadata.message_type for m in grid.sent]
    assert (
        types.count(wire.CHAIN) == clients and types.count(wire.UNMASK) == clients - 1
    )  # the root corrects in its CHAIN reply


@pytest.mark.parametrize("fanin, clients, depth", [(1, 6, 7), (2, 6, 4), (4, 6, 4), (4, 100, 6)])
def test_a_tree_of_any_fanin_equals_plain_fedavg_in_logarithmic_depth(
    corpus, fanin, clients, depth
):
    secure_weights, grid = run(secure(clients, chain_fanin=fanin), corpus, clients)
    plain_weights, _ = run(plain(clients), corpus, clients)
    assert np.abs(secure_weights - plain_weights).max() <= BOUND
    metrics = grid.result.train_metrics_clientapp[1]
    assert metrics["contributors"] == clients
    assert metrics["message_depth"] == grid.waves == depth == tree_walk.depth(clients, fanin)


def test_the_round_loss_and_clipped_count_come_out_of_the_sum_only(corpus):
    strategy = secure(3, clip=1e-3)
    weights, grid = run(strategy, corpus, 3)
    clients = [spam_client(ctx) for ctx in grid.contexts.values()]
    fits = [
        c.fit([initial(corpus)], {**TRAIN, "server-round": 1}) for c in clients
    ]  # round 1's shuffle
    sizes = [len(c.train) for c in clients]
    expected_loss = sum(n * f[2]["train_loss"] for n, f in zip(sizes, fits, strict=True)) / sum(
        sizes
    )
    expected_clipped = sum(int((np.abs(f[0][0]) > 1e-3).sum()) for f in fits)
    metrics = grid.result.train_metrics_clientapp[1]
    resolution = LOSS_BOUND / (2 * strategy.codec.q_max)  # a loss slot's step; coarse at this clip
    assert metrics["train_loss"] == pytest.approx(expected_loss, abs=resolution)
    assert metrics["clipped"] == expected_clipped > 0
    deltas = [np.clip(f[0][0], -1e-3, 1e-3) for f in fits]
    assert (
        np.abs(weights - sum(n * d for n, d in zip(sizes, deltas, strict=True)) / sum(sizes)).max()
        <= BOUND
    )
    for msg in grid.received:  # no per-client value in any reply
        assert "metrics" not in msg.content and "arrays" not in msg.content


def test_the_server_receives_no_ciphertext_but_the_final_total(corpus):
    _, grid = run(secure(3), corpus, 3)
    width = paillier_math.ciphertext_width(KEYPAIR[0].n)
    own = set()
    for context in grid.contexts.values():
        data = bytes(context.state[ROUND_STATE]["ciphertexts"])
        own.update(data[i : i + width] for i in range(0, len(data), width))
    totals = 0
    for msg in grid.received:
        for record in msg.content.config_records.values():
            for key, value in record.items():
                if isinstance(value, bytes):
                    assert not any(chunk in value for chunk in own), f"client ciphertext in {key}"
                    totals += key == wire.TOTAL
    assert totals == 1


def test_a_nan_in_a_clients_own_update_is_encoded_as_zero_not_refused(corpus, monkeypatch):
    """A refusal that depends on the client's data would be an oracle on it: no error reply."""
    fit = SpamClient.fit

    def poisoned_fit(self, parameters, config):
        weights, n, metrics = fit(self, parameters, config)
        if len(self.train) == poisoned_size:
            weights[0][1, 0] = np.nan
        return weights, n, metrics

    grid = LocalGrid(client_app, 3, run_config(corpus, 3))
    poisoned_size = len(spam_client(next(iter(grid.contexts.values()))).train)
    monkeypatch.setattr(SpamClient, "fit", poisoned_fit)
    weights, grid = run(secure(3), corpus, 3)
    assert not any(m.has_error() for m in grid.received)
    metrics = grid.result.train_metrics_clientapp[1]
    assert metrics["contributors"] == 3 and metrics["clipped"] == 1
    assert np.all(np.isfinite(weights))


def test_invalid_ciphertexts_in_an_envelope_skip_the_round(corpus, monkeypatch):
    strategy = secure(3)
    width = paillier_math.ciphertext_width(KEYPAIR[0].n)
    first_sender_seals(monkeypatch, lambda: b"\x00" * width * strategy.codec.num_plaintexts)
    weights, grid = run(strategy, corpus, 3)
    assert skipped(weights, corpus)
    assert [m.error.code for m in grid.received if m.has_error()] == [CODE_BAD_ENVELOPE]
    assert never_restarted(grid)


@pytest.mark.parametrize("attack", ["tampered", "truncated"])
def test_a_bad_envelope_skips_the_round_and_is_never_retried(corpus, attack):
    def rewrite(ins, rep):
        data = bytes(rep.content[wire.RECORD][wire.ENVELOPE])
        return with_envelope(
            rep,
            data[:100] + bytes([data[100] ^ 1]) + data[101:]
            if attack == "tampered"
            else data[:-40],
        )

    intercept, _ = first_reply_rewriter(rewrite)
    weights, grid = run(secure(3), corpus, 3, intercept=intercept)
    assert skipped(weights, corpus)
    assert CODE_BAD_ENVELOPE in [m.error.code for m in grid.received if m.has_error()]
    assert never_restarted(grid)


def test_a_replayed_envelope_does_not_open(corpus):
    captured = {}

    def replay(ins, rep):
        if ins.metadata.message_type != wire.CHAIN or rep.has_error():
            return rep
        hop = ins.content[wire.RECORD]
        if int(hop[wire.OUT_STEP]) == 1:
            if int(hop[wire.ROUND]) == 1:
                captured["envelope"] = bytes(rep.content[wire.RECORD][wire.ENVELOPE])
            else:
                return with_envelope(rep, captured["envelope"])  # round 1's envelope, in round 2
        return rep

    one_round, _ = run(secure(3, min_clients=3), corpus, 3, floor=3)
    weights, grid = run(secure(3, min_clients=3), corpus, 3, intercept=replay, rounds=2, floor=3)
    assert CODE_BAD_ENVELOPE in [m.error.code for m in grid.received if m.has_error()]
    np.testing.assert_array_equal(weights, one_round)  # round 2 skipped: model unchanged


def test_a_ciphertext_under_another_key_fails_the_checks_and_the_round_is_skipped(
    corpus, monkeypatch
):
    n = KEYPAIR[0].n
    other = next(pub for pub, _ in iter(lambda: generate_keypair(2048), None) if pub.n < n)

    def body():
        width = paillier_math.ciphertext_width(n)
        cts = paillier_math.encrypt_many(other.n, [1] * strategy.codec.num_plaintexts)
        return b"".join(c.to_bytes(width, "big") for c in cts)

    strategy = secure(3)
    first_sender_seals(monkeypatch, body)
    weights, grid = run(strategy, corpus, 3)
    assert skipped(weights, corpus)
    assert grid.result.train_metrics_clientapp == {}  # nothing aggregated


def test_slot_overflow_is_caught_after_decryption_and_the_round_skipped(corpus, monkeypatch):
    strategy = secure(3)
    to_bytes = paillier_math.to_bytes

    def body():
        codec = strategy.codec
        full = (1 << (codec.slot_bits - 1)) - 1
        slots = [1, 5, 0, 0] + [full] * codec.num_weights
        per = codec.slots_per_plaintext
        plaintexts = [
            sum(v << (k * codec.slot_bits) for k, v in enumerate(slots[i : i + per]))
            for i in range(0, len(slots), per)
        ]
        return to_bytes(KEYPAIR[0].n, paillier_math.encrypt_many(KEYPAIR[0].n, plaintexts))

    first_sender_seals(monkeypatch, body)
    weights, _ = run(strategy, corpus, 3)
    assert skipped(weights, corpus)


INNER = "inner"  # a node below the root with children
LEAF = "leaf"  # a node without children
ROOT = "root"


def hop_dropper(kinds):
    """Interceptor: the first ADD request to a node of each of ``kinds`` never answers."""
    seen = {"dropped": [], "kinds": list(kinds)}

    def drop(ins, rep):
        if (
            ins.metadata.message_type == wire.CHAIN
            and ins.content[wire.RECORD][wire.ACTION] == wire.ADD
        ):
            fields = ins.content[wire.RECORD]
            kind = (
                ROOT
                if int(fields[wire.NEXT]) == 0
                else INNER
                if list(fields[wire.ENVELOPES])
                else LEAF
            )
            if kind in seen["kinds"]:
                seen["kinds"].remove(kind)
                seen["dropped"].append(ins.metadata.dst_node_id)
                return None
        return rep

    return drop, seen


@pytest.mark.parametrize(
    "fanin, clients, kinds",
    [
        (1, 5, (LEAF,)),
        (1, 5, (INNER,)),
        (1, 5, (INNER, INNER)),
        (1, 5, (LEAF, INNER)),
        (2, 5, (INNER,)),
        (2, 7, (LEAF, INNER)),
        (4, 6, (INNER,)),
        (4, 6, (LEAF,)),
    ],
)
def test_dropouts_anywhere_below_the_root_are_corrected_for(corpus, fanin, clients, kinds):
    drop, seen = hop_dropper(kinds)
    weights, grid = run(
        secure(clients, min_clients=3, chain_fanin=fanin), corpus, clients, intercept=drop, floor=3
    )
    assert len(seen["dropped"]) == len(kinds)  # each kind of node existed and dropped
    assert np.abs(weights - survivors_plain(corpus, clients, seen["dropped"])).max() <= BOUND
    assert grid.result.train_metrics_clientapp[1]["contributors"] == clients - len(kinds)


@pytest.mark.parametrize("fanin", [1, 4])
def test_a_drop_of_the_root_skips_the_round(corpus, fanin):
    drop, seen = hop_dropper((ROOT,))
    weights, grid = run(
        secure(5, min_clients=3, chain_fanin=fanin), corpus, 5, intercept=drop, floor=3
    )
    assert skipped(weights, corpus) and seen["dropped"]
    assert never_restarted(grid)


def test_a_survivor_missing_at_unmask_skips_the_round(corpus):
    grid_nodes = list(LocalGrid(client_app, 3, run_config(corpus, 3)).contexts)
    weights, _ = run(secure(3), corpus, 3, intercept=dropping({grid_nodes[1]}, wire.UNMASK))
    assert skipped(weights, corpus)


@pytest.mark.parametrize("kind", ["secure", "plain"])
def test_a_round_skipped_after_training_ends_the_runs_training_at_once(corpus, kind):
    """Review 4, F7: every client has trained on the unchanged model, and trains on a model
    once per run: the later rounds are skipped at once, saying why, with no message sent."""
    grid_nodes = list(LocalGrid(client_app, 3, run_config(corpus, 3)).contexts)
    strategy, lost = (
        (secure(3), dropping({grid_nodes[1]}, wire.UNMASK))
        if kind == "secure"
        else (
            BoundedFedAvg(fraction_evaluate=0.0, min_train_nodes=3, min_available_nodes=3),
            dropping({grid_nodes[1]}),
        )
    )
    weights, grid = run(strategy, corpus, 3, intercept=lost, rounds=3)
    assert skipped(weights, corpus) and sorted(strategy.skipped) == [1, 2, 3]
    assert all("not run: round 1 was skipped" in strategy.skipped[r] for r in (2, 3))
    assert [m.metadata.message_type for m in grid.sent].count(wire.TRAIN) == 3  # round 1's


def test_fewer_than_min_clients_is_never_decrypted(corpus, monkeypatch):
    strategy = secure(3, min_clients=3)
    calls = []
    monkeypatch.setattr(WORKERS, "decrypt", lambda key, cts: calls.append(cts))
    grid_nodes = list(LocalGrid(client_app, 3, run_config(corpus, 3)).contexts)
    weights, _ = run(strategy, corpus, 3, intercept=dropping({grid_nodes[0]}, wire.CHAIN), floor=3)
    assert calls == []
    assert skipped(weights, corpus)


def test_key_size_and_min_clients_policies():
    with pytest.raises(InsecureKeyError, match="minimum is 2048"):
        PaillierChainFedAvg(key_bits=1024)
    with pytest.raises(ValueError, match="min-clients = 1: expected >= 2"):
        PaillierChainFedAvg(min_clients=1, keypair=KEYPAIR)


def test_a_demo_key_needs_the_nodes_consent_and_warns_every_round(corpus, caplog):
    def demo():
        return PaillierChainFedAvg(
            min_clients=2,
            key_bits=512,
            insecure_demo_key=True,
            seed=0,
            min_train_nodes=3,
            min_available_nodes=3,
        )

    refused, _ = run(demo(), corpus, 3)
    assert skipped(refused, corpus)  # the nodes refuse a 512-bit key the server allows
    with caplog.at_level(logging.WARNING, logger="strategies"):
        weights, _ = run(demo(), corpus, 3, rounds=2, **{"insecure-demo-key": True})
    assert not skipped(weights, corpus)
    assert caplog.text.count("INSECURE DEMO KEY") >= 2


def test_a_chain_reply_without_its_envelope_drops_the_sender(corpus):
    def strip(ins, rep):
        del rep.content[wire.RECORD][wire.ENVELOPE]
        return rep

    intercept, seen = first_reply_rewriter(strip)
    weights, _ = run(secure(3), corpus, 3, intercept=intercept)
    assert np.abs(weights - survivors_plain(corpus, 3, {seen["first"]})).max() <= BOUND


def test_every_message_carries_a_ttl_equal_to_its_wait(corpus):
    strategy = secure(3, chain_timeout=42.0)
    _, grid = run(strategy, corpus, 3)
    assert {m.metadata.ttl for m in grid.sent} == {42.0}


def test_a_training_reply_with_a_field_of_the_wrong_kind_drops_that_node_not_the_round(corpus):
    def member_as_number(ins, rep):
        rep.content[wire.RECORD][wire.MEMBER] = 7  # str(7) would pass as a name
        return rep

    intercept, seen = first_reply_rewriter(member_as_number, wire.TRAIN)
    weights, _ = run(secure(3), corpus, 3, intercept=intercept)
    assert np.abs(weights - survivors_plain(corpus, 3, {seen["first"]})).max() <= BOUND


def test_an_oversized_member_name_drops_that_node_not_the_round(corpus):
    """Review F3(a): a well-typed name too long for the roster's bytes aborted the round."""

    def long_name(ins, rep):
        rep.content[wire.RECORD][wire.MEMBER] = "x" * 300
        return rep

    intercept, seen = first_reply_rewriter(long_name, wire.TRAIN)
    weights, _ = run(secure(4, min_clients=3), corpus, 4, intercept=intercept, floor=3)
    assert np.abs(weights - survivors_plain(corpus, 4, {seen["first"]})).max() <= BOUND


def test_a_copied_chain_key_drops_the_copier_and_keeps_its_owner(corpus):
    """Review F3(b): a client replaying another's chain key (seen in an earlier roster) got
    both dropped; the node that showed the key first keeps its place."""
    keys, rounds = {}, {}

    def copy_key(ins, rep):
        if ins.metadata.message_type != "train" or rep.has_error():
            return rep
        node = ins.metadata.dst_node_id
        rounds[node] = rounds.get(node, 0) + 1
        record = rep.content[wire.RECORD]
        keys.setdefault(node, record[wire.CHAIN_KEY])
        if rounds[node] == 2 and node == sorted(keys)[1]:  # round 1 showed every key
            record[wire.CHAIN_KEY] = keys[sorted(keys)[0]]
        return rep

    strategy = secure(4, min_clients=3)
    run(strategy, corpus, 4, intercept=copy_key, rounds=2, floor=3)
    owner, copier = sorted(keys)[:2]
    assert owner in strategy.state.roster.keys and copier not in strategy.state.roster.keys
    assert len(strategy.state.roster.keys) == 3 and not strategy.skipped
