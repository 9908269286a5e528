"""Flower ClientApp: runs ``SpamClient`` and, for secure rounds, the client side of the protocol.

Replies carry what the protocol needs and nothing per client: a secure
training reply holds only the chain public key (the loss and clipped count
travel encrypted in the contribution), and an error reply holds only a code
and its fixed reason (``strategies.errors.REASONS``). Details go to this
node's own log.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from flwr.app import (
    ArrayRecord,
    ConfigRecord,
    Context,
    Error,
    Message,
    MetricRecord,
    RecordDict,
)
from flwr.clientapp import ClientApp

from clients.node_policy import ClientPolicy
from clients.params_guard import check_round_params, read_round_params
from clients.request_guard import (
    RunLedger,
    check_plain_round,
    check_training_request,
    record_training,
)
from clients.secure_chain import (
    Hop,
    Identity,
    RoundState,
    add,
    contribute,
    correct,
    reseal,
)
from clients.spam_client import SpamClient
from strategies import envelope, paillier_math, wire
from strategies.codec import CodecParams, flatten_update
from strategies.errors import (
    CODE_BAD_ENVELOPE,
    CODE_CHAIN_STATE_MISSING,
    CODE_CLIENT_FAILED,
    CODE_CONTRIBUTION_REJECTED,
    CODE_NODE_MISCONFIGURED,
    CODE_REFUSED,
    REASONS,
    CiphertextError,
    ContributionError,
    EnvelopeError,
    ProtocolError,
)
from strategies.keys import n_from_bytes, n_to_bytes
from strategies.parallel import DEFAULT_MAX_AHEAD_BYTES, WORKERS
from strategies.privacy import clip_l2, grid_noise
from strategies.roster import ids_from_bytes, ids_to_bytes
from strategies.round_params import RoundParams

from .config import RunConfig
from .dataset import make_client
from .log_routing import route_package_logs
from .run_paths import with_absolute_paths

LOG = logging.getLogger(__name__)
route_package_logs()
ROUND_STATE = "secure-round"
CHAIN_KEY_STATE = "secure-chain-key"
LEDGER_STATE = "run-ledger"
ClientFactory = Callable[[Context], SpamClient]


class NodeConfigError(ValueError):
    """This node's own configuration (partition, data, floors) is unusable."""


class StateMissingError(ContributionError):
    """A request for a round this client holds no contribution for."""


def check_pinned_data(cfg: RunConfig, node_config: Mapping[str, object]) -> None:
    """A node whose node config names its corpus or data path trains on nothing else.

    The run-config comes from the server: without a pin, a server that does
    not follow the protocol could point a node at any file it can read and,
    in a plain round, read that file's words in the update.

    Raises
    ------
    ProtocolError
        If the run asks for another corpus or path than the node's own.
    """
    own_corpus = node_config.get(wire.NODE_CORPUS)
    if own_corpus is not None and str(own_corpus) != cfg.corpus:
        raise ProtocolError(
            f"the run asks for corpus {cfg.corpus!r}; this node's node-config pins {own_corpus!r}"
        )
    own_path = node_config.get(wire.NODE_DATA_PATH)
    if own_path is not None:
        pinned = with_absolute_paths(RunConfig(data_path=str(own_path))).data_path
        if Path(pinned).resolve() != Path(cfg.data_path or ".").resolve():
            raise ProtocolError(
                f"the run asks for data-path {cfg.data_path!r}; this node's node-config pins "
                f"{own_path!r}"
            )


def spam_client(context: Context) -> SpamClient:
    """The ``SpamClient`` of this node: its partition of the run's corpus."""
    cfg = with_absolute_paths(RunConfig.from_mapping(context.run_config))
    check_pinned_data(cfg, context.node_config)
    if "partition-id" not in context.node_config:
        raise NodeConfigError(
            "This SuperNode has no partition-id in its node config; start it with "
            '--node-config "partition-id=<0..num-clients-1>"'
        )
    partitions = context.node_config.get("num-partitions")
    return make_client(
        cfg, int(context.node_config["partition-id"]), int(partitions) if partitions else None
    )


