"""Flower ServerApp: federated training of the spam model, evaluated every round."""

from __future__ import annotations

import time
from logging import ERROR, INFO

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.common.logger import log
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from clients.model import SpamModel
from data.prepare import PreparedData
from strategies.chain import PaillierChainFedAvg

from .config import RunConfig
from .dataset import load_data
from .results import save_run

app = ServerApp()
NODE_WAIT_POLL_S = 0.5


def wait_for_nodes(grid: Grid, count: int, timeout: float) -> list[int]:
    """Node ids once ``count`` nodes are connected; ``TimeoutError`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while len(nodes := list(grid.get_node_ids())) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"Only {len(nodes)} of num-clients = {count} nodes connected within "
                f"{timeout:.0f} s; start more SuperNodes (or run the simulation with "
                f"--federation-config \"num_supernodes={count}\") or lower num-clients"
            )
        time.sleep(NODE_WAIT_POLL_S)
    return nodes


def central_evaluation(data: PreparedData, loss: str):
    """``evaluate_fn`` for the strategy: the global model on the held-out test set."""

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        model = SpamModel(arrays.to_numpy_ndarrays()[0].astype(np.float64), loss)
        test_loss, accuracy = model.evaluate(data.test)
        log(INFO, "round %d: test accuracy %.2f%% on %s", server_round, 100 * accuracy, data.corpus)
        return MetricRecord({"accuracy": accuracy, "loss": test_loss})

    return evaluate


def make_strategy(cfg: RunConfig) -> FedAvg:
    """``plain``: Flower's FedAvg; ``paillier``: the same average, securely aggregated."""
    nodes = {
        "min_train_nodes": cfg.num_clients,
        "min_evaluate_nodes": cfg.num_clients,
        "min_available_nodes": cfg.num_clients,
    }
    if cfg.aggregation == "plain":
        return FedAvg(**nodes)
    return PaillierChainFedAvg(
        min_clients=cfg.min_clients,
        key_bits=cfg.key_bits,
        insecure_demo_key=cfg.insecure_demo_key,
        clip=cfg.clip,
        max_examples=cfg.max_examples,
        chain_timeout=cfg.round_timeout,
        **nodes,
    )


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run the app with the run-config of ``context``."""
    run(grid, RunConfig.from_mapping(context.run_config), context.run_id)


def run(grid: Grid, cfg: RunConfig, run_id: int | str) -> dict:
    """Run ``num-server-rounds`` of FedAvg over ``num-clients`` nodes and save the results.

    Returns
    -------
    dict
        The payload written to ``<results-dir>/<run-id>.json``.
    """
    data = load_data(cfg.corpus, cfg.data_path, cfg.seed)
    log(INFO, "corpus: %s (%s)", data.corpus, data.split_note)
    log(INFO, "  %d train / %d test e-mails, %d words", len(data.train), len(data.test), len(data.vocabulary))
    started = time.monotonic()
    try:
        wait_for_nodes(grid, cfg.num_clients, cfg.round_timeout)
    except TimeoutError as exc:
        log(ERROR, "%s", exc)
        raise
    strategy = make_strategy(cfg)
    result = strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord([SpamModel.zeros(len(data.vocabulary)).weights]),
        num_rounds=cfg.num_server_rounds,
        timeout=cfg.round_timeout,
        train_config=ConfigRecord(
            {"lr": cfg.lr, "batch-size": cfg.batch_size, "local-epochs": cfg.local_epochs}
        ),
        evaluate_fn=central_evaluation(data, cfg.loss),
    )
    rounds = [
        {"round": r, "accuracy": float(m["accuracy"]), "loss": float(m["loss"])}
        for r, m in sorted(result.evaluate_metrics_serverapp.items())
    ]
    payload = {
        "run_id": str(run_id),
        "corpus": data.corpus,
        "synthetic": data.synthetic,
        "split": data.split_note,
        "config": cfg.to_dict(),
        "rounds": rounds,
        "accuracy": rounds[-1]["accuracy"],
        "wall_time_s": round(time.monotonic() - started, 3),
    }
    title = f"{cfg.aggregation} FedAvg, {cfg.num_clients} clients - {data.corpus}"
    json_path, png_path = save_run(cfg.results_dir, run_id, payload, title)
    log(INFO, "final accuracy %.2f%% on %s", 100 * payload["accuracy"], data.corpus)
    log(INFO, "results: %s", json_path)
    log(INFO, "plot:    %s", png_path)
    return payload
