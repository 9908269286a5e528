"""How many clients a run has: ``num-clients``, or the SuperNodes of the federation.

In Flower's simulation every SuperNode registers at once, right as the
ServerApp starts, and no other ever comes: the count is known within a
second, and a run the federation cannot serve fails at once with the
command that fixes it (one ``error:`` line; the run ends as failed). In a
deployment SuperNodes connect over time: the server waits, logging who is
there and who is missing.
"""

from __future__ import annotations

import time
from dataclasses import replace
from logging import INFO

from flwr.common.logger import log
from flwr.serverapp import Grid

from strategies.bounded import wait_for_nodes

from .config import RunConfig, RunConfigError

SIMULATION_TASK = "flwr-simulation"  # flwr.supercore.constant.TaskType.SIMULATION
# Simulated nodes register within milliseconds of each other: a count unchanged
# this long is the federation, and this is the longest to wait for the first.
SETTLE_S = 0.5
FIRST_NODE_S = 20.0
POLL_S = 0.05


def is_simulation(grid: Grid) -> bool:
    """True under ``flwr run`` on a simulation federation, or Flower's ``run_simulation``."""
    run = getattr(grid, "run", None)
    return (
        getattr(run, "primary_task_type", "") == SIMULATION_TASK
        or type(grid).__name__ == "InMemoryGrid"
    )


def simulated_nodes(
    grid: Grid, first_node_s: float = FIRST_NODE_S, settle_s: float = SETTLE_S
) -> list[int]:
    """The simulated SuperNodes, once their count has been the same for ``settle_s``."""
    deadline = time.monotonic() + first_node_s
    nodes, stable_since = list(grid.get_node_ids()), time.monotonic()
    while not nodes or time.monotonic() - stable_since < settle_s:
        if not nodes and time.monotonic() > deadline:
            break
        time.sleep(POLL_S)
        now = list(grid.get_node_ids())
        if len(now) != len(nodes):
            nodes, stable_since = now, time.monotonic()
    return nodes


def fix_command(nodes: int) -> str:
    return f'flwr run . --stream --federation-config "num-supernodes={nodes}"'


def clients_of_federation(grid: Grid, cfg: RunConfig) -> RunConfig:
    """``cfg`` with ``num-clients`` set from the federation.

    Secure aggregation never runs below ``min-clients`` (a sum of fewer could
    be one client's update); plain FedAvg, which shows every update to the
    server anyway, runs on as few as there are, down to 2.

    Raises
    ------
    RunConfigError
        When the federation cannot serve the run, with the command that fixes it.
    """
    secure = cfg.aggregation == "paillier"
    if is_simulation(grid):
        have = len(simulated_nodes(grid))
        want = cfg.num_clients or have
        if secure and have < cfg.min_clients:
            raise RunConfigError(
                f"secure aggregation needs min-clients = {cfg.min_clients} SuperNodes and this "
                f"simulation has {have} — run: {fix_command(max(cfg.min_clients, want))}"
            )
        if have < max(want, 2):
            raise RunConfigError(
                f"num-clients = {want} but this simulation has {have} SuperNodes — run: "
                f"{fix_command(max(want, 2))} (or leave num-clients at 0: one client per "
                "SuperNode)"
            )
    else:
        want = cfg.num_clients or cfg.min_clients
        try:
            wait_for_nodes(grid, want, cfg.round_timeout)
        except TimeoutError as exc:
            raise RunConfigError(
                f"num-clients = {want}: {exc} — start more SuperNodes or lower num-clients"
            ) from exc
        # A node may leave between the wait and this count: never below min-clients, or
        # the run-config check would blame settings the user never set (review F9).
        want = cfg.num_clients or max(len(list(grid.get_node_ids())), cfg.min_clients)
    log(
        INFO,
        "%d clients (%s)",
        want,
        f"num-clients = {cfg.num_clients}"
        if cfg.num_clients
        else "num-clients = 0: one per SuperNode",
    )
    return replace(
        cfg, num_clients=want, min_clients=cfg.min_clients if secure else min(cfg.min_clients, want)
    )
