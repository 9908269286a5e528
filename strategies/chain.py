"""Flower message-based strategy: FedAvg with Paillier secure aggregation over a client chain."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import count
from logging import ERROR, INFO, WARNING

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.common.logger import log
from flwr.serverapp import Grid
from flwr.serverapp.strategy.strategy_utils import sample_nodes
from phe import paillier

from . import paillier_math
from .bounded import BoundedFedAvg
from .codec import DEFAULT_CLIP, DEFAULT_MAX_EXAMPLES, Aggregate, CodecParams, decode
from .envelope import KEY_BYTES
from .errors import (
    CODE_BAD_ENVELOPE,
    CiphertextError,
    NotEnoughContributorsError,
    SecureAggregationError,
)
from .keys import DEFAULT_KEY_BITS, INSECURE_WARNING, generate_keypair, n_to_bytes
from .parallel import WORKERS

# Message types: the ClientApp registers @app.train() and @app.train("chain").
CHAIN_MESSAGE_TYPE = "train.chain"
# Fewer contributors than this can never be decrypted, whatever the config says:
# the "sum" of one update is the update.
MIN_CLIENTS_FLOOR = 2


@dataclass
class ChainResult:
    """The encrypted total and the nodes whose contributions it holds."""

    total: list[int]
    contributors: list[int]


class PaillierChainFedAvg(BoundedFedAvg):
    """Weighted FedAvg in which the server only ever decrypts the sum of all updates.

    One round: every sampled client trains and encrypts its update under the
    server's Paillier key (replying only with a chain public key); the
    clients then add their ciphertexts into a running sum that travels client
    to client in sealed envelopes, in a fresh random order; the server
    decrypts the total, checks it, and applies the weighted mean update. A
    client that fails is routed around; a sum of fewer than ``min_clients``
    contributions is never decrypted and the round keeps the old model.

    Parameters
    ----------
    min_clients : int (default: 3)
        Fewest contributions the server will decrypt; never below 2.
    key_bits : int (default: 2048)
        Paillier modulus size; below 2048 only with ``insecure_demo_key``.
    insecure_demo_key : bool (default: False)
        Allow small keys (the book used 128 bits); logs a warning every round.
    clip : float
        Bound on each update value; larger values are clipped (and counted).
    max_examples : int
        Public bound on the total training examples of a round (sets the slot width).
    chain_timeout : float
        Seconds to wait for each chain hop.
    keypair : tuple, optional
        An existing ``phe`` keypair (tests, persisted keys); else a new one.
    seed : int, optional
        Seed of the chain order (default: from the OS).
    **kwargs
        Passed to ``BoundedFedAvg`` (``node_timeout``) and ``FedAvg`` (sampling
        fractions, minimum nodes, keys).
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
        keypair: tuple[paillier.PaillierPublicKey, paillier.PaillierPrivateKey] | None = None,
        seed: int | None = None,
        **kwargs,
    ) -> None:
        if min_clients < MIN_CLIENTS_FLOOR:
            raise ValueError(f"min-clients = {min_clients}: expected >= {MIN_CLIENTS_FLOOR}")
        kwargs.setdefault("min_train_nodes", min_clients)
        kwargs.setdefault("min_available_nodes", min_clients)
        super().__init__(**kwargs)
        self.min_clients = min_clients
        self.insecure_demo_key = insecure_demo_key
        self.public_key, self.private_key = keypair or generate_keypair(key_bits, insecure_demo_key)
        self.key_bits = self.public_key.n.bit_length()
        self.clip = clip
        self.max_examples = max_examples
        self.chain_timeout = chain_timeout
        self._rng = random.Random(seed) if seed is not None else random.SystemRandom()
        self._grid: Grid | None = None
        self._arrays: ArrayRecord | None = None
        self.codec: CodecParams | None = None  # this round's, public

    def summary(self) -> None:
        """Log the configuration."""
        super().summary()
        log(INFO, "\t└──> Paillier chain: %d-bit key, min-clients %d, clip %.3g, max-examples %d",
            self.key_bits, self.min_clients, self.clip, self.max_examples)

    # ------------------------------------------------------------------ train
    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """Send the global model, config, Paillier public key and codec parameters."""
        if self.insecure_demo_key:
            log(WARNING, INSECURE_WARNING, self.key_bits)
        if not self.enough_nodes(grid, self.min_train_nodes, "training", server_round):
            return []
        num_nodes = int(len(list(grid.get_node_ids())) * self.fraction_train)
        node_ids, _ = sample_nodes(grid, self.min_available_nodes, max(num_nodes, self.min_train_nodes))
        self._grid, self._arrays = grid, arrays
        self.codec = CodecParams(
            key_bits=self.key_bits,
            num_weights=sum(a.numpy().size for a in arrays.values()),
            clip=self.clip,
            max_examples=self.max_examples,
        )
        config["server-round"] = server_round
        paillier_record = ConfigRecord(
            {"n": n_to_bytes(self.public_key.n), "insecure-demo-key": self.insecure_demo_key,
             **self.codec.to_config()}
        )
        log(INFO, "configure_train: sampled %d nodes; %d ciphertexts of %d slots x %d bits each",
            len(node_ids), self.codec.num_plaintexts, self.codec.slots_per_plaintext, self.codec.slot_bits)
        record = RecordDict({"arrays": arrays, "config": config, "paillier": paillier_record})
        return self._construct_messages(record, node_ids, "train")

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """The secure round after training: chain -> decrypt -> weighted average."""
        members, metrics = self._chain_members(replies)
        try:
            chain = self._run_chain(server_round, members)
            aggregate = self._decrypt(server_round, chain)
        except SecureAggregationError as exc:
            log(ERROR, "round %d skipped, global model unchanged: %s", server_round, exc)
            return None, metrics
        metrics["contributors"] = aggregate.contributors
        return self._apply(aggregate.mean_delta), metrics

    def _chain_members(self, replies: Iterable[Message]) -> tuple[dict[int, bytes], MetricRecord]:
        """Chain public keys of the clients that trained; unweighted mean of their metrics."""
        members: dict[int, bytes] = {}
        losses, clipped = [], 0
        for msg in replies:
            node = msg.metadata.src_node_id
            if msg.has_error():
                log(WARNING, "\t> node %d dropped at training: %s", node, msg.error.reason)
                continue
            key = msg.content.get("chain", {}).get("public-key", b"")
            if "arrays" in msg.content or not isinstance(key, bytes) or len(key) != KEY_BYTES:
                log(WARNING, "\t> node %d dropped: reply is not a secure-chain reply", node)
                continue
            members[node] = key
            metrics = msg.content.get("metrics", {})
            if "train_loss" in metrics:  # absent under differential privacy
                losses.append(float(metrics["train_loss"]))
            clipped += int(metrics.get("clipped", 0))
        if clipped:
            log(WARNING, "\t> %d update values were clipped to +-%.3g", clipped, self.clip)
        return members, MetricRecord({"train_loss": float(np.mean(losses)) if losses else 0.0,
                                      "clipped": clipped})

    # ------------------------------------------------------------------ chain
    def _run_chain(self, server_round: int, members: dict[int, bytes]) -> ChainResult:
        """Pass the running encrypted sum through every member; route around failures.

        A node that fails on its own is dropped and the previous node re-seals
        its running sum for the next one. A node that reports the incoming
        envelope as bad blames its sender: the sender is dropped and the chain
        restarts without it. Each restart drops a node, so this ends.

        Raises
        ------
        NotEnoughContributorsError
            As soon as fewer than ``min_clients`` nodes remain.
        """
        order = list(members)
        self._rng.shuffle(order)
        log(INFO, "chain: order %s", order)
        steps = count(1)
        excluded: set[int] = set()
        while True:
            live = [n for n in order if n not in excluded]
            self._require_enough(live, "chain")
            result = self._one_pass(server_round, live, members, steps, excluded)
            if result is not None:
                return result

    def _one_pass(
        self,
        server_round: int,
        live: list[int],
        members: dict[int, bytes],
        steps: Iterator[int],
        excluded: set[int],
    ) -> ChainResult | None:
        """One pass along ``live``; ``None`` means restart (``excluded`` grew)."""
        holder: int | None = None
        envelope, in_step = b"", 0
        contributors: list[int] = []
        while live:
            node = live[0]
            nxt = live[1] if len(live) > 1 else None
            out_step = next(steps)
            reply = self._hop(server_round, node, "add", envelope, in_step, out_step,
                              members[nxt] if nxt is not None else b"")
            if reply is not None and not reply.has_error():
                contributors.append(node)
                holder = node
                live = live[1:]
            elif holder is not None and reply is not None and reply.error.code == CODE_BAD_ENVELOPE:
                log(WARNING, "\t> node %d rejected the envelope from node %d (%s); dropping node %d "
                    "and restarting the chain", node, holder, reply.error.reason, holder)
                excluded.add(holder)
                return None
            else:
                reason = "timed out" if reply is None else reply.error.reason
                log(WARNING, "\t> node %d dropped at chain step %d: %s", node, out_step, reason)
                excluded.add(node)
                live = live[1:]
                self._require_enough([*contributors, *live], "chain")
                if holder is None:
                    continue  # nobody holds a sum yet: the next node starts afresh
                out_step = next(steps)
                reply = self._hop(server_round, holder, "reseal", b"", 0, out_step,
                                  members[live[0]] if live else b"")
                if reply is None or reply.has_error():
                    log(WARNING, "\t> node %d could not re-seal; dropping it and restarting", holder)
                    excluded.add(holder)
                    return None
            record = reply.content.get("chain", {})
            field = "envelope" if live else "total"
            if not isinstance(record.get(field), bytes):
                log(WARNING, "\t> node %d replied without its %s; dropping it and restarting", holder, field)
                excluded.add(holder)
                return None
            if live:
                envelope, in_step = record["envelope"], out_step
                continue
            try:
                total = paillier_math.from_bytes(
                    self.public_key.n, record["total"], self.codec.num_plaintexts,
                    source=f"total from node {holder}",
                )
            except CiphertextError as exc:
                log(WARNING, "\t> %s; dropping node %d and restarting", exc, holder)
                excluded.add(holder)
                return None
            return ChainResult(total, contributors)
        raise NotEnoughContributorsError("chain ended without contributors")

    def _hop(
        self,
        server_round: int,
        node: int,
        action: str,
        envelope: bytes,
        in_step: int,
        out_step: int,
        next_key: bytes,
    ) -> Message | None:
        """Send one chain message and wait for its reply (``None`` on timeout)."""
        content = RecordDict({"chain": ConfigRecord({
            "round": server_round, "action": action, "envelope": envelope,
            "in-step": in_step, "out-step": out_step, "next-key": next_key,
        })})
        replies = list(self._grid.send_and_receive(
            [Message(content, dst_node_id=node, message_type=CHAIN_MESSAGE_TYPE)],
            timeout=self.chain_timeout,
        ))
        return replies[0] if replies else None

    def _require_enough(self, nodes: list[int], where: str) -> None:
        if len(nodes) < self.min_clients:
            raise NotEnoughContributorsError(
                f"only {len(nodes)} client(s) left in the {where}, min-clients is "
                f"{self.min_clients}: the partial sum is never decrypted"
            )

    # ---------------------------------------------------------------- decrypt
    def _decrypt(self, server_round: int, chain: ChainResult) -> Aggregate:
        """Decrypt the total (only the total) and check its count and guard bits."""
        self._require_enough(chain.contributors, "final sum")
        plaintexts = WORKERS.decrypt(self.private_key, chain.total)
        aggregate = decode(plaintexts, len(chain.contributors), self.codec)
        log(INFO, "round %d: decrypted the sum of %d contributions (%d examples), nodes %s",
            server_round, aggregate.contributors, aggregate.examples, chain.contributors)
        return aggregate

    def _apply(self, mean_delta: np.ndarray) -> ArrayRecord:
        """Global weights plus the weighted mean update, in the original shapes."""
        arrays = self._arrays.to_numpy_ndarrays()
        updated, start = [], 0
        for a in arrays:
            part = mean_delta[start : start + a.size].reshape(a.shape)
            updated.append((a.astype(np.float64) + part).astype(a.dtype))
            start += a.size
        return ArrayRecord(updated)

