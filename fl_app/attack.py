"""The book's attack: a curious server reads Bob's e-mail out of his model update.

Bob trains on the single e-mail "my computer password is pizza". Under plain
FedAvg his reply carries his new weights, and the words whose weights changed
are exactly his e-mail's. Under the Paillier chain the same curious server
goes through every message it received and cannot tie any update to Bob; it
still sees the decrypted sum, and the DP column shows that sum with noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from flwr.app import Context, Message
from flwr.serverapp.strategy import FedAvg

from clients.spam_client import SpamClient
from data.prepare import PreparedData
from strategies import paillier_math
from strategies.chain import PaillierChainFedAvg
from strategies.codec import decode
from strategies.errors import SecureAggregationError
from strategies.privacy import DEFAULT_DELTA, DpSettings, noise_multiplier_for

from .client_app import build_client_app
from .config import RunConfig
from .dataset import load_data, make_client
from .local_grid import FIRST_NODE_ID, run_strategy

BOB_EMAIL = "my computer password is pizza"
BOB_NODE = FIRST_NODE_ID  # partition 0
# The book trains Bob's copy with batch size 1 on his one e-mail, labelled ham.
BOB_LABEL = 0
CLIENTS = 3
# A curious server's shortlist: the words whose weights moved most in the sum.
SHORTLIST = 50
# The DP column: client-level DP at this epsilon for the one round shown.
DP_EPSILON = 8.0
DP_CLIP = 0.5


@dataclass(frozen=True)
class Inspection:
    """What the curious server could attribute to Bob."""

    recovered: list[str]
    messages_inspected: int


def _bob_client(data: PreparedData, cfg: RunConfig) -> SpamClient:
    words = BOB_EMAIL.split()
    missing = [w for w in words if w not in data.vocabulary.index]
    if missing:
        raise ValueError(f"Bob's words {missing} are not in the vocabulary of {data.corpus}")
    train = data.vocabulary.encode([words], [BOB_LABEL])
    return SpamClient(train, data.test.subset(np.arange(10)), len(data.vocabulary),
                      lr=cfg.lr, batch_size=1, local_epochs=1)


def _changed_words(delta: np.ndarray, data: PreparedData) -> list[str]:
    return sorted(data.vocabulary.words[i] for i in np.flatnonzero(delta.ravel() != 0))


def inspect_plain(received: list[Message], global_weights: np.ndarray, data: PreparedData) -> Inspection:
    """The server reads every reply's weights; Bob's reply is Bob's update."""
    recovered: list[str] = []
    for msg in received:
        if msg.metadata.src_node_id == BOB_NODE and not msg.has_error() and "arrays" in msg.content:
            delta = msg.content["arrays"].to_numpy_ndarrays()[0] - global_weights
            recovered = _changed_words(delta, data)
    return Inspection(recovered, len(received))


def inspect_secure(
    received: list[Message], strategy: PaillierChainFedAvg, global_weights: np.ndarray, data: PreparedData
) -> Inspection:
    """The server tries every way to read a single client's update out of every message.

    Weights in a reply would be attributable; so would any bytes that parse as
    ciphertexts under its key and decrypt to the update of *one* contributor.
    Sealed envelopes do not parse; the final total decodes only as the sum
    of all contributors, which cannot be tied to Bob.
    """
    n = strategy.public_key.n
    codec = strategy.codec
    recovered: set[str] = set()
    for msg in received:
        if msg.has_error() or msg.metadata.src_node_id != BOB_NODE:
            continue
        if "arrays" in msg.content:
            delta = msg.content["arrays"].to_numpy_ndarrays()[0] - global_weights
            recovered.update(_changed_words(delta, data))
        for record in msg.content.config_records.values():
            for value in record.values():
                if not isinstance(value, bytes):
                    continue
                try:
                    cts = paillier_math.from_bytes(n, value, codec.num_plaintexts, "curious server")
                    single = decode([strategy.private_key.raw_decrypt(c) for c in cts], 1, codec)
                except SecureAggregationError:
                    continue  # not an individual update
                recovered.update(_changed_words(single.mean_delta, data))
    return Inspection(sorted(recovered), len(received))