def _error(msg: Message, code: int, context: Context, problem: BaseException) -> Message:
    """An error reply with the code only; the details stay in this node's log."""
    LOG.warning(
        "node %s refused %s (code %d): %s: %s",
        context.node_id,
        msg.metadata.message_type,
        code,
        type(problem).__name__,
        problem,
    )
    return Message(Error(code=code, reason=REASONS[code]), reply_to=msg)


# Which code an exception becomes; anything else is CODE_CLIENT_FAILED, with its traceback logged.
_CODES: list[tuple[type[BaseException], int]] = [
    (EnvelopeError, CODE_BAD_ENVELOPE),
    (CiphertextError, CODE_BAD_ENVELOPE),
    (ProtocolError, CODE_REFUSED),
    (StateMissingError, CODE_CHAIN_STATE_MISSING),
    (ContributionError, CODE_CONTRIBUTION_REJECTED),
    (NodeConfigError, CODE_NODE_MISCONFIGURED),
]


def _guarded(
    handler: Callable[[Message, Context], Message],
) -> Callable[[Message, Context], Message]:
    """Turn every exception of ``handler`` into an error reply that carries a code only."""

    def guarded(msg: Message, context: Context) -> Message:
        try:
            return handler(msg, context)
        except Exception as exc:  # noqa: BLE001 - the server must never see the text
            for kind, code in _CODES:
                if isinstance(exc, kind):
                    return _error(msg, code, context, exc)
            LOG.exception("node %s failed on %s", context.node_id, msg.metadata.message_type)
            return _error(msg, CODE_CLIENT_FAILED, context, exc)

    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded


# -------------------------------------------------------------- round state
def save_round_state(context: Context, state: RoundState) -> None:
    """Keep one round's client state in ``context.state`` between messages."""
    context.state[ROUND_STATE] = ConfigRecord(
        {
            "round": state.server_round,
            "n": n_to_bytes(state.n),
            "binding": state.binding,
            "ciphertexts": paillier_math.to_bytes(state.n, state.ciphertexts),
            "self-seed": state.self_seed,
            "floor": state.floor,
            "roster": state.roster,
            "last-step": state.last_step,
            "running": paillier_math.to_bytes(state.n, state.running),
            "seen": ids_to_bytes(state.seen),
            "sealed-for": ids_to_bytes(state.sealed_for),
            "corrected": state.corrected,
            **{f"codec-{k}": v for k, v in state.params.to_config().items()},
        }
    )


def load_round_state(context: Context, server_round: int) -> RoundState:
    """The state ``save_round_state`` kept; ``StateMissingError`` if it is for another round."""
    record = context.state.get(ROUND_STATE)
    if record is None or wire.read_int(record, "round") != server_round:
        raise StateMissingError(f"holds no contribution for round {server_round}")
    n = n_from_bytes(wire.read_bytes(record, "n"))
    params = CodecParams.from_config(
        {k[len("codec-") :]: v for k, v in record.items() if k.startswith("codec-")}
    )
    count = params.num_plaintexts
    running = wire.read_bytes(record, "running")
    return RoundState(
        server_round=server_round,
        n=n,
        params=params,
        binding=wire.read_bytes(record, "binding"),
        ciphertexts=paillier_math.from_bytes(
            n, wire.read_bytes(record, "ciphertexts"), count, "own state"
        ),
        self_seed=wire.read_bytes(record, "self-seed"),
        floor=wire.read_int(record, "floor"),
        roster=wire.read_bytes(record, "roster"),
        last_step=wire.read_int(record, "last-step"),
        running=paillier_math.from_bytes(n, running, count, "own state") if running else [],
        seen=ids_from_bytes(wire.read_bytes(record, "seen"), "own state"),
        sealed_for=ids_from_bytes(wire.read_bytes(record, "sealed-for"), "own state"),
        corrected=bool(record["corrected"]),
    )


