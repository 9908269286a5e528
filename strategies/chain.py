"""Flower message-based strategy: FedAvg with Paillier secure aggregation over a masked tree."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from logging import INFO, WARNING
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.app.typing import MetricRecordValues
from flwr.serverapp import Grid
from phe import paillier

from . import paillier_math, tree_walk, wire
from .bounded import BoundedFedAvg
from .codec import (
    DEFAULT_CLIP,
    DEFAULT_MAX_EXAMPLES,
    Aggregate,
    CodecParams,
    decode,
    unflatten_update,
)
from .envelope import KEY_BYTES
from .errors import (
    NotEnoughContributorsError,
    ProtocolError,
    RoundAbortedError,
    SecureAggregationError,
)
from .keys import DEFAULT_KEY_BITS, INSECURE_WARNING, generate_keypair, n_to_bytes
from .parallel import WORKERS
from .roster import MAX_FIELD_BYTES, Roster, ids_from_bytes, ids_to_bytes
from .tree_walk import HopOutcome, HopRequest, TreeResult

log = logging.getLogger(__name__).log

# Fewer contributors than this can never be decrypted, whatever the config says:
# the "sum" of one update is the update.
MIN_CLIENTS_FLOOR = 2
DEFAULT_FANIN = 16  # chosen by fl-spam bench: depth decides in deployment (see README)


@dataclass
class SecureRoundState:
    """Everything the server holds about one secure round, stage by stage.

    As Flower's ``WorkflowState`` does for SecAgg+: each stage reads what the
    previous one wrote, and nothing else carries state between them.
    """

    server_round: int
    arrays: ArrayRecord
    codec: CodecParams
    roster: Roster | None = None  # stage 1: who trained, under which chain key
    tree: TreeResult | None = None  # stage 2: the sums that reached the root, and who is in them
    total: bytes = b""  # stage 3: the masked total from the root ...
    corrections: list[list[int]] = field(default_factory=list)  # ... and a correction per survivor


class PaillierChainFedAvg(BoundedFedAvg):
    """Weighted FedAvg in which the server only ever decrypts the sum of all updates.

    One round, as named stages (``aggregate_train`` reads top to bottom):

    0. **train** (``configure_train``): FedAvg's sampling; each client trains,
       encrypts its update (with its loss and clipped count in header slots)
       under the server's Paillier key, and replies with its chain key only.
    1. **roster**: the clients that replied, with their chain keys.
    2. **tree**: one pass up a tree of fan-in ``chain_fanin`` over the roster
       in a fresh random order, one level at a time, each level in parallel
       (``tree_walk``); each client masks its ciphertexts (pairwise masks with
       the roster plus a self mask), adds its children's sealed sums and seals
       the result for its parent; dropouts are routed around.
    3. **total + unmask**, in parallel: the root adds the last sums and
       returns the masked total; every survivor sends its correction
       (removes its self mask and its pairwise masks with the clients that
       dropped).
    4. **decrypt**: the corrected total only, with the count, example and
       guard checks; then the weighted mean update is applied.

    A round takes ``tree_walk.depth(clients, chain_fanin)`` sequential
    messages without dropouts (one more per level at which some node
    dropped): ``clients + 1`` for a chain, 6 for 100 clients at fan-in 4, 4 at 16.

    A sum of fewer than ``min_clients`` contributions is never decrypted; any
    stage that cannot finish safely skips the round and keeps the old model.

    Parameters
    ----------
    min_clients : int (default: 3)
        Fewest contributions the server will decrypt; never below 2.
    key_bits : int (default: 2048)
        Paillier modulus size; below 2048 only with ``insecure_demo_key``.
    insecure_demo_key : bool (default: False)
        Allow small keys (the book used 128 bits); logs a warning every round.
        Clients still refuse them unless their own node config allows them.
    clip : float
        Bound on each update value; larger values are clipped (and counted).
    max_examples : int
        Public bound on the total training examples of a round (sets the slot width).
    chain_timeout : float
        Seconds to wait for each level of the tree and the unmask stage; also their TTL.
    chain_fanin : int (default: 16)
        Children per node of the aggregation tree; 1 is a chain.
    one_example_each : bool
        Differential privacy: every client weighs 1, and a total whose example
        count differs from its contributor count is refused.
    keypair : tuple, optional
        An existing ``phe`` keypair (tests, persisted keys); else a new one.
    seed : int, optional
        Seed of the chain order (default: from the OS).
    **kwargs
        Passed to ``BoundedFedAvg`` (``node_timeout``) and ``FedAvg``.
    """

    def __init__(
        self,
        *,
        min_clients: int = 3,
        key_bits: int = DEFAULT_KEY_BITS,
        insecure_demo_key: bool = False,
        clip: float = DEFAULT_CLIP,
        max_examples: int = DEFAULT_MAX_EXAMPLES,
        chain_timeout: float = 600.0,
        chain_fanin: int = DEFAULT_FANIN,
        one_example_each: bool = False,
        keypair: tuple[paillier.PaillierPublicKey, paillier.PaillierPrivateKey] | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        if chain_fanin < 1:
            raise ValueError(f"chain-fanin = {chain_fanin}: expected >= 1")
        if min_clients < MIN_CLIENTS_FLOOR:
            raise ValueError(f"min-clients = {min_clients}: expected >= {MIN_CLIENTS_FLOOR}")
        kwargs.setdefault("min_train_nodes", min_clients)
        kwargs.setdefault("min_available_nodes", min_clients)
        # Client-side evaluation replies carry per-client metrics in clear; the
        # server evaluates the global model on its own test set instead.
        kwargs.setdefault("fraction_evaluate", 0.0)
        kwargs.setdefault("message_ttl", chain_timeout)
        super().__init__(**kwargs)
        self.min_clients = min_clients
        self.insecure_demo_key = insecure_demo_key
        self.public_key, self.private_key = keypair or generate_keypair(key_bits, insecure_demo_key)
        self.key_bits = self.public_key.n.bit_length()
        self.clip = clip
        self.max_examples = max_examples
        self.chain_timeout = chain_timeout
        self.chain_fanin = chain_fanin
        self.one_example_each = one_example_each
        self._rng = random.Random(seed) if seed is not None else random.SystemRandom()
        self._key_owners: dict[bytes, int] = {}  # chain key -> the node that showed it first
        self._grid: Grid | None = None
        self.state: SecureRoundState | None = None

    def summary(self) -> None:
        """Log the configuration."""
        super().summary()
        log(
            INFO,
            "\t└──> Paillier tree: %d-bit key, fan-in %d, min-clients %d, clip %.3g, "
            "max-examples %d",
            self.key_bits,
            self.chain_fanin,
            self.min_clients,
            self.clip,
            self.max_examples,
        )

    @property
    def codec(self) -> CodecParams | None:
        """This round's public codec parameters."""
        return self.state.codec if self.state else None

    # ------------------------------------------------------------- 0. train
    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """FedAvg's training messages, plus the Paillier public key and codec parameters."""
        if self.insecure_demo_key:
            log(WARNING, INSECURE_WARNING, self.key_bits)
        messages = list(super().configure_train(server_round, arrays, config, grid))
        if not messages:
            return []
        self._grid = grid
        codec = CodecParams(
            key_bits=self.key_bits,
            num_weights=sum(a.numpy().size for a in arrays.values()),
            clip=self.clip,
            max_examples=self.max_examples,
        )
        self.state = SecureRoundState(server_round, arrays, codec)
        # FedAvg gives every message the same RecordDict: one addition reaches all.
        messages[0].content[wire.PAILLIER_RECORD] = ConfigRecord(
            {wire.N: n_to_bytes(self.public_key.n), **codec.to_config()}
        )
        log(
            INFO,
            "configure_train: %d ciphertexts of %d slots x %d bits per client",
            codec.num_plaintexts,
            codec.slots_per_plaintext,
            codec.slot_bits,
        )
        return messages

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """The secure round after training: roster -> chain -> unmask -> decrypt."""
        state = self.state
        if state is None or state.server_round != server_round:
            return None, None
        try:
            self.stage_roster(state, replies)
            self.stage_tree(state)
            self.stage_total(state)
            aggregate = self.stage_decrypt(state)
        except SecureAggregationError as exc:
            self.skip(server_round, str(exc), trained=True)
            return None, None
        assert state.tree is not None
        # training, each level and re-seal wave of the tree, then the root with the unmask stage
        metrics: dict[str, MetricRecordValues] = {
            "contributors": aggregate.contributors,
            "clipped": aggregate.clipped,
            "message_depth": 1 + state.tree.waves + 1,
        }
        if aggregate.clipped:
            log(
                WARNING, "\t> %d update values were clipped to +-%.3g", aggregate.clipped, self.clip
            )
        if not self.one_example_each:  # under DP the clients send no loss
            metrics["train_loss"] = aggregate.mean_loss
        updated = unflatten_update(state.arrays.to_numpy_ndarrays(), aggregate.mean_delta)
        return ArrayRecord(updated), MetricRecord(metrics)

    # ------------------------------------------------------------ 1. roster
    def stage_roster(self, state: SecureRoundState, replies: Iterable[Message]) -> None:
        """The roster: every client whose training reply holds one well-formed chain key
        (with, for an authenticated roster, its member name and signature)."""
        keys: dict[int, bytes] = {}
        names: dict[int, str] = {}
        signatures: dict[int, bytes] = {}
        for msg in replies:
            node = msg.metadata.src_node_id
            if msg.has_error():
                log(WARNING, "\t> node %d dropped at training (code %d)", node, msg.error.code)
                continue
            try:
                record = wire.read_record(msg.content, wire.RECORD, ConfigRecord)
                key = wire.read_bytes(record, wire.CHAIN_KEY)
                name = wire.read_str(record, wire.MEMBER, "")
                signature = wire.read_bytes(record, wire.SIGNATURE, b"")
            except ProtocolError as exc:
                log(WARNING, "\t> node %d dropped: not a secure-round reply (%s)", node, exc)
                continue
            if len(key) != KEY_BYTES:
                log(WARNING, "\t> node %d dropped: its chain key is %d bytes", node, len(key))
                continue
            if max(len(name.encode()), len(signature)) > MAX_FIELD_BYTES:
                log(WARNING, "\t> node %d dropped: its member name or signature is too long", node)
                continue
            # A chain key is fresh per run and node, and no one sees it before the roster of
            # the round it first comes in: the node that showed it first owns it, so a client
            # copying another's key (from an earlier roster) drops only itself.
            owner = self._key_owners.setdefault(key, node)
            if owner != node:
                log(WARNING, "\t> node %d dropped: its chain key is node %d's", node, owner)
                continue
            keys[node], names[node], signatures[node] = key, name, signature
        self._require_enough(len(keys), "roster")
        try:
            state.roster = Roster.of(keys, names, signatures)
        except ProtocolError as exc:
            raise RoundAbortedError(f"no roster: {exc}") from exc

    # -------------------------------------------------------------- 2. tree
    def stage_tree(self, state: SecureRoundState) -> None:
        """One pass of the masked partial sums up the tree, below the root, in a fresh
        random order."""
        assert state.roster is not None
        order = list(state.roster.keys)
        self._rng.shuffle(order)
        log(
            INFO,
            "tree: fan-in %d, %d clients, sequential message depth %d (training, %d levels, "
            "unmask with the root); order %s",
            self.chain_fanin,
            len(order),
            tree_walk.depth(len(order), self.chain_fanin),
            len(tree_walk.levels(order, self.chain_fanin)),
            order,
        )

        def on_drop(node: int, code: int) -> None:
            log(
                WARNING,
                "\t> node %d dropped in the tree (%s)",
                node,
                f"code {code}" if code else "no reply in time",
            )

        state.tree = tree_walk.walk_tree(
            order,
            self.chain_fanin,
            lambda requests: self._send_level(state, requests),
            self.min_clients,
            on_drop,
        )

    def _send_level(
        self, state: SecureRoundState, requests: list[HopRequest]
    ) -> dict[int, HopOutcome]:
        """One level's requests in parallel; the outcome per node."""
        replies = self._send({r.node: (wire.CHAIN, self._hop_fields(state, r)) for r in requests})
        return {r.node: self._outcome(replies.get(r.node), wire.ENVELOPE) for r in requests}

    def _hop_fields(self, state: SecureRoundState, request: HopRequest) -> dict:
        assert state.roster is not None
        return {
            wire.ROUND: state.server_round,
            wire.ACTION: request.action,
            wire.ROSTER: state.roster.to_bytes(),
            wire.ENVELOPES: [s.envelope for s in request.inputs],
            wire.IN_STEPS: [s.step for s in request.inputs],
            wire.SENDERS: [s.holder for s in request.inputs],
            wire.OUT_STEP: request.out_step,
            wire.NEXT: request.next_id,
        }

    @staticmethod
    def _outcome(reply: Message | None, field_name: str) -> HopOutcome:
        if reply is None:
            return HopOutcome(ok=False)
        if reply.has_error():
            return HopOutcome(ok=False, code=int(reply.error.code))
        try:
            record = wire.read_record(reply.content, wire.RECORD, ConfigRecord)
            sealed = wire.read_bytes(record, field_name)
            contributors = ids_from_bytes(
                wire.read_bytes(record, wire.CONTRIBUTORS), "contributors"
            )
        except ProtocolError:
            return HopOutcome(ok=False)
        if not sealed:
            return HopOutcome(ok=False)
        return HopOutcome(ok=True, sealed=sealed, contributors=tuple(contributors))

    def _send(self, requests: dict[int, tuple[str, dict]]) -> dict[int, Message]:
        """Send one message per node (type and fields), each with a TTL equal to the wait;
        the replies by node.

        A reply that comes later than the wait is never read: the SuperLink
        drops it when its TTL runs out.
        """
        if self._grid is None:
            raise RoundAbortedError("no grid: configure_train has not run")
        messages = [
            Message(
                RecordDict({wire.RECORD: ConfigRecord(fields)}),
                dst_node_id=node,
                message_type=message_type,
                ttl=self.chain_timeout,
            )
            for node, (message_type, fields) in requests.items()
        ]
        replies = self._grid.send_and_receive(messages, timeout=self.chain_timeout)
        return {r.metadata.src_node_id: r for r in replies if r.metadata.src_node_id in requests}

    # ----------------------------------------------------- 3. total + unmask
    def stage_total(self, state: SecureRoundState) -> None:
        """The root adds the last sums and returns the masked total while every other
        survivor sends its correction, all in parallel; everyone must answer.

        The survivor set is fixed before this stage (the root can only add or
        fail), so the root checks it against the contributors it sums, and its
        reply carries its own correction.
        """
        assert state.roster is not None and state.tree is not None
        tree = state.tree
        survivors = tree.contributors
        self._require_enough(len(survivors), "final sum")
        root_request = HopRequest(tree.root, wire.ADD, tree.inputs, tree.next_step, 0)
        fields = {
            wire.ROUND: state.server_round,
            wire.ROSTER: state.roster.to_bytes(),
            wire.SURVIVORS: ids_to_bytes(survivors),
        }
        requests = {node: (wire.UNMASK, dict(fields)) for node in survivors if node != tree.root}
        requests[tree.root] = (wire.CHAIN, {**self._hop_fields(state, root_request), **fields})
        replies = self._send(requests)
        root = self._outcome(replies.get(tree.root), wire.TOTAL)
        if not root.ok:
            raise RoundAbortedError(
                f"the root, node {tree.root}, did not return the total "
                f"({f'code {root.code}' if root.code else 'no reply in time'})"
            )
        if root.contributors != tuple(survivors):
            raise RoundAbortedError(
                f"the root reports contributors {list(root.contributors)}, expected {survivors}"
            )
        state.total = root.sealed
        n, count = self.public_key.n, state.codec.num_plaintexts
        for node in survivors:
            reply = replies[tree.root] if node == tree.root else replies.get(node)
            if reply is None or reply.has_error():
                why = "no reply in time" if reply is None else f"code {reply.error.code}"
                raise RoundAbortedError(
                    f"survivor {node} did not send its correction ({why}); its self "
                    "mask stays in the total"
                )
            try:
                data = wire.read_bytes(
                    wire.read_record(reply.content, wire.RECORD, ConfigRecord), wire.CORRECTION
                )
            except ProtocolError as exc:
                raise RoundAbortedError(f"survivor {node} sent no correction: {exc}") from exc
            state.corrections.append(
                paillier_math.values_from_bytes(n, data, count, f"correction of node {node}")
            )

    # ----------------------------------------------------------- 4. decrypt
    def stage_decrypt(self, state: SecureRoundState) -> Aggregate:
        """Decrypt the corrected total (only the total) and check its count and guard bits."""
        assert state.tree is not None
        contributors = state.tree.contributors
        n, count = self.public_key.n, state.codec.num_plaintexts
        total = paillier_math.from_bytes(n, state.total, count, "total")
        correction = [sum(column) % n for column in zip(*state.corrections, strict=True)]
        plaintexts = WORKERS.decrypt(
            self.private_key, paillier_math.add_plain(n, total, correction)
        )
        aggregate = decode(plaintexts, len(contributors), state.codec, self.one_example_each)
        log(
            INFO,
            "round %d: decrypted the sum of %d contributions (%d examples), nodes %s",
            state.server_round,
            aggregate.contributors,
            aggregate.examples,
            contributors,
        )
        return aggregate

    def _require_enough(self, count: int, where: str) -> None:
        if count < self.min_clients:
            raise NotEnoughContributorsError(
                f"only {count} client(s) in the {where}, min-clients is {self.min_clients}: "
                "the partial sum is never decrypted"
            )
