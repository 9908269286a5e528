"""FedAvg whose waits for nodes are bounded: too few nodes skips a round, never hangs it."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from logging import ERROR, INFO
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg
from flwr.supercore.run import Run

log = logging.getLogger(__name__).log

NODE_POLL_S = 0.5
WAIT_LOG_S = 5.0


def wait_for_nodes(grid: Grid, count: int, timeout: float) -> list[int]:
    """Ids of the online nodes once at least ``count`` are; every ``WAIT_LOG_S`` a line
    names the nodes connected and the number needed.

    Raises
    ------
    TimeoutError
        After ``timeout`` seconds with fewer, saying how many there were.
    """
    started = time.monotonic()
    deadline, next_line = started + timeout, started + WAIT_LOG_S
    while len(nodes := list(grid.get_node_ids())) < count:
        now = time.monotonic()
        if now >= deadline:
            waited = f" after {timeout:.0f} s" if timeout > 0 else ""
            raise TimeoutError(f"only {len(nodes)} of the {count} nodes needed were online{waited}")
        if now >= next_line:
            log(
                INFO,
                "waiting for SuperNodes: %d connected %s, %d needed; %.0f s left",
                len(nodes),
                sorted(nodes),
                count,
                deadline - now,
            )
            next_line = now + WAIT_LOG_S
        time.sleep(NODE_POLL_S)
    return nodes


class _NodeSnapshot(Grid):
    """The grid, except that its online nodes are the ones a bounded wait just counted.

    FedAvg samples through Flower's ``sample_nodes``, which waits without
    bound for enough online nodes: had one gone offline since the bounded
    wait, the run would hang there. Sampling from the snapshot never waits; a
    message to a node that has gone since comes back as Flower's
    ``NODE_UNAVAILABLE`` error reply. Everything else is the grid's.
    """

    def __init__(self, grid: Grid, node_ids: list[int]) -> None:
        self._grid = grid
        self._node_ids = list(node_ids)

    def get_node_ids(self) -> list[int]:
        return list(self._node_ids)

    def set_run(self, run: Run) -> None:
        self._grid.set_run(run)

    @property
    def run(self) -> Run:
        return self._grid.run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return self._grid.create_message(content, message_type, dst_node_id, group_id, ttl)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        return self._grid.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self._grid.pull_messages(message_ids)

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        return self._grid.send_and_receive(messages, timeout=timeout)


class BoundedFedAvg(FedAvg):
    """Flower's FedAvg, except that sampling waits at most ``node_timeout`` seconds.

    Flower's ``sample_nodes`` waits forever for ``min_available_nodes``; after
    a SuperNode dies that would hang the run. Here training waits at most
    ``node_timeout`` for them, and evaluation not at all (it follows training:
    a node missing then has just failed, and the next round's training waits
    for nodes anyway); too few skips the round (or its evaluation) with an
    ``ERROR`` line, and sampling is from the nodes counted. And where FedAvg
    averages however few replies arrive, a round with fewer than
    ``min_train_nodes`` replies is skipped: the same rule as secure rounds.

    A round skipped after its clients trained ends the run's training: the
    global model stays the same, and a client never trains on one model twice
    in a run (two sums that differ by one client would give its update), so
    every later round would be refused. They are skipped at once, saying so;
    a new run (``resume = true``) continues from the checkpoint.

    Parameters
    ----------
    node_timeout : float
        Seconds to wait for enough nodes to be online.
    message_ttl : float, optional
        TTL of every message it sends; set it to the wait for replies, so that
        a reply later than that is dropped by the SuperLink, never read.
    **kwargs
        Passed to ``FedAvg``.
    """

    def __init__(
        self, *, node_timeout: float = 600.0, message_ttl: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.node_timeout = node_timeout
        self.message_ttl = message_ttl
        # Why each skipped round was skipped, by round: a run whose every round was
        # skipped trained nothing, and its caller says why instead of "completed".
        self.skipped: dict[int, str] = {}
        # The round skipped after its clients had trained on the global model, if any.
        self.stalled_by = 0

    def skip(self, server_round: int, reason: str, trained: bool = False) -> None:
        """Log that ``server_round`` is skipped (the global model unchanged), and why;
        ``trained``: after its clients trained, so no later round of the run can run."""
        self.skipped[server_round] = reason
        log(ERROR, "round %d skipped, global model unchanged: %s", server_round, reason)
        if trained and not self.stalled_by:
            self.stalled_by = server_round

    def stalled(self, server_round: int) -> bool:
        """Skip ``server_round`` if an earlier round was skipped after its clients trained."""
        if not self.stalled_by:
            return False
        self.skip(
            server_round,
            f"not run: round {self.stalled_by} was skipped after its clients trained on this "
            "global model, and a client trains on a model once per run — continue in a new "
            "run from the checkpoint (resume = true)",
        )
        return True

    def _construct_messages(
        self, record: RecordDict, node_ids: list[int], message_type: str
    ) -> Iterable[Message]:
        """FedAvg's messages, each with ``message_ttl``."""
        return [
            Message(
                content=record, message_type=message_type, dst_node_id=node, ttl=self.message_ttl
            )
            for node in node_ids
        ]

    def online_nodes(
        self, grid: Grid, minimum: int, step: str, server_round: int, timeout: float | None = None
    ) -> list[int] | None:
        """Ids of the online nodes once ``minimum`` are (and ``min_available_nodes``).

        Waits at most ``timeout`` seconds (default ``node_timeout``; 0: no
        wait); then logs why ``step`` is skipped and returns ``None``.
        """
        timeout = self.node_timeout if timeout is None else timeout
        try:
            return wait_for_nodes(grid, max(minimum, self.min_available_nodes), timeout)
        except TimeoutError as exc:
            if step == "training":
                self.skip(server_round, f"too few nodes for training: {exc}")
            else:
                log(ERROR, "round %d: %s skipped: %s", server_round, step, exc)
            return None

    def enough_nodes(
        self, grid: Grid, minimum: int, step: str, server_round: int, timeout: float | None = None
    ) -> bool:
        """Wait for ``minimum`` online nodes (see ``online_nodes``); log and return False if
        they do not come."""
        return self.online_nodes(grid, minimum, step, server_round, timeout) is not None

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """FedAvg's, after a bounded wait for ``min_train_nodes``, sampling from the nodes
        counted."""
        if self.fraction_train == 0.0 or self.stalled(server_round):
            return []
        nodes = self.online_nodes(grid, self.min_train_nodes, "training", server_round)
        if nodes is None:
            return []
        return super().configure_train(server_round, arrays, config, _NodeSnapshot(grid, nodes))

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """FedAvg's, if ``min_evaluate_nodes`` are online now (no wait), sampling from those."""
        if self.fraction_evaluate == 0.0:
            return []
        nodes = self.online_nodes(
            grid, self.min_evaluate_nodes, "evaluation", server_round, timeout=0.0
        )
        if nodes is None:
            return []
        return super().configure_evaluate(server_round, arrays, config, _NodeSnapshot(grid, nodes))

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """FedAvg's, unless fewer than ``min_train_nodes`` replied without error (or the round
        was skipped before anything was sent: its reason stays)."""
        if server_round in self.skipped:
            return None, None
        replies = list(replies)
        valid = [m for m in replies if not m.has_error()]
        if len(valid) < self.min_train_nodes:
            for msg in replies:
                if msg.has_error():
                    log(
                        ERROR,
                        "\t> node %d failed at training: %s",
                        msg.metadata.src_node_id,
                        msg.error.reason,
                    )
            self.skip(
                server_round,
                f"{len(valid)} of the {self.min_train_nodes} training replies needed arrived",
                trained=True,
            )
            return None, None
        return super().aggregate_train(server_round, replies)
