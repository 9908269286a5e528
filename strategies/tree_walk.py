"""The running sums of a secure round, walked up an aggregation tree level by level.

The roster, in a fresh random order, is laid out as a heap-shaped tree of
fan-in ``k``: the node at position ``i`` has its parent at ``(i - 1) // k``;
the root is at position 0. The levels below the root are asked deepest
first, each level's nodes in parallel: a node opens the sealed partial sums
of its children, adds its own masked contribution and seals the result for
its parent. ``k = 1`` is a chain. The root's request is not sent here: the
strategy sends it together with the unmask stage, so a round of ``n``
clients takes ``levels(n, k) + 1`` sequential messages, training included.

A plain function of a ``send_level`` callable, so the walk is testable with a
fake. The rules that keep "one contribution, one total" true:

- every client is asked to add once; the pass is never restarted;
- a node that drops is routed around: every child that sealed a sum for it
  re-seals that same sum for the dropped node's parent, which then takes
  more than ``k`` inputs;
- a node that reports an incoming envelope as bad skips the round; it is
  never restarted with the same contributions;
- a node whose contributors are not exactly those of its inputs plus itself
  skips the round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import count

from .errors import CODE_BAD_ENVELOPE, NotEnoughContributorsError, RoundAbortedError
from .wire import ADD, RESEAL


@dataclass(frozen=True)
class Sealed:
    """A partial sum on its way up: sealed by ``holder`` at ``step`` for its next hop."""

    holder: int
    envelope: bytes
    step: int
    contributors: tuple[int, ...]


@dataclass(frozen=True)
class HopRequest:
    """Add (with these inputs) or re-seal, and seal for ``next_id`` at ``out_step``."""

    node: int
    action: str
    inputs: tuple[Sealed, ...]
    out_step: int
    next_id: int


@dataclass(frozen=True)
class HopOutcome:
    """What came back from one hop: ``ok``, or the error code (0: no reply in time)."""

    ok: bool
    code: int = 0
    sealed: bytes = b""
    contributors: tuple[int, ...] = ()


# send_level(requests) -> outcome per node; requests go out in parallel.
SendLevel = Callable[[list[HopRequest]], dict[int, HopOutcome]]


@dataclass
class TreeResult:
    """Where the walk ends: the root, the sums it is to add, and who is in them."""

    root: int
    inputs: tuple[Sealed, ...]
    dropped: list[int] = field(default_factory=list)
    waves: int = 0  # sequential requests sent (one per level, one per re-seal wave)
    next_step: int = 1

    @property
    def contributors(self) -> list[int]:
        """Everyone whose contribution the root receives, the root included."""
        return [c for s in self.inputs for c in s.contributors] + [self.root]


def levels(order: list[int], fanin: int) -> list[list[int]]:
    """The tree's levels, root first: level ``d`` holds positions
    ``[(k^d-1)/(k-1), (k^(d+1)-1)/(k-1))``."""
    if fanin < 1:
        raise ValueError(f"fan-in {fanin}: expected >= 1")
    out, start, width = [], 0, 1
    while start < len(order):
        out.append(order[start : start + width])
        start, width = start + width, width * fanin
    return out


def depth(clients: int, fanin: int) -> int:
    """Sequential messages of a round without dropouts: training, each level, and unmask
    with the root."""
    return len(levels(list(range(clients)), fanin)) + 1


def walk_tree(
    order: list[int],
    fanin: int,
    send_level: SendLevel,
    min_clients: int,
    on_drop: Callable[[int, int], None] = lambda *_: None,
) -> TreeResult:
    """Walk the levels below the root once, deepest first.

    Parameters
    ----------
    order : list[int]
        The node ids, in tree order (``order[0]`` is the root).
    fanin : int
        Children per node (1: a chain).
    send_level : SendLevel
        Sends one level's requests in parallel; outcome per node.
    min_clients : int
        Fewest contributors the round may end with.
    on_drop : callable
        ``on_drop(node, code)`` for each node routed around (for the log).

    Raises
    ------
    NotEnoughContributorsError
        As soon as fewer than ``min_clients`` nodes can still contribute.
    RoundAbortedError
        When a node rejects its envelope, a holder cannot re-seal, or a node
        reports contributors other than its inputs' and its own.
    """
    parent = {node: order[(i - 1) // fanin] for i, node in enumerate(order) if i}
    inbox: dict[int, list[Sealed]] = {node: [] for node in order}
    steps = count(1)
    result = TreeResult(root=order[0], inputs=())
    tree = levels(order, fanin)
    for depth_index in range(len(tree) - 1, 0, -1):
        level = tree[depth_index]
        requests = [
            HopRequest(node, ADD, tuple(inbox.pop(node)), next(steps), parent[node])
            for node in level
        ]
        outcomes = send_level(requests)
        result.waves += 1
        orphans: list[
            tuple[Sealed, int]
        ] = []  # sums sealed for a dropped node, and where they go now
        for request in requests:
            node, outcome = request.node, outcomes.get(request.node, HopOutcome(ok=False))
            if outcome.ok:
                expected = (*(c for s in request.inputs for c in s.contributors), node)
                if outcome.contributors != expected:
                    raise RoundAbortedError(
                        f"node {node} reports contributors {list(outcome.contributors)}, "
                        f"expected {list(expected)}"
                    )
                inbox[parent[node]].append(Sealed(node, outcome.sealed, request.out_step, expected))
                continue
            if outcome.code == CODE_BAD_ENVELOPE:
                raise RoundAbortedError(
                    f"node {node} rejected an envelope from nodes "
                    f"{[s.holder for s in request.inputs]}; a round is never restarted "
                    "with the same contributions"
                )
            result.dropped.append(node)
            on_drop(node, outcome.code)
            orphans.extend((sealed, parent[node]) for sealed in request.inputs)
        _require_enough(inbox, orphans, tree[:depth_index], min_clients)
        if orphans:
            _reseal(orphans, send_level, steps, inbox)
            result.waves += 1
    result.inputs = tuple(inbox[result.root])
    result.next_step = next(steps)
    return result


def _require_enough(
    inbox: dict[int, list[Sealed]],
    orphans: list[tuple[Sealed, int]],
    upper: list[list[int]],
    min_clients: int,
) -> None:
    """Contributors already sealed upwards plus the nodes not yet asked: at least
    ``min_clients``."""
    sealed = [s for waiting in inbox.values() for s in waiting] + [s for s, _ in orphans]
    left = sum(len(s.contributors) for s in sealed) + sum(len(level) for level in upper)
    if left < min_clients:
        raise NotEnoughContributorsError(
            f"only {left} client(s) left in the tree, min-clients is {min_clients}: "
            "the partial sum is never decrypted"
        )


def _reseal(
    orphans: list[tuple[Sealed, int]],
    send_level: SendLevel,
    steps: Iterator[int],
    inbox: dict[int, list[Sealed]],
) -> None:
    """Each holder of a sum sealed for a dropped node re-seals it for that node's parent,
    in parallel."""
    requests = [
        HopRequest(sealed.holder, RESEAL, (), next(steps), new_parent)
        for sealed, new_parent in orphans
    ]
    outcomes = send_level(requests)
    for (sealed, new_parent), request in zip(orphans, requests, strict=True):
        outcome = outcomes.get(request.node, HopOutcome(ok=False))
        if not outcome.ok or outcome.contributors != sealed.contributors:
            raise RoundAbortedError(
                f"node {sealed.holder} could not re-seal its running sum (code {outcome.code})"
            )
        inbox[new_parent].append(
            Sealed(sealed.holder, outcome.sealed, request.out_step, sealed.contributors)
        )
