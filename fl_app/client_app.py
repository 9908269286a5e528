"""Flower ClientApp: runs ``SpamClient`` and, for secure rounds, the client side of the chain."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Error, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from clients.secure_chain import Contribution, add_own, contribute, forward
from clients.spam_client import SpamClient
from strategies import envelope, paillier_math
from strategies.codec import CodecParams
from strategies.errors import (
    CODE_BAD_ENVELOPE,
    CODE_CHAIN_STATE_MISSING,
    CODE_CONTRIBUTION_REJECTED,
    CODE_NODE_MISCONFIGURED,
    CiphertextError,
    ContributionError,
    EnvelopeError,
    InsecureKeyError,
)
from strategies.keys import n_from_bytes, n_to_bytes
from strategies.privacy import privatize

from .config import RunConfig
from .dataset import make_client

STATE_KEY = "secure-chain"
ClientFactory = Callable[[Context], SpamClient]


def spam_client(context: Context) -> SpamClient:
    """The ``SpamClient`` of this node: its partition of the run's corpus."""
    cfg = RunConfig.from_mapping(context.run_config)
    if "partition-id" not in context.node_config:
        raise ValueError(
            "This SuperNode has no partition-id in its node config; start it with "
            "--node-config \"partition-id=<0..num-clients-1>\""
        )
    return make_client(cfg, int(context.node_config["partition-id"]))


def _error(msg: Message, code: int, context: Context, problem: Exception) -> Message:
    reason = f"node {context.node_id}: {type(problem).__name__}: {problem}"
    return Message(Error(code=code, reason=reason), reply_to=msg)


def _contribute(
    msg: Message,
    context: Context,
    before: list[np.ndarray],
    after: list[np.ndarray],
    num_examples: int,
    metrics: dict,
) -> Message:
    """Encrypt the update into ``context.state``; the reply carries no ciphertext."""
    record = msg.content["paillier"]
    delta = np.concatenate([(a - b).ravel() for a, b in zip(after, before)])
    try:
        mine = contribute(
            server_round=int(msg.content["config"]["server-round"]),
            delta=delta,
            num_examples=num_examples,
            n=n_from_bytes(bytes(record["n"])),
            params=CodecParams.from_config(dict(record)),
            insecure_demo_key=bool(record.get("insecure-demo-key", False)),
        )
    except (ContributionError, InsecureKeyError, ValueError) as exc:
        return _error(msg, CODE_CONTRIBUTION_REJECTED, context, exc)
    state = context.state.get(STATE_KEY)
    chain_key = bytes(state["chain-key"]) if state else envelope.new_private_key()  # fresh per run
    context.state[STATE_KEY] = ConfigRecord({
        "chain-key": chain_key,
        "round": mine.server_round,
        "n": n_to_bytes(mine.n),
        "ciphertexts": paillier_math.to_bytes(mine.n, mine.ciphertexts),
        "running": b"",
        **{f"codec-{k}": v for k, v in mine.params.to_config().items()},
    })
    content = RecordDict({
        "metrics": MetricRecord({**metrics, "clipped": mine.clipped}),
        "chain": ConfigRecord({"public-key": envelope.public_key_of(chain_key)}),
    })
    return Message(content, reply_to=msg)


def _privatized(
    before: list[np.ndarray], after: list[np.ndarray], config: dict
) -> tuple[list[np.ndarray], int, dict]:
    """Differential privacy: clip the update, add this client's noise share.

    The update then counts as one example (DP-FedAvg averages clients with
    equal weight, so each changes the sum by at most ``dp-clip``), and no
    metric is reported: a training loss would leak outside the DP guarantee.
    """
    delta = np.concatenate([(a - b).ravel() for a, b in zip(after, before)])
    noisy, _ = privatize(delta, float(config["dp-clip"]), float(config["dp-share-std"]),
                         np.random.default_rng())  # OS entropy: the share must be unpredictable
    weights, start = [], 0
    for b in before:
        weights.append(b + noisy[start : start + b.size].reshape(b.shape))
        start += b.size
    return weights, 1, {}


