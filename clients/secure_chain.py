"""The client side of a secure round: contribute, add-and-forward up the tree once, unmask once.

Functions of plain values (the ClientApp keeps ``RoundState`` between
messages in ``context.state``), so every step and every check is testable
without Flower. A client obeys the server only as far as the protocol goes:

- it adds its contribution to at most one pass per round, and corrects at
  most once;
- the roster and every chain it ends are at least its own ``min-clients``
  floor (node config), which no server message can lower;
- the sums it adds are sealed for it, at earlier steps, and hold disjoint
  sets of contributors, none of them itself;
- the next hop (its parent) is a roster member other than itself and other
  than anyone already in its sum; steps only increase;
- it corrects only for a survivor set that holds itself, everyone it saw
  contribute, and at least its floor, and never re-seals after correcting;
  as the root, only for exactly the contributors of the total it returns;
- with an authenticated roster (a federation file in its node config),
  every roster entry is a distinct federation member whose identity key
  signed its chain key for this run;
- every envelope it seals or opens, and every pairwise mask, is bound to
  the digest of the round's public parameters (``params_guard`` checked
  them before it trained), so it shares a sum only with clients that used
  the same parameters.

A request that breaks one of these raises ``ProtocolError`` and the client
refuses it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from strategies import envelope, masks, paillier_math
from strategies.codec import CodecParams, encode
from strategies.errors import ProtocolError
from strategies.identity import MemberIdentity
from strategies.keys import fingerprint, public_key_from_n
from strategies.parallel import WORKERS
from strategies.roster import Roster, ids_from_bytes, ids_to_bytes
from strategies.round_params import RoundParams

from .node_policy import ClientPolicy

_COUNT = struct.Struct(">I")


@dataclass(frozen=True)
class Identity:
    """Who this client is in the chain: node id, chain private key (fresh per run) and,
    for an authenticated roster, its federation identity."""

    node_id: int
    chain_key: bytes
    run_id: int | str
    member: MemberIdentity | None = None


@dataclass
class RoundState:
    """One round of one client: its contribution and what it has done with it."""

    server_round: int
    n: int
    params: CodecParams
    binding: bytes  # the digest of the round's public parameters (round_params.RoundParams)
    ciphertexts: list[int]  # own, not masked
    self_seed: bytes
    floor: int  # fewest clients this client accepts in the roster, a pass or the survivors
    roster: bytes = b""  # fixed by the first chain message of the round
    last_step: int = 0
    running: list[int] = field(default_factory=list)  # the sum it forwarded, once added
    seen: list[int] = field(default_factory=list)  # contributors of that sum, itself last
    sealed_for: list[int] = field(default_factory=list)
    corrected: bool = False

    @property
    def added(self) -> bool:
        """Whether its contribution is in a pass already."""
        return bool(self.running)


@dataclass(frozen=True)
class Hop:
    """A tree request: add the ``inputs`` (sealed sums, the steps they were sealed at, and who
    sealed them) to this
    client's contribution, or re-seal its sum, and pass on to ``next_id`` (0: the root, which
    returns the total for ``survivors``)."""

    server_round: int
    roster: bytes
    inputs: tuple[tuple[bytes, int, int], ...]
    out_step: int
    next_id: int
    survivors: tuple[int, ...] = ()


def contribute(
    server_round: int,
    delta: np.ndarray,
    num_examples: int,
    params: RoundParams,
    policy: ClientPolicy,
    loss: float = 0.0,
    noise: np.ndarray | None = None,
) -> tuple[RoundState, int]:
    """Encode and encrypt an update under the server's key; the state and the clipped count.

    ``params`` are the round's public parameters, already checked against the
    node's policy (``params_guard``); their digest binds every envelope and mask
    of the round. Under differential privacy (``params.dp``) the noise shares
    were sized for ``m`` clients: the client then accepts no sum of fewer.

    Raises
    ------
    ContributionError
        For an update of the wrong size or an example count below 1 (see ``codec.encode``).
    ProtocolError
        If ``n`` is below this node's key policy or not a plausible Paillier modulus.
    """
    n = params.n
    try:
        public_key_from_n(n, policy.insecure_demo_key)
    except ValueError as exc:  # InsecureKeyError too: the server cannot lower the key policy
        raise ProtocolError(f"the server's Paillier key: {exc}") from exc
    plaintexts, clipped = encode(delta, num_examples, params.codec, loss, noise)
    obfuscators = WORKERS.obfuscators(n, len(plaintexts))
    WORKERS.prefetch(n, len(plaintexts))  # next round's, computed while we wait for the tree
    ciphertexts = paillier_math.encrypt_many(n, plaintexts, obfuscators)
    floor = max(policy.min_clients, params.dp.min_clients if params.dp else 0)
    state = RoundState(
        server_round, n, params.codec, params.digest(), ciphertexts, masks.new_seed(), floor
    )
    return state, clipped


def _require(ok: bool, problem: str) -> None:
    if not ok:
        raise ProtocolError(problem)


def _check_request(
    state: RoundState, me: Identity, server_round: int, roster_bytes: bytes
) -> Roster:
    """The checks every chain and unmask request passes; the roster it names."""
    _require(
        server_round == state.server_round,
        f"request for round {server_round}, "
        f"but this client's contribution is for round {state.server_round}",
    )
    roster = Roster.from_bytes(roster_bytes)
    _require(
        len(roster) >= state.floor,
        f"roster of {len(roster)} is below this node's floor ({state.floor})",
    )
    _require(
        roster.keys.get(me.node_id) == envelope.public_key_of(me.chain_key),
        "the roster does not hold this client under its own chain key",
    )
    _require(
        not state.roster or state.roster == roster_bytes, "the roster changed within the round"
    )
    if not state.roster and me.member is not None:
        _check_authenticated(roster, me)
    state.roster = roster_bytes
    return roster


def _check_authenticated(roster: Roster, me: Identity) -> None:
    """Every entry a distinct federation member that signed its chain key for this run."""
    assert me.member is not None
    names = [roster.names.get(node, "") for node in roster.keys]
    _require(
        all(names) and len(set(names)) == len(names),
        "every roster entry must name a distinct member",
    )
    _require(
        roster.names[me.node_id] == me.member.member,
        "the roster names this client as another member",
    )
    for node, key in roster.keys.items():
        me.member.verify_chain_key(
            me.run_id, roster.names[node], key, roster.signatures.get(node, b"")
        )


def _check_next(
    state: RoundState, me: Identity, roster: Roster, hop: Hop, contributors: list[int]
) -> None:
    _require(
        hop.out_step > max([state.last_step, *(step for _, step, _ in hop.inputs)]),
        "steps must only increase",
    )
    if hop.next_id == 0:
        _require(
            len(contributors) >= state.floor,
            f"a total of {len(contributors)} contributions is below this node's floor "
            f"({state.floor})",
        )
        _require(
            sorted(hop.survivors) == sorted(contributors),
            "the survivor set is not the contributors of the total",
        )
        return
    _require(
        hop.next_id in roster and hop.next_id != me.node_id,
        "the next hop is not another roster member",
    )
    _require(hop.next_id not in contributors, "the next hop has already contributed to this sum")
    _require(hop.next_id not in state.sealed_for, "this sum was already sealed for that member")


def _aad(state: RoundState, step: int, recipient: bytes, sender: bytes, me: Identity) -> bytes:
    digest = Roster.from_bytes(state.roster).digest()
    return envelope.associated_data(
        me.run_id,
        state.server_round,
        step,
        recipient,
        fingerprint(state.n),
        digest,
        sender,
        state.binding,
    )


def _pair_seeds(state: RoundState, me: Identity, roster: Roster) -> dict[int, bytes]:
    return {
        other: masks.pairwise_seed(
            me.chain_key, me.node_id, key, other, me.run_id, state.server_round, state.binding
        )
        for other, key in roster.keys.items()
        if other != me.node_id
    }


def _open_all(
    state: RoundState, me: Identity, roster: Roster, hop: Hop
) -> tuple[list[int], list[int]]:
    """The sum of the incoming sums and their contributors, which must not overlap."""
    running: list[int] = []
    contributors: list[int] = []
    for sealed, step, sender in hop.inputs:
        values, ids = _open(state, me, roster, sealed, step, sender)
        _require(not set(ids) & set(contributors), "two incoming sums share a contributor")
        running = paillier_math.add(state.n, running, values) if running else values
        contributors.extend(ids)
    return running, contributors


def _open(
    state: RoundState, me: Identity, roster: Roster, sealed: bytes, step: int, sender: int
) -> tuple[list[int], list[int]]:
    """One incoming sum and its contributors, sealed by ``sender``, who added last."""
    _require(
        sender in roster and sender != me.node_id,
        "an envelope's sender is not another roster member",
    )
    key = roster.keys[sender]
    payload = envelope.open_envelope(
        sealed, me.chain_key, _aad(state, step, envelope.public_key_of(me.chain_key), key, me), key
    )
    if len(payload) < _COUNT.size:
        raise ProtocolError("envelope payload truncated")
    count = _COUNT.unpack_from(payload)[0]
    ids_end = _COUNT.size + 8 * count
    contributors = ids_from_bytes(payload[_COUNT.size : ids_end], "contributors")
    _require(
        all(c in roster and c != me.node_id for c in contributors),
        "the running sum names a contributor outside the roster, or this client",
    )
    _require(
        contributors[-1:] == [sender], "an incoming sum does not end with its sender's contribution"
    )
    running = paillier_math.from_bytes(
        state.n, payload[ids_end:], state.params.num_plaintexts, source=f"envelope of step {step}"
    )
    return running, contributors


def _pass_on(state: RoundState, me: Identity, roster: Roster, hop: Hop) -> bytes:
    """Seal the running sum for the next hop, or return the total (next 0)."""
    state.last_step = hop.out_step
    body = paillier_math.to_bytes(state.n, state.running)
    if hop.next_id == 0:
        return body
    state.sealed_for.append(hop.next_id)
    payload = _COUNT.pack(len(state.seen)) + ids_to_bytes(state.seen) + body
    recipient, sender = roster.keys[hop.next_id], envelope.public_key_of(me.chain_key)
    return envelope.seal(
        payload, recipient, _aad(state, hop.out_step, recipient, sender, me), me.chain_key
    )


def add(state: RoundState, hop: Hop, me: Identity) -> tuple[bytes, list[int]]:
    """Open the incoming sums, add this client's masked contribution, pass it on.

    Returns
    -------
    tuple[bytes, list[int]]
        The sealed envelope for the next hop (or, last, the encrypted total)
        and the contributors of the sum, this client last.

    Raises
    ------
    ProtocolError
        If the request breaks the protocol (see the module docstring).
    EnvelopeError, CiphertextError
        If the incoming envelope does not open or holds invalid ciphertexts.
    """
    roster = _check_request(state, me, hop.server_round, hop.roster)
    _require(not state.added, "this client's contribution is already in a pass of this round")
    running, contributors = _open_all(state, me, roster, hop)
    seen = [*contributors, me.node_id]
    _check_next(state, me, roster, hop, seen)
    masked = paillier_math.add_plain(
        state.n,
        state.ciphertexts,
        masks.mask(
            state.self_seed,
            _pair_seeds(state, me, roster),
            me.node_id,
            state.n,
            len(state.ciphertexts),
        ),
    )
    state.running = paillier_math.add(state.n, running, masked) if running else masked
    state.seen = seen
    return _pass_on(state, me, roster, hop), seen


def reseal(state: RoundState, hop: Hop, me: Identity) -> bytes:
    """Seal the same running sum for another next hop (the previous one dropped).

    Raises
    ------
    ProtocolError
        If this client forwarded no sum this round, or has corrected already,
        or the new next hop is not allowed (itself, a contributor, one it
        sealed for already), or the request would turn the sum into a total.
    """
    roster = _check_request(state, me, hop.server_round, hop.roster)
    _require(state.added, "no running sum to re-seal in this round")
    _require(not state.corrected, "this client has corrected already: its sum goes nowhere else")
    _require(not hop.inputs, "a re-seal adds nothing")
    _require(hop.next_id != 0, "a re-sealed running sum never becomes a total")
    _check_next(state, me, roster, hop, state.seen)
    return _pass_on(state, me, roster, hop)


def correct(
    state: RoundState, server_round: int, roster_bytes: bytes, survivors: list[int], me: Identity
) -> list[int]:
    """This client's correction for the survivor set: removes its self mask and its
    pairwise masks with the roster members outside it.

    Raises
    ------
    ProtocolError
        If it has corrected this round already, did not contribute, or the
        survivor set is below its floor, lacks itself or anyone it saw contribute.
    """
    roster = _check_request(state, me, server_round, roster_bytes)
    _require(not state.corrected, "this client has already corrected this round")
    _require(state.added, "this client contributed to no pass this round")
    _require(
        len(set(survivors)) == len(survivors) and all(s in roster for s in survivors),
        "the survivor set repeats a node or names one outside the roster",
    )
    _require(
        len(survivors) >= state.floor,
        f"a survivor set of {len(survivors)} is below this node's floor ({state.floor})",
    )
    _require(
        set(state.seen) <= set(survivors), "the survivor set leaves out a client seen contributing"
    )
    state.corrected = True
    dropped = [node for node in roster.keys if node not in survivors]
    return masks.correction(
        state.self_seed,
        _pair_seeds(state, me, roster),
        me.node_id,
        dropped,
        state.n,
        len(state.ciphertexts),
    )
