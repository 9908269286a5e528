"""The Paillier chain strategy end to end, in-process, through the real ClientApp.

Every test runs the real strategy against the real ClientApp handlers over
``LocalGrid`` (no Ray) on a tiny label-TAB-text corpus written here, so a
round takes a fraction of a second even with 2048-bit keys.
"""

import logging

import numpy as np
import pytest
from flwr.serverapp.strategy import FedAvg

from clients.spam_client import SpamClient
from fl_app.client_app import app as client_app
from fl_app.client_app import spam_client
from fl_app.dataset import load_data
from fl_app.local_grid import LocalGrid, run_strategy
from strategies import envelope, paillier_math
from strategies.chain import PaillierChainFedAvg
from strategies.codec import FRAC_BITS
from strategies.errors import InsecureKeyError
from strategies.keys import fingerprint, generate_keypair
from strategies.parallel import WORKERS

TRAIN = {"lr": 0.05, "batch-size": 16, "local-epochs": 1}
KEYPAIR = generate_keypair(2048)
# The codec's worst-case quantisation error on the mean, plus float64 rounding.
BOUND = 2.0 ** -(FRAC_BITS + 1) + 1e-12


@pytest.fixture
def corpus(tiny_corpus):
    return tiny_corpus


def run_config(corpus, clients):
    return {"corpus": "tsv", "data-path": str(corpus), "num-clients": clients,
            "partitioner": "dirichlet", "dirichlet-alpha": 1.0, "min-clients": 2}


def initial(corpus):
    return np.zeros((len(load_data("tsv", str(corpus), 0).vocabulary), 1))


def secure(clients, min_clients=2, **kwargs):
    return PaillierChainFedAvg(min_clients=min_clients, keypair=KEYPAIR, seed=0, fraction_evaluate=0.0,
                               min_train_nodes=clients, min_available_nodes=clients, **kwargs)


def plain(clients):
    return FedAvg(fraction_evaluate=0.0, min_train_nodes=clients, min_available_nodes=clients)


def run(strategy, corpus, clients, intercept=None, rounds=1):
    arrays, grid = run_strategy(strategy, client_app, clients, run_config(corpus, clients),
                                [initial(corpus)], TRAIN, rounds, intercept)
    return arrays[0], grid


def dropping(node_ids, message_type="train"):
    """Interceptor: these nodes' replies of this type never arrive."""
    return lambda ins, rep: None if (
        ins.metadata.dst_node_id in node_ids and ins.metadata.message_type == message_type) else rep


def first_hop_rewriter(rewrite):
    """Interceptor: the first chain hop's sender emits ``rewrite(instruction, reply)`` instead."""
    seen = {}

    def intercept(ins, rep):
        if ins.metadata.message_type == "train.chain" and "first" not in seen and not rep.has_error():
            seen["first"] = ins.metadata.dst_node_id
            return rewrite(ins, rep)
        return rep

    return intercept, seen


def resealed(ins, payload: bytes, n: int = KEYPAIR[0].n):
    """What a (misbehaving) sender could validly seal for the next hop."""
    hop = ins.content["chain"]
    aad = envelope.associated_data(1, int(hop["round"]), int(hop["out-step"]), bytes(hop["next-key"]), fingerprint(n))
    return envelope.seal(payload, bytes(hop["next-key"]), aad)


def with_envelope(rep, data):
    rep.content["chain"]["envelope"] = data
    return rep


@pytest.mark.parametrize("clients", [2, 3, 10])
def test_decrypted_aggregate_equals_plain_weighted_fedavg(corpus, clients):
    secure_weights, grid = run(secure(clients), corpus, clients)
    plain_weights, _ = run(plain(clients), corpus, clients)
    assert np.abs(secure_weights).max() > 0.01  # it learned something
    assert np.abs(secure_weights - plain_weights).max() <= BOUND
    chain_steps = [m for m in grid.sent if m.metadata.message_type == "train.chain"]
    assert len(chain_steps) == clients


def test_shards_really_differ_in_size(corpus):
    grid = LocalGrid(client_app, 10, run_config(corpus, 10))
    sizes = [len(spam_client(ctx).train) for ctx in grid.contexts.values()]
    assert len(set(sizes)) > 3 and sum(sizes) == len(load_data("tsv", str(corpus), 0).train)


def test_the_server_receives_no_ciphertext_but_the_final_total(corpus):
    _, grid = run(secure(3), corpus, 3)
    n = KEYPAIR[0].n
    width = paillier_math.ciphertext_width(n)
    own = set()
    for context in grid.contexts.values():
        data = bytes(context.state["secure-chain"]["ciphertexts"])
        own.update(data[i : i + width] for i in range(0, len(data), width))
    totals = 0
    for msg in grid.received:
        assert "arrays" not in msg.content  # no plaintext weights either
        for record in msg.content.config_records.values():
            for key, value in record.items():
                if isinstance(value, bytes):
                    assert not any(chunk in value for chunk in own), f"client ciphertext in {key}"
                    totals += key == "total"
    assert totals == 1