def _ledger(context: Context) -> RunLedger:
    record = context.state.get(LEDGER_STATE)
    if record is None:
        return RunLedger()
    data = wire.read_bytes(record, "models")
    return RunLedger(
        wire.read_int(record, "last-round"),
        [data[i : i + 32] for i in range(0, len(data), 32)],
        wire.read_list(record, "dp-spent", float),
        wire.read_int(record, "rounds-before"),
        wire.read_bytes(record, "run-params"),
    )


def _save_ledger(context: Context, ledger: RunLedger) -> None:
    context.state[LEDGER_STATE] = ConfigRecord(
        {
            "last-round": ledger.last_round,
            "rounds-before": ledger.rounds_before,
            "models": b"".join(ledger.models),
            "dp-spent": list(ledger.dp_spent),
            "run-params": ledger.run_params,
        }
    )


def _identity(context: Context) -> Identity:
    """This node's chain key, fresh per run and kept in ``context.state``, and its
    federation identity."""
    record = context.state.get(CHAIN_KEY_STATE)
    if record is None:
        record = ConfigRecord({"key": envelope.new_private_key()})
        context.state[CHAIN_KEY_STATE] = record
    return Identity(
        context.node_id, wire.read_bytes(record, "key"), context.run_id, _policy(context).identity
    )


def in_simulation() -> bool:
    """Whether this ClientApp runs in Flower's simulation engine (a Ray worker), which no
    server message can make true: there nodes have no node config of their own, and one
    user runs the server and every node on one corpus, so plain rounds are theirs to ask."""
    ray = sys.modules.get("ray")
    return ray is not None and bool(ray.is_initialized())


def _policy(context: Context) -> ClientPolicy:
    try:
        return ClientPolicy.from_node_config(context.node_config, in_simulation())
    except (TypeError, ValueError, OSError) as exc:
        raise NodeConfigError(f"node config: {exc}") from exc


# ----------------------------------------------------------------- handlers
def _train_secure(
    msg: Message,
    context: Context,
    server_round: int,
    params: RoundParams,
    delta: np.ndarray,
    num_examples: int,
    loss: float,
) -> Message:
    """Encrypt the update into ``context.state``; the reply carries the chain key only.

    Under differential privacy (DP-FedAvg) the update is clipped to L2 ``dp-clip`` (less
    what rounding to the codec's grid can add), this client adds its noise share, weighs 1
    and sends no loss (a loss is not noised).
    """
    noise = None
    if params.dp is not None:
        delta = clip_l2(delta, params.dp.update_bound(delta.size))
        noise = grid_noise(delta.size, params.dp.share_std)
        num_examples, loss = 1, 0.0
    state, clipped = contribute(
        server_round, delta, num_examples, params, _policy(context), loss=loss, noise=noise
    )
    if clipped:
        LOG.info("node %s: %d update values clipped", context.node_id, clipped)
    save_round_state(context, state)
    me = _identity(context)
    chain_key = envelope.public_key_of(me.chain_key)
    reply = ConfigRecord({wire.CHAIN_KEY: chain_key})
    if me.member is not None:
        reply[wire.MEMBER] = me.member.member
        reply[wire.SIGNATURE] = me.member.sign_chain_key(me.run_id, chain_key)
    return Message(RecordDict({wire.RECORD: reply}), reply_to=msg)


def _train_plain(
    msg: Message, weights: list[np.ndarray], num_examples: int, metrics: dict
) -> Message:
    """Plain FedAvg, the baseline: the reply carries the new weights in clear."""
    content = RecordDict(
        {
            "arrays": ArrayRecord(weights),
            "metrics": MetricRecord({"num-examples": num_examples, **metrics}),
        }
    )
    return Message(content, reply_to=msg)


