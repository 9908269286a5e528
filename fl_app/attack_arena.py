"""A server that need not follow the protocol, against real clients: the attack demo's toolkit.

It holds the Paillier private key, runs the honest training stage, and then
sends whatever chain and unmask requests it likes over an in-process
``LocalGrid`` to the real ClientApp handlers. It can also invent members
whose chain keys it holds, and read any bytes it gets as an individual
update, which is how every attack decides what it "recovered".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, RecordDict
from flwr.app.typing import ConfigRecordValues
from flwr.clientapp import ClientApp
from phe import paillier

from data.prepare import PreparedData
from strategies import envelope, paillier_math, wire
from strategies.chain import PaillierChainFedAvg, SecureRoundState
from strategies.codec import DEFAULT_CLIP, DEFAULT_MAX_EXAMPLES, CodecParams, decode
from strategies.errors import SecureAggregationError
from strategies.keys import fingerprint
from strategies.privacy import DpSettings
from strategies.roster import Roster, ids_from_bytes, ids_to_bytes
from strategies.round_params import RoundParams, model_digest

from .client_app import bound_run_config
from .local_grid import LocalGrid

# Per node: what the server changes in its Paillier record and in its train config.
Split = Mapping[int, tuple[Mapping[str, ConfigRecordValues], Mapping[str, ConfigRecordValues]]]


def reply_bytes(reply: Message, key: str) -> bytes:
    """Bytes field ``key`` of a client's secure-round reply (its ``wire.RECORD`` record).

    Raises
    ------
    KeyError
        If the reply holds no such record.
    ProtocolError
        If the field is missing or holds anything but bytes (``bytes()`` of an
        int would be that many zero bytes).
    """
    return wire.read_bytes(reply.content.config_records[wire.RECORD], key)


@dataclass
class Arena:
    """The federation, seen from a server that may deviate.

    Parameters
    ----------
    grid : LocalGrid
        Real clients (the real ClientApp) on this process.
    keypair : tuple
        The server's Paillier keypair.
    data : PreparedData
        The corpus, to name the words of an update.
    """

    grid: LocalGrid
    keypair: tuple[paillier.PaillierPublicKey, paillier.PaillierPrivateKey]
    data: PreparedData
    messages: list[Message] = field(default_factory=list)  # every reply the server got
    round_state: SecureRoundState | None = None  # the last training stage's
    binding: bytes = b""  # the digest of the last training stage's (unsplit) parameters

    @classmethod
    def create(
        cls,
        client_app: ClientApp,
        nodes: int,
        run_config: dict,
        keypair: tuple,
        data: PreparedData,
        node_config: dict | list[dict] | None = None,
    ) -> Arena:
        """A fresh federation of ``nodes`` clients."""
        return cls(LocalGrid(client_app, nodes, run_config, node_config=node_config), keypair, data)

    @property
    def nodes(self) -> list[int]:
        """Node ids, in partition order (the first is Bob's)."""
        return list(self.grid.contexts)

    @property
    def n(self) -> int:
        """The Paillier modulus."""
        return self.keypair[0].n

    def train(
        self,
        server_round: int,
        weights: np.ndarray,
        train_config: dict,
        nodes: list[int] | None = None,
        max_examples: int | None = None,
        clip: float | None = None,
        split: Split | None = None,
    ) -> tuple[Roster, SecureRoundState]:
        """The training stage, to every node or to ``nodes`` only: each client encrypts its
        update; the roster of replies (which may be too small for a real round).

        ``split`` gives chosen nodes other values than the rest: per node, entries that
        replace those of its Paillier record (the codec) and of its train config.
        """
        strategy = PaillierChainFedAvg(
            min_clients=2,
            keypair=self.keypair,
            min_train_nodes=len(self.nodes),
            min_available_nodes=len(self.nodes),
            max_examples=max_examples or DEFAULT_MAX_EXAMPLES,
            clip=DEFAULT_CLIP if clip is None else clip,
        )
        messages = strategy.configure_train(
            server_round, ArrayRecord([weights]), ConfigRecord(train_config), self.grid
        )
        chosen = [m for m in messages if nodes is None or m.metadata.dst_node_id in nodes]
        replies = self._send([_split(m, (split or {}).get(m.metadata.dst_node_id)) for m in chosen])
        state = strategy.state
        if state is None:
            raise RuntimeError("configure_train left no round state")
        self.round_state = state
        self.binding = RoundParams(
            self.n,
            state.codec,
            DpSettings.from_config(train_config),
            model_digest([weights], train_config, bound_run_config(self._run_config)),
        ).digest()
        strategy.min_clients = 0  # a deviating server takes any roster, even of one or none
        strategy.stage_roster(state, replies)
        if state.roster is None:
            raise RuntimeError("stage_roster left no roster")
        return state.roster, state

    @property
    def _run_config(self) -> dict:
        return dict(next(iter(self.grid.contexts.values())).run_config)

    def _send(self, messages: list[Message]) -> list[Message]:
        replies = list(self.grid.send_and_receive(messages))
        self.messages.extend(replies)
        return replies

    def _ask(self, node: int, message_type: str, fields: dict[str, ConfigRecordValues]) -> Message:
        """Send one request of ``message_type`` with ``fields`` to ``node``; its reply."""
        record = RecordDict({wire.RECORD: ConfigRecord(fields)})
        return self._send([Message(record, dst_node_id=node, message_type=message_type)])[0]

    def hop(
        self,
        node: int,
        server_round: int,
        roster: Roster,
        envelope_: bytes = b"",
        in_step: int = 0,
        out_step: int = 1,
        next_id: int = 0,
        action: str = wire.ADD,
        survivors: list[int] | tuple[int, ...] = (),
        sender: int = 0,
    ) -> Message:
        """Send one chain request, any request, to ``node``: add ``envelope_`` (if any, sealed by
        ``sender``) and seal for ``next_id``, or, as the root (``next_id`` 0), return the total for
        ``survivors``; its reply."""
        fields: dict[str, ConfigRecordValues] = {
            wire.ROUND: server_round,
            wire.ACTION: action,
            wire.ROSTER: roster.to_bytes(),
            wire.ENVELOPES: [envelope_] if envelope_ else [],
            wire.IN_STEPS: [in_step] if envelope_ else [],
            wire.SENDERS: [sender] if envelope_ else [],
            wire.OUT_STEP: out_step,
            wire.NEXT: next_id,
            wire.SURVIVORS: ids_to_bytes(survivors),
        }
        return self._ask(node, wire.CHAIN, fields)

    def unmask(self, node: int, server_round: int, roster: Roster, survivors: list[int]) -> Message:
        """Ask ``node`` for its correction for the survivor set ``survivors``; its reply."""
        fields: dict[str, ConfigRecordValues] = {
            wire.ROUND: server_round,
            wire.ROSTER: roster.to_bytes(),
            wire.SURVIVORS: b"".join(s.to_bytes(8, "big") for s in survivors),
        }
        return self._ask(node, wire.UNMASK, fields)

    def open_as_member(
        self, private_key: bytes, reply: Message, server_round: int, roster: Roster, step: int
    ) -> list[int]:
        """Open an envelope sealed (by the node that sent ``reply``) for a member whose chain key
        the server holds."""
        sealed = reply_bytes(reply, wire.ENVELOPE)
        me, sender = envelope.public_key_of(private_key), roster.keys[reply.metadata.src_node_id]
        aad = envelope.associated_data(
            self.grid.run.run_id,
            server_round,
            step,
            me,
            fingerprint(self.n),
            roster.digest(),
            sender,
            self.binding,
        )
        payload = envelope.open_envelope(sealed, private_key, aad, sender)
        count = int.from_bytes(payload[:4], "big")
        return paillier_math.from_bytes(
            self.n, payload[4 + 8 * count :], self._count(), "opened envelope"
        )

    def total_of(self, reply: Message) -> list[int]:
        """The ciphertexts of a reply that returned a total."""
        return paillier_math.from_bytes(
            self.n, reply_bytes(reply, wire.TOTAL), self._count(), "total"
        )

    def correction_of(self, reply: Message) -> list[int]:
        """The values of an unmask reply."""
        data = reply_bytes(reply, wire.CORRECTION)
        return paillier_math.values_from_bytes(self.n, data, self._count(), "correction")

    def _codec(self) -> CodecParams:
        if self.round_state is None:
            raise RuntimeError("run the training stage first")
        return self.round_state.codec

    def _count(self) -> int:
        return self._codec().num_plaintexts

    def unmasked_total(
        self, server_round: int, roster: Roster, order: list[int]
    ) -> list[int] | None:
        """An honest pass over ``order`` as a chain (the last is the root) and its corrections;
        the decrypted sum, or ``None`` if refused."""
        sealed, replies = b"", []
        for step, node in enumerate(order, start=1):
            last = step == len(order)
            reply = self.hop(
                node,
                server_round,
                roster,
                sealed,
                step - 1 if sealed else 0,
                step,
                0 if last else order[step],
                survivors=order if last else (),
                sender=order[step - 2] if sealed else 0,
            )
            if reply.has_error():
                return None
            sealed = reply_bytes(reply, wire.TOTAL if last else wire.ENVELOPE)
            replies.append(reply)
        corrections = [
            self.unmask(node, server_round, roster, order) for node in order[:-1]
        ] + replies[-1:]
        if any(c.has_error() for c in corrections):
            return None
        return self.decrypt(
            self.total_of(replies[-1]), *[self.correction_of(c) for c in corrections]
        )

    def decrypt(self, ciphertexts: list[int], *plain_shifts: list[int]) -> list[int]:
        """Decrypt, then add known plaintext values (masks the server could compute)."""
        plaintexts = [self.keypair[1].raw_decrypt(c) for c in ciphertexts]
        for shift in plain_shifts:
            plaintexts = [(m + s) % self.n for m, s in zip(plaintexts, shift, strict=True)]
        return plaintexts

    def words_of_single_update(self, plaintexts: list[int]) -> list[str]:
        """The words an individual update changed, if ``plaintexts`` decode as exactly one client's.

        A masked or summed value fails the codec's checks (the contributor
        count slot is not 1, or slots overflow): then nothing is attributable.
        """
        codec = self._codec()
        try:
            single = decode(plaintexts, 1, codec)
        except SecureAggregationError:
            return []
        changed = np.flatnonzero(single.mean_delta != 0)
        return sorted(self.data.vocabulary.words[i] for i in changed)

    @staticmethod
    def contributors_of(reply: Message) -> list[int]:
        """The contributor list a chain reply reports."""
        return ids_from_bytes(reply_bytes(reply, wire.CONTRIBUTORS), "contributors")

    @staticmethod
    def refused(reply: Message) -> bool:
        """Whether the client answered with an error instead of doing what it was asked."""
        return reply.has_error()


def _split(msg: Message, change: tuple[Mapping, Mapping] | None) -> Message:
    """``msg`` with its Paillier record and train config changed by ``change`` (a copy: FedAvg
    gives every message the same content)."""
    if change is None:
        return msg
    paillier_change, config_change = change
    content = RecordDict(
        {
            "arrays": msg.content["arrays"],
            "config": ConfigRecord(
                {**wire.read_record(msg.content, "config", ConfigRecord), **config_change}
            ),
            wire.PAILLIER_RECORD: ConfigRecord(
                {
                    **wire.read_record(msg.content, wire.PAILLIER_RECORD, ConfigRecord),
                    **paillier_change,
                }
            ),
        }
    )
    return Message(content, dst_node_id=msg.metadata.dst_node_id, message_type=wire.TRAIN)
