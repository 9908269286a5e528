"""FedAvg whose waits for nodes are bounded: too few nodes skips a round, never hangs it."""

from __future__ import annotations

import time
from collections.abc import Iterable
from logging import ERROR

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.common.logger import log
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

NODE_POLL_S = 0.5


def wait_for_nodes(grid: Grid, count: int, timeout: float) -> list[int]:
    """Ids of the online nodes once at least ``count`` are.

    Raises
    ------
    TimeoutError
        After ``timeout`` seconds with fewer, saying how many there were.
    """
    deadline = time.monotonic() + timeout
    while len(nodes := list(grid.get_node_ids())) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(nodes)} of the {count} nodes needed were online after {timeout:.0f} s")
        time.sleep(NODE_POLL_S)
    return nodes


class BoundedFedAvg(FedAvg):
    """Flower's FedAvg, except that sampling waits at most ``node_timeout`` seconds.

    Flower's ``sample_nodes`` waits forever for ``min_available_nodes``; after
    a SuperNode dies that would hang the run. Here the round (or its
    evaluation) is skipped with an ``ERROR`` line instead. And where FedAvg
    averages however few replies arrive, a round with fewer than
    ``min_train_nodes`` replies is skipped: the same rule as secure rounds.

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

    def __init__(self, *, node_timeout: float = 600.0, message_ttl: float | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.node_timeout = node_timeout
        self.message_ttl = message_ttl

    def _construct_messages(self, record: RecordDict, node_ids: list[int], message_type: str) -> Iterable[Message]:
        """FedAvg's messages, each with ``message_ttl``."""
        return [
            Message(content=record, message_type=message_type, dst_node_id=node, ttl=self.message_ttl)
            for node in node_ids
        ]

    def enough_nodes(self, grid: Grid, minimum: int, step: str, server_round: int) -> bool:
        """Wait for ``minimum`` online nodes; log and return False if they do not come."""
        try:
            wait_for_nodes(grid, max(minimum, self.min_available_nodes), self.node_timeout)
        except TimeoutError as exc:
            log(ERROR, "round %d: %s skipped: %s", server_round, step, exc)
            return False
        return True

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """FedAvg's, after a bounded wait for ``min_train_nodes``."""
        if not self.enough_nodes(grid, self.min_train_nodes, "training", server_round):
            return []
        return super().configure_train(server_round, arrays, config, grid)

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """FedAvg's, after a bounded wait for ``min_evaluate_nodes``."""
        if self.fraction_evaluate == 0.0:
            return []
        if not self.enough_nodes(grid, self.min_evaluate_nodes, "evaluation", server_round):
            return []
        return super().configure_evaluate(server_round, arrays, config, grid)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """FedAvg's, unless fewer than ``min_train_nodes`` replied without error."""
        replies = list(replies)
        valid = [m for m in replies if not m.has_error()]
        if len(valid) < self.min_train_nodes:
            for msg in replies:
                if msg.has_error():
                    log(ERROR, "\t> node %d failed at training: %s", msg.metadata.src_node_id, msg.error.reason)
            log(ERROR, "round %d skipped, global model unchanged: %d of the %d replies needed arrived",
                server_round, len(valid), self.min_train_nodes)
            return None, None
        return super().aggregate_train(server_round, replies)