def test_a_sender_of_invalid_ciphertexts_is_dropped_and_the_round_completes(corpus):
    strategy = secure(3)

    def zero_ciphertexts(ins, rep):
        width = paillier_math.ciphertext_width(KEYPAIR[0].n)
        return with_envelope(rep, resealed(ins, b"\x00" * width * strategy.codec.num_plaintexts))

    intercept, seen = first_hop_rewriter(zero_ciphertexts)
    weights, grid = run(strategy, corpus, 3, intercept=intercept)
    survivors_plain, _ = run(plain(3), corpus, 3, intercept=dropping({seen["first"]}))
    assert np.abs(weights - survivors_plain).max() <= BOUND
    assert any(m.has_error() and "ciphertext 0 is 0" in m.error.reason for m in grid.received)


@pytest.mark.parametrize("bad", ["n_squared", "not_a_unit"])
def test_ciphertexts_out_of_range_or_not_units_are_caught_at_the_next_hop(corpus, bad):
    n = KEYPAIR[0].n
    value = {"n_squared": n * n, "not_a_unit": n}[bad]
    message = {"n_squared": ">= n^2", "not_a_unit": "not a unit"}[bad]

    def rewrite(ins, rep):
        width = paillier_math.ciphertext_width(n)
        payload = value.to_bytes(width + 1, "big")[-width:] if bad == "not_a_unit" else b"\xff" * width
        return with_envelope(rep, resealed(ins, payload))

    intercept, seen = first_hop_rewriter(rewrite)
    weights, grid = run(secure(3), corpus, 3, intercept=intercept)
    survivors_plain, _ = run(plain(3), corpus, 3, intercept=dropping({seen["first"]}))
    assert np.abs(weights - survivors_plain).max() <= BOUND
    assert any(m.has_error() and message in m.error.reason for m in grid.received)


@pytest.mark.parametrize("attack", ["tampered", "truncated"])
def test_a_bad_envelope_drops_its_sender_and_the_round_completes_with_the_rest(corpus, attack):
    def rewrite(ins, rep):
        data = bytes(rep.content["chain"]["envelope"])
        return with_envelope(rep, data[:100] + bytes([data[100] ^ 1]) + data[101:] if attack == "tampered" else data[:-40])

    intercept, seen = first_hop_rewriter(rewrite)
    weights, grid = run(secure(3), corpus, 3, intercept=intercept)
    survivors_plain, _ = run(plain(3), corpus, 3, intercept=dropping({seen["first"]}))
    assert np.abs(weights - survivors_plain).max() <= BOUND
    errors = [m.error.reason for m in grid.received if m.has_error()]
    assert any("failed authentication" in e for e in errors)


def test_a_replayed_envelope_does_not_open_and_below_min_clients_the_round_is_skipped(corpus):
    captured = {}

    def replay(ins, rep):
        if ins.metadata.message_type != "train.chain" or rep.has_error():
            return rep
        hop = ins.content["chain"]
        if int(hop["out-step"]) == 1:
            if int(hop["round"]) == 1:
                captured["envelope"] = bytes(rep.content["chain"]["envelope"])
            else:
                return with_envelope(rep, captured["envelope"])  # round 1's envelope, in round 2
        return rep

    one_round, _ = run(secure(3, min_clients=3), corpus, 3)
    weights, grid = run(secure(3, min_clients=3), corpus, 3, intercept=replay, rounds=2)
    errors = [m.error.reason for m in grid.received if m.has_error()]
    assert any("failed authentication" in e for e in errors)
    np.testing.assert_array_equal(weights, one_round)  # round 2 skipped: model unchanged


def test_a_ciphertext_under_another_key_fails_the_count_check_and_the_round_is_skipped(corpus, caplog):
    n = KEYPAIR[0].n
    other = next(pub for pub, _ in iter(lambda: generate_keypair(2048), None) if pub.n < n)

    def rewrite(ins, rep):
        width = paillier_math.ciphertext_width(n)
        cts = paillier_math.encrypt_many(other.n, [1] * strategy.codec.num_plaintexts)
        return with_envelope(rep, resealed(ins, b"".join(c.to_bytes(width, "big") for c in cts)))

    strategy = secure(3)
    intercept, _ = first_hop_rewriter(rewrite)
    with caplog.at_level(logging.ERROR, logger="flwr"):
        weights, _ = run(strategy, corpus, 3, intercept=intercept)
    np.testing.assert_array_equal(weights, initial(corpus))
    # Garbage under our key: the count slot, padding or guard bits give it away.
    assert "round 1 skipped, global model unchanged" in caplog.text