def _check_plain(context: Context, ledger: RunLedger, what: str) -> None:
    """Refuse a plain request unless this node allows plain rounds and the run is not a
    secure one (its run-config says ``aggregation = "paillier"``, or this client made a
    secure contribution in it)."""
    secure_run = context.run_config.get("aggregation") == "paillier"
    check_plain_round(_policy(context).answers_plain, secure_run, ledger, what)


def _precompute(params: RoundParams, context: Context) -> None:
    """Start this round's obfuscators in the worker pool, so they are computed while the
    client trains (the next round's start once this one's are used), within the memory
    bound of node-config ``precompute-mb``."""
    try:
        megabytes = wire.read_float(
            context.node_config, wire.NODE_PRECOMPUTE_MB, DEFAULT_MAX_AHEAD_BYTES / 2**20
        )
    except ProtocolError as exc:
        raise NodeConfigError(f"node config: {exc}") from exc
    WORKERS.max_ahead_bytes = int(megabytes * 2**20)
    WORKERS.prefetch(params.n, params.codec.num_plaintexts)


def bound_run_config(run_config: Mapping[str, object]) -> dict[str, object]:
    """What this client reads of the run-config to train (``RunConfig.client_view``): its
    corpus, data path, shard and recipe shape its update and its weight, and a server may
    give each node another run-config, so they are bound into the model digest.

    Raises
    ------
    ProtocolError
        If the run-config cannot be parsed.
    """
    try:
        return RunConfig.from_mapping(run_config).client_view()
    except ValueError as exc:
        raise ProtocolError(f"run-config: {exc}") from exc


def _client(client_for: ClientFactory, context: Context) -> SpamClient:
    try:
        return client_for(context)
    except ValueError as exc:  # partition out of range, data missing or corrupt
        raise NodeConfigError(str(exc)) from exc


def _hop(msg: Message) -> Hop:
    fields = wire.read_record(msg.content, wire.RECORD, ConfigRecord)
    envelopes = wire.read_list(fields, wire.ENVELOPES, bytes)
    steps = wire.read_list(fields, wire.IN_STEPS, int)
    senders = wire.read_list(fields, wire.SENDERS, int)
    if not len(envelopes) == len(steps) == len(senders):
        raise ProtocolError(
            f"{len(envelopes)} envelopes with {len(steps)} steps and {len(senders)} senders"
        )
    return Hop(
        server_round=wire.read_int(fields, wire.ROUND),
        roster=wire.read_bytes(fields, wire.ROSTER),
        inputs=tuple(zip(envelopes, steps, senders, strict=True)),
        out_step=wire.read_int(fields, wire.OUT_STEP),
        next_id=wire.read_int(fields, wire.NEXT),
        survivors=tuple(ids_from_bytes(wire.read_bytes(fields, wire.SURVIVORS, b""), "survivors")),
    )


def chain(msg: Message, context: Context) -> Message:
    """One hop up the tree: add this client's masked contribution to its children's sums (or
    re-seal its sum) and pass it on; the root returns the total and its correction."""
    hop = _hop(msg)
    state = load_round_state(context, hop.server_round)
    me = _identity(context)
    action = wire.read_str(wire.read_record(msg.content, wire.RECORD, ConfigRecord), wire.ACTION)
    if action == wire.ADD:
        sealed, contributors = add(state, hop, me)
    elif action == wire.RESEAL:
        sealed, contributors = reseal(state, hop, me), state.seen
    else:
        raise ProtocolError(f"unknown chain action {action!r}")
    reply = ConfigRecord({wire.CONTRIBUTORS: ids_to_bytes(contributors)})
    if hop.next_id == 0:
        values = correct(state, hop.server_round, hop.roster, list(hop.survivors), me)
        reply[wire.TOTAL] = sealed
        reply[wire.CORRECTION] = paillier_math.values_to_bytes(state.n, values)
    else:
        reply[wire.ENVELOPE] = sealed
    save_round_state(context, state)
    return Message(RecordDict({wire.RECORD: reply}), reply_to=msg)