def _stored_contribution(state: ConfigRecord) -> Contribution:
    n = n_from_bytes(bytes(state["n"]))
    params = CodecParams.from_config({k[len("codec-"):]: v for k, v in state.items() if k.startswith("codec-")})
    ciphertexts = paillier_math.from_bytes(n, bytes(state["ciphertexts"]), params.num_plaintexts, "own state")
    return Contribution(int(state["round"]), n, params, ciphertexts, 0)


def chain(msg: Message, context: Context) -> Message:
    """One hop: open the envelope, add this client's ciphertexts, seal for the next hop."""
    hop = msg.content["chain"]
    state = context.state.get(STATE_KEY)
    if state is None or int(state["round"]) != int(hop["round"]):
        problem = ContributionError(f"holds no contribution for round {int(hop['round'])}")
        return _error(msg, CODE_CHAIN_STATE_MISSING, context, problem)
    mine = _stored_contribution(state)
    chain_key = bytes(state["chain-key"])
    if hop["action"] == "reseal":
        if not state["running"]:
            problem = ContributionError(f"holds no running sum to re-seal in round {int(hop['round'])}")
            return _error(msg, CODE_CHAIN_STATE_MISSING, context, problem)
        running = paillier_math.from_bytes(mine.n, bytes(state["running"]), mine.params.num_plaintexts, "own state")
    else:
        try:
            running = add_own(mine, bytes(hop["envelope"]), chain_key, context.run_id, int(hop["in-step"]))
        except (EnvelopeError, CiphertextError) as exc:
            return _error(msg, CODE_BAD_ENVELOPE, context, exc)
        state["running"] = paillier_math.to_bytes(mine.n, running)
    next_key = bytes(hop["next-key"])
    if next_key:
        out = {"envelope": forward(running, mine, next_key, context.run_id, int(hop["out-step"]))}
    else:
        out = {"total": paillier_math.to_bytes(mine.n, running)}
    return Message(RecordDict({"chain": ConfigRecord(out)}), reply_to=msg)


def build_client_app(client_for: ClientFactory = spam_client) -> ClientApp:
    """A ClientApp whose nodes train the ``SpamClient`` that ``client_for`` gives them.

    The default serves ``flwr run .``; the attack demo passes Bob's one-e-mail client.
    """
    app = ClientApp()

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        """Train on the local shard; reply with new weights, or (secure round) only a chain key."""
        try:
            client = client_for(context)
        except ValueError as exc:  # CorpusError is a ValueError
            return _error(msg, CODE_NODE_MISCONFIGURED, context, exc)
        parameters = msg.content["arrays"].to_numpy_ndarrays()
        config = dict(msg.content["config"])
        weights, num_examples, metrics = client.fit(parameters, config)
        if float(config.get("dp-clip", 0.0)) > 0:
            weights, num_examples, metrics = _privatized(parameters, weights, config)
        if "paillier" not in msg.content:
            content = RecordDict({
                "arrays": ArrayRecord(weights),
                "metrics": MetricRecord({"num-examples": num_examples, **metrics}),
            })
            return Message(content, reply_to=msg)
        return _contribute(msg, context, parameters, weights, num_examples, metrics)

    app.train("chain")(chain)

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        """Evaluate the global weights on this client's test slice."""
        try:
            client = client_for(context)
        except ValueError as exc:
            return _error(msg, CODE_NODE_MISCONFIGURED, context, exc)
        parameters = msg.content["arrays"].to_numpy_ndarrays()
        loss, num_examples, metrics = client.evaluate(parameters, dict(msg.content["config"]))
        content = RecordDict(
            {"metrics": MetricRecord({"num-examples": num_examples, "loss": loss, **metrics})}
        )
        return Message(content, reply_to=msg)

    return app


app = build_client_app()