def test_a_nan_update_is_refused_by_its_client_and_the_others_complete_the_round(corpus, monkeypatch):
    fit = SpamClient.fit

    def poisoned_fit(self, parameters, config):
        weights, n, metrics = fit(self, parameters, config)
        if len(self.train) == poisoned_size:
            weights[0][1, 0] = np.nan
        return weights, n, metrics

    grid = LocalGrid(client_app, 3, run_config(corpus, 3))
    victim, ctx = next(iter(grid.contexts.items()))
    poisoned_size = len(spam_client(ctx).train)
    monkeypatch.setattr(SpamClient, "fit", poisoned_fit)
    weights, grid = run(secure(3), corpus, 3)
    monkeypatch.setattr(SpamClient, "fit", fit)
    survivors_plain, _ = run(plain(3), corpus, 3, intercept=dropping({victim}))
    assert np.abs(weights - survivors_plain).max() <= BOUND
    assert any(m.has_error() and "1 NaN/inf values" in m.error.reason for m in grid.received)


def test_out_of_range_updates_are_clipped_and_counted(corpus):
    strategy = secure(3, clip=1e-3)
    weights, grid = run(strategy, corpus, 3)
    clients = [spam_client(ctx) for ctx in grid.contexts.values()]
    deltas = [np.clip(c.fit([initial(corpus)], TRAIN)[0][0], -1e-3, 1e-3) for c in clients]
    sizes = [len(c.train) for c in clients]
    expected = sum(n * d for n, d in zip(sizes, deltas)) / sum(sizes)
    assert np.abs(weights - expected).max() <= BOUND
    train_replies = [m for m in grid.received if m.metadata.message_type == "train"]
    assert sum(int(m.content["metrics"]["clipped"]) for m in train_replies) > 0


def test_slot_overflow_is_caught_after_decryption_and_the_round_skipped(corpus, caplog):
    strategy = secure(3)

    def rewrite(ins, rep):
        codec = strategy.codec
        full = (1 << (codec.slot_bits - 1)) - 1
        slots = [1, 5] + [full] * codec.num_weights
        per = codec.slots_per_plaintext
        plaintexts = [sum(v << (k * codec.slot_bits) for k, v in enumerate(slots[i : i + per]))
                      for i in range(0, len(slots), per)]
        cts = paillier_math.encrypt_many(KEYPAIR[0].n, plaintexts)
        return with_envelope(rep, resealed(ins, paillier_math.to_bytes(KEYPAIR[0].n, cts)))

    intercept, _ = first_hop_rewriter(rewrite)
    with caplog.at_level(logging.ERROR, logger="flwr"):
        weights, _ = run(strategy, corpus, 3, intercept=intercept)
    np.testing.assert_array_equal(weights, initial(corpus))
    assert "overflow caught by the guard bits" in caplog.text


@pytest.mark.parametrize("position", [1, 2])
def test_a_client_that_drops_mid_chain_is_routed_around(corpus, position):
    seen = {}

    def drop(ins, rep):
        if ins.metadata.message_type == "train.chain" and ins.content["chain"]["action"] == "add":
            seen["hop"] = seen.get("hop", 0) + 1
            if seen["hop"] == position + 1:
                seen["dropped"] = ins.metadata.dst_node_id
                return None
        return rep

    weights, _ = run(secure(3), corpus, 3, intercept=drop)
    survivors_plain, _ = run(plain(3), corpus, 3, intercept=dropping({seen["dropped"]}))
    assert np.abs(weights - survivors_plain).max() <= BOUND


def test_fewer_than_min_clients_is_never_decrypted(corpus, monkeypatch):
    strategy = secure(3, min_clients=3)
    calls = []
    monkeypatch.setattr(WORKERS, "decrypt", lambda key, cts: calls.append(cts))
    grid_nodes = list(LocalGrid(client_app, 3, run_config(corpus, 3)).contexts)
    weights, _ = run(strategy, corpus, 3, intercept=dropping({grid_nodes[0]}, "train.chain"))
    assert calls == []
    np.testing.assert_array_equal(weights, initial(corpus))


def test_key_size_and_min_clients_policies():
    with pytest.raises(InsecureKeyError, match="minimum is 2048"):
        PaillierChainFedAvg(key_bits=1024)
    with pytest.raises(ValueError, match="min-clients = 1: expected >= 2"):
        PaillierChainFedAvg(min_clients=1, keypair=KEYPAIR)


def test_the_insecure_demo_key_warns_every_round(corpus, caplog):
    strategy = PaillierChainFedAvg(min_clients=2, key_bits=512, insecure_demo_key=True, seed=0,
                                   fraction_evaluate=0.0, min_train_nodes=3, min_available_nodes=3)
    with caplog.at_level(logging.WARNING, logger="flwr"):
        run(strategy, corpus, 3, rounds=2)
    assert caplog.text.count("INSECURE DEMO KEY") >= 2


def test_a_chain_reply_without_its_envelope_drops_the_sender(corpus):
    def strip(ins, rep):
        del rep.content["chain"]["envelope"]
        return rep

    intercept, seen = first_hop_rewriter(strip)
    weights, _ = run(secure(3), corpus, 3, intercept=intercept)
    survivors_plain, _ = run(plain(3), corpus, 3, intercept=dropping({seen["first"]}))
    assert np.abs(weights - survivors_plain).max() <= BOUND
