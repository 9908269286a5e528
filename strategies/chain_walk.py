"""One pass of the running sum along the chain, with dropouts routed around.

A plain function of a ``send_hop`` callable, so the walk is testable with a
fake: the strategy passes one that sends a Flower message and waits at most
its TTL. The rules that keep "one contribution, one total" true:

- every client is asked to add once; the pass is never restarted;
- a node that drops is routed around by the previous holder re-sealing the
  same running sum for the next live node;
- if the last node drops, the round is skipped: a running sum is never
  turned into a total;
- a node that reports its incoming envelope as bad skips the round; it is
  never restarted with the same contributions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count

from .errors import CODE_BAD_ENVELOPE, NotEnoughContributorsError, RoundAbortedError
from .wire import ADD, RESEAL


@dataclass(frozen=True)
class HopOutcome:
    """What came back from one hop: ``ok``, or the error code (0: no reply in time)."""

    ok: bool
    code: int = 0
    sealed: bytes = b""  # envelope for the next hop, or the total from the last
    contributors: tuple[int, ...] = ()


# send_hop(node, action, envelope, in_step, out_step, next_id) -> HopOutcome
SendHop = Callable[[int, str, bytes, int, int, int], HopOutcome]


@dataclass
class PassResult:
    """The encrypted total (masked, not yet corrected) and who is in it."""

    total: bytes
    contributors: list[int]
    dropped: list[int] = field(default_factory=list)


def walk_chain(
    order: list[int], send_hop: SendHop, min_clients: int, on_drop: Callable[[int, int, int], None] = lambda *_: None
) -> PassResult:
    """Walk ``order`` once: each node adds its masked contribution and passes the sum on.

    Parameters
    ----------
    order : list[int]
        The node ids, in chain order.
    send_hop : SendHop
        Sends one hop request and returns its outcome.
    min_clients : int
        Fewest contributors the pass may end with.
    on_drop : callable
        ``on_drop(node, step, code)`` for each node routed around (for the log).

    Raises
    ------
    NotEnoughContributorsError
        As soon as fewer than ``min_clients`` nodes can still contribute.
    RoundAbortedError
        When the last hop drops, a node rejects its envelope, a holder cannot
        re-seal, or a node reports contributors the server did not send it.
    """
    steps = count(1)
    queue = list(order)
    contributors: list[int] = []
    dropped: list[int] = []
    envelope, in_step = b"", 0
    while queue:
        node = queue.pop(0)
        next_id = queue[0] if queue else 0
        step = next(steps)
        outcome = send_hop(node, ADD, envelope, in_step, step, next_id)
        if outcome.ok:
            if outcome.contributors != (*contributors, node):
                raise RoundAbortedError(f"node {node} reports contributors {list(outcome.contributors)}, "
                                        f"expected {[*contributors, node]}")
            contributors.append(node)
            envelope, in_step = outcome.sealed, step
            continue
        if outcome.code == CODE_BAD_ENVELOPE:
            holder = contributors[-1] if contributors else None
            raise RoundAbortedError(f"node {node} rejected the envelope from node {holder}; a round "
                                    "is never restarted with the same contributions")
        dropped.append(node)
        on_drop(node, step, outcome.code)
        if not queue:
            raise RoundAbortedError(f"node {node} dropped at the last hop; a running sum never becomes a total")
        if len(contributors) + len(queue) < min_clients:
            raise NotEnoughContributorsError(
                f"only {len(contributors) + len(queue)} client(s) left in the chain, min-clients is "
                f"{min_clients}: the partial sum is never decrypted"
            )
        if not contributors:
            continue  # nobody holds a sum yet: the next node starts afresh
        holder, step = contributors[-1], next(steps)
        outcome = send_hop(holder, RESEAL, b"", 0, step, queue[0])
        if not outcome.ok:
            raise RoundAbortedError(f"node {holder} could not re-seal its running sum (code {outcome.code})")
        envelope, in_step = outcome.sealed, step
    if len(contributors) < min_clients:
        raise NotEnoughContributorsError(f"{len(contributors)} contributor(s), min-clients is {min_clients}")
    return PassResult(envelope, contributors, dropped)
