"""An in-process Flower ``Grid``: routes Messages straight to a ClientApp, no Ray.

For tests, the attack demo and the benchmark: it runs the real ServerApp
strategy against the real ClientApp handlers, one node at a time, and keeps
every message it carried so a test (or a curious server) can inspect them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from uuid import uuid4

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Result, Strategy
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

from strategies.wire import NODE_ALLOW_PLAIN

# The error code Flower itself uses when a ClientApp raises.
CLIENT_APP_RAISED_EXCEPTION = 2
FIRST_NODE_ID = 1001
SERVER_NODE_ID = 1  # what the SuperLink uses as the ServerApp's node id

Interceptor = Callable[[Message, Message], Message | None]


class LocalGrid(Grid):
    """Deliver messages to ``client_app`` in this process.

    Parameters
    ----------
    client_app : ClientApp
        The app every node runs.
    num_nodes : int
        Nodes get ``partition-id`` 0..num_nodes-1 in their node config.
    run_config : dict
        The run-config every node sees.
    run_id : int
        Run id of the contexts and messages.
    intercept : callable, optional
        ``intercept(instruction, reply) -> reply | None`` sees every reply
        before the server does and may replace it, or drop it (``None``: the
        node timed out). Tests use it to tamper, replay and drop.
    node_config : dict or list of dict, optional
        Extra node-config entries of every node (e.g. its ``min-clients``
        floor), or one dict per node.
    """

    def __init__(
        self,
        client_app: ClientApp,
        num_nodes: int,
        run_config: dict,
        run_id: int = 1,
        intercept: Interceptor | None = None,
        node_config: dict | list[dict] | None = None,
    ) -> None:
        self.client_app = client_app
        self.intercept = intercept
        # Message() reads the sender's identity from this process-wide holder,
        # which Flower's runtimes set; in-process we are that runtime.
        TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = run_id, SERVER_NODE_ID, 0
        self._run = Run.create_empty(run_id)
        extra = node_config if isinstance(node_config, list) else [node_config or {}] * num_nodes
        self.contexts = {
            FIRST_NODE_ID + i: Context(
                run_id=run_id,
                node_id=FIRST_NODE_ID + i,
                node_config={**extra[i], "partition-id": i, "num-partitions": num_nodes},
                state=RecordDict(),
                run_config=dict(run_config),
            )
            for i in range(num_nodes)
        }
        self.result: Result | None = None  # what Strategy.start returned, set by run_strategy
        self.sent: list[Message] = []
        self.received: list[Message] = []
        self._replies: dict[str, Message] = {}
        self._ids = itertools.count()
        self.waves = 0

    def set_run(self, run: Run) -> None:
        """Set the run (kept for the Grid interface)."""
        self._run = run

    @property
    def run(self) -> Run:
        """The current run."""
        return self._run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        """Build an instruction message."""
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        """Ids of all nodes."""
        return list(self.contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Deliver every message now; replies wait for ``pull_messages``."""
        ids = []
        for msg in messages:
            msg.metadata.__dict__["_message_id"] = f"m{next(self._ids)}-{uuid4().hex[:8]}"
            self.sent.append(msg)
            reply = self._deliver(msg)
            if reply is not None:
                self._replies[msg.metadata.message_id] = reply
            ids.append(msg.metadata.message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        """Replies for these ids (each once)."""
        replies = [self._replies.pop(i) for i in message_ids if i in self._replies]
        self.received.extend(replies)
        return replies

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        """Push, then pull: delivery is synchronous, so nothing is waited for.

        ``waves`` counts the calls that send something: each is one sequential message round.
        """
        messages = list(messages)
        self.waves += bool(messages)
        return self.pull_messages(self.push_messages(messages))

    def _deliver(self, msg: Message) -> Message | None:
        context = self.contexts.get(msg.metadata.dst_node_id)
        if context is None:
            return None
        try:
            reply = self.client_app(msg, context)
        except Exception as exc:  # a crashing ClientApp is an error reply, as in Flower
            reason = f"{type(exc).__name__}: {exc}"
            reply = Message(Error(code=CLIENT_APP_RAISED_EXCEPTION, reason=reason), reply_to=msg)
        reply.metadata.__dict__["_message_id"] = f"r{next(self._ids)}"
        return self.intercept(msg, reply) if self.intercept else reply


def run_strategy(
    strategy: Strategy,
    client_app: ClientApp,
    num_nodes: int,
    run_config: dict,
    initial: list[np.ndarray],
    train_config: dict,
    rounds: int = 1,
    intercept: Interceptor | None = None,
    node_config: dict | list[dict] | None = None,
    plain: bool = False,
) -> tuple[list[np.ndarray], LocalGrid]:
    """Run ``rounds`` of ``strategy`` over a fresh ``LocalGrid``.

    ``plain``: a plain FedAvg run (``aggregation = "plain"``) whose nodes allow plain rounds
    in their node config (``allow-plain``), as a node answers them only then.

    Returns
    -------
    tuple[list, LocalGrid]
        The final global arrays (``initial`` if every round was skipped) and
        the grid, whose ``sent``/``received`` hold every message.
    """
    if plain:
        run_config = {**run_config, "aggregation": "plain"}
        extra = node_config if isinstance(node_config, list) else [node_config or {}] * num_nodes
        node_config = [{**entries, NODE_ALLOW_PLAIN: True} for entries in extra]
    grid = LocalGrid(
        client_app, num_nodes, run_config, intercept=intercept, node_config=node_config
    )
    result = strategy.start(
        grid, ArrayRecord(initial), num_rounds=rounds, train_config=ConfigRecord(train_config)
    )
    grid.result = result
    return result.arrays.to_numpy_ndarrays() or list(initial), grid