def _aggregate_view(aggregate: np.ndarray, data: PreparedData) -> dict[str, int]:
    """What the server sees in a decrypted sum: how many words moved, and whether Bob's stand out."""
    largest = np.argsort(-np.abs(aggregate.ravel()))[:SHORTLIST]
    bob = {data.vocabulary.index[w] for w in BOB_EMAIL.split()}
    return {
        "aggregate_changed_words": int((aggregate != 0).sum()),
        f"bob_words_in_top_{SHORTLIST}": len(bob & set(largest.tolist())),
    }


def run_attack(key_bits: int = 2048, insecure_demo_key: bool = False, seed: int = 0) -> dict:
    """One plain, one secure and one secure-with-DP round with Bob among ``CLIENTS``; inspect all."""
    cfg = RunConfig(num_clients=CLIENTS, min_clients=CLIENTS, seed=seed)
    data = load_data(cfg.corpus, cfg.data_path, cfg.seed)
    bob = _bob_client(data, cfg)

    def client_for(context: Context) -> SpamClient:
        partition = int(context.node_config["partition-id"])
        return bob if partition == 0 else make_client(cfg, partition)

    app = build_client_app(client_for)
    weights = np.zeros((len(data.vocabulary), 1))
    # No batch-size here: Bob keeps his batch of 1, the others the book's 500.
    train_config = {"lr": cfg.lr, "local-epochs": 1}
    nodes = {"min_train_nodes": CLIENTS, "min_available_nodes": CLIENTS, "fraction_evaluate": 0.0}

    _, plain_grid = run_strategy(FedAvg(**nodes), app, CLIENTS, cfg.to_dict(), [weights], train_config)
    plain = inspect_plain(plain_grid.received, weights, data)

    strategy = PaillierChainFedAvg(min_clients=CLIENTS, key_bits=key_bits,
                                   insecure_demo_key=insecure_demo_key, **nodes)
    arrays, secure_grid = run_strategy(strategy, app, CLIENTS, cfg.to_dict(), [weights], train_config)
    secure = inspect_secure(secure_grid.received, strategy, weights, data)
    aggregate = arrays[0] - weights

    dp = DpSettings(DP_CLIP, noise_multiplier_for(DP_EPSILON, 1, DEFAULT_DELTA), CLIENTS)
    dp_strategy = PaillierChainFedAvg(min_clients=CLIENTS, key_bits=key_bits, insecure_demo_key=insecure_demo_key,
                                      clip=dp.value_bound, keypair=(strategy.public_key, strategy.private_key), **nodes)
    dp_config = {**train_config, "dp-clip": dp.clip, "dp-share-std": dp.share_std}
    dp_arrays, dp_grid = run_strategy(dp_strategy, app, CLIENTS, cfg.to_dict(), [weights], dp_config)
    dp_inspection = inspect_secure(dp_grid.received, dp_strategy, weights, data)
    return {
        "corpus": data.corpus,
        "bob_email": BOB_EMAIL,
        "clients": CLIENTS,
        "plain": {"recovered": plain.recovered, "messages_inspected": plain.messages_inspected},
        "paillier": {
            "recovered": secure.recovered,
            "messages_inspected": secure.messages_inspected,
            "key_bits": strategy.key_bits,
            **_aggregate_view(aggregate, data),
        },
        "paillier_dp": {
            "recovered": dp_inspection.recovered,
            "messages_inspected": dp_inspection.messages_inspected,
            "epsilon": dp.epsilon(1),
            "noise_multiplier": dp.noise_multiplier,
            "clip": dp.clip,
            **_aggregate_view(dp_arrays[0] - weights, data),
        },
    }