def unmask(msg: Message, context: Context) -> Message:
    """This client's correction for the survivor set the server names."""
    fields = wire.read_record(msg.content, wire.RECORD, ConfigRecord)
    server_round = wire.read_int(fields, wire.ROUND)
    state = load_round_state(context, server_round)
    survivors = ids_from_bytes(wire.read_bytes(fields, wire.SURVIVORS), "survivors")
    values = correct(
        state, server_round, wire.read_bytes(fields, wire.ROSTER), survivors, _identity(context)
    )
    save_round_state(context, state)
    reply = ConfigRecord({wire.CORRECTION: paillier_math.values_to_bytes(state.n, values)})
    return Message(RecordDict({wire.RECORD: reply}), reply_to=msg)


def build_client_app(client_for: ClientFactory = spam_client) -> ClientApp:
    """A ClientApp whose nodes train the ``SpamClient`` that ``client_for`` gives them.

    The default serves ``flwr run .``; the attack demo passes Bob's one-e-mail client.
    """
    app = ClientApp()

    @app.train()
    @_guarded
    def train(msg: Message, context: Context) -> Message:
        """Train on the local shard; reply with new weights, or (secure round) only a chain key.

        Every field of the request is read, and every check (round, model, settings, and
        for a secure round its public parameters against this node's bounds) made, before
        the node's data is loaded: a refusal never depends on the data. The round is then
        recorded (and its DP budget spent) before the data is touched, so a request that
        fails later, in training or encryption, uses the round up: no model is trained on
        twice, whatever happens after.
        """
        parameters = wire.read_record(msg.content, "arrays", ArrayRecord).to_numpy_ndarrays()
        config = dict(wire.read_record(msg.content, "config", ConfigRecord))
        ledger = _ledger(context)
        server_round = wire.read_int(config, "server-round")
        run_config = bound_run_config(context.run_config)
        digest = check_training_request(ledger, server_round, parameters, config, run_config)
        params = None
        if wire.PAILLIER_RECORD in msg.content:
            paillier = wire.read_record(msg.content, wire.PAILLIER_RECORD, ConfigRecord)
            params = read_round_params(paillier, config, digest)
            size = sum(int(np.size(a)) for a in parameters)
            check_round_params(params, size, _policy(context), ledger)
            _precompute(params, context)
        else:
            _check_plain(context, ledger, "plain training")
        record_training(ledger, server_round, config, digest, params)
        _save_ledger(context, ledger)
        client = _client(client_for, context)  # the node's data, only now
        weights, num_examples, metrics = client.fit(parameters, config)
        if params is None:
            return _train_plain(msg, weights, num_examples, metrics)
        delta = flatten_update(weights, parameters)
        loss = wire.read_float(metrics, "train_loss", 0.0)
        return _train_secure(msg, context, server_round, params, delta, num_examples, loss)

    app.train("chain")(_guarded(chain))
    app.train("unmask")(_guarded(unmask))

    @app.evaluate()
    @_guarded
    def evaluate(msg: Message, context: Context) -> Message:
        """Evaluate the global weights on this client's test slice (plain rounds only: the
        reply carries per-client metrics)."""
        _check_plain(context, _ledger(context), "evaluation")
        client = _client(client_for, context)
        parameters = wire.read_record(msg.content, "arrays", ArrayRecord).to_numpy_ndarrays()
        loss, num_examples, metrics = client.evaluate(
            parameters, dict(wire.read_record(msg.content, "config", ConfigRecord))
        )
        content = RecordDict(
            {"metrics": MetricRecord({"num-examples": num_examples, "loss": loss, **metrics})}
        )
        return Message(content, reply_to=msg)

    return app


app = build_client_app()
