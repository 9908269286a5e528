"""Flower ServerApp: federated training of the spam model, evaluated every round."""

from __future__ import annotations

import time
from collections.abc import Callable
from logging import INFO, WARNING
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord, RecordDict
from flwr.app.typing import ConfigRecordValues
from flwr.common.logger import log
from flwr.serverapp import Grid, ServerApp

from clients.model import SpamModel
from clients.model_file import SavedModel, save_model
from clients.spam_metrics import SpamMetrics, from_reports
from data.prepare import PreparedData
from strategies import wire
from strategies.bounded import BoundedFedAvg
from strategies.chain import PaillierChainFedAvg
from strategies.errors import ProtocolError
from strategies.keys import generate_keypair, load_keypair, save_keypair
from strategies.privacy import NEIGHBOURING, DpSettings, epsilon_of, rounds_within

from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .config import RunConfig
from .dataset import load_data
from .federation_size import clients_of_federation
from .log_routing import route_package_logs
from .results import save_run
from .run_paths import with_absolute_paths
from .user_errors import RunFailedError, install_run_error_filter

app = ServerApp()
route_package_logs()
install_run_error_filter()


def evaluate_and_checkpoint(
    cfg: RunConfig, data: PreparedData, first_round: int, rounds: list[dict], dp: DpSettings | None
) -> Callable[[int, ArrayRecord], MetricRecord]:
    """``evaluate_fn`` for the strategy: test-set accuracy, then a checkpoint.

    Flower calls it with round 0 before training and after every round; the
    strategy counts rounds from 1 also when resuming, so ``first_round`` (the
    checkpoint's) is added. Every evaluated round is appended to ``rounds``;
    under DP with the noise multiplier it used, so that a resumed run accounts
    earlier rounds with the noise they really had.
    """
    fingerprint = data.vocabulary.fingerprint()
    spent = noise_spent(rounds) if dp is not None else []
    evaluated = [
        time.monotonic()
    ]  # when the last evaluation ended: a round's wall time starts there

    def evaluate(strategy_round: int, arrays: ArrayRecord) -> MetricRecord:
        round_s = time.monotonic() - evaluated[0]
        server_round = first_round + strategy_round
        weights = arrays.to_numpy_ndarrays()
        test_loss, metrics = global_model(cfg, weights).evaluate(data.test)
        log(INFO, "round %d: test %s on %s", server_round, metrics.line(), data.corpus)
        entry = {"round": server_round, **metrics.as_dict(), "loss": test_loss}
        if (
            strategy_round > 0
        ):  # training, aggregation and federated evaluation; not this evaluation
            entry["round_s"] = round(round_s, 3)
        if dp is not None:
            entry["noise_multiplier"] = dp.noise_multiplier if strategy_round > 0 else 0.0
            entry["epsilon"] = epsilon_of(
                [*spent, *[dp.noise_multiplier] * strategy_round], dp.delta
            )
            log(
                INFO,
                "round %d: epsilon %.3f at delta %g (%s neighbours)",
                server_round,
                entry["epsilon"],
                dp.delta,
                NEIGHBOURING,
            )
        if not (strategy_round == 0 and first_round > 0):  # the checkpoint's round is known
            rounds.append(entry)
        if strategy_round > 0:
            save_checkpoint(
                Path(cfg.checkpoint_dir),
                Checkpoint(server_round, weights, cfg.to_dict(), fingerprint, rounds),
            )
        evaluated[0] = time.monotonic()
        return MetricRecord({"accuracy": metrics.accuracy, "auc": metrics.auc, "loss": test_loss})

    return evaluate


def global_model(cfg: RunConfig, weights: list[np.ndarray]) -> SpamModel:
    """The model the global weights make, with the run's loss and bias."""
    return SpamModel(np.asarray(weights[0], dtype=np.float64), cfg.loss, cfg.bias)


def sum_slice_reports(records: list[RecordDict], weighting_metric_name: str) -> MetricRecord:
    """Federated evaluation: sum the clients' slice reports into the figures of their union."""
    reports, examples = [], 0.0
    for record in records:
        report = next(iter(record.metric_records.values()))
        try:  # one client's odd report must not end the run (review F5): it is left out
            examples += wire.read_float(report, weighting_metric_name)
        except ProtocolError as exc:
            log(WARNING, "federated evaluation: a slice report left out: %s", exc)
            continue
        reports.append(report)
    metrics = from_reports([dict(r) for r in reports])
    log(INFO, "federated evaluation on %d test slices: %s", len(reports), metrics.line())
    return MetricRecord({"num-examples": int(examples), **metrics.as_dict()})


def noise_spent(rounds: list[dict]) -> list[float]:
    """The noise multiplier of every DP round already run (from a checkpoint's history).

    Raises
    ------
    ValueError
        If a trained round of the history has no noise multiplier: it ran
        without DP, and no epsilon can be claimed for the run.
    """
    spent = []
    for entry in rounds:
        if entry["round"] > 0:
            if not entry.get("noise_multiplier"):
                raise ValueError(
                    f"checkpoint: round {entry['round']} ran without differential privacy; "
                    "a DP run cannot resume from it"
                )
            spent.append(float(entry["noise_multiplier"]))
    return spent


def server_keypair(cfg: RunConfig) -> tuple | None:
    """The Paillier keypair kept in ``key-file`` (made and saved 0600 on first use);
    ``None``: a fresh one."""
    if not cfg.key_file:
        return None
    path = Path(cfg.key_file)
    if path.exists():
        log(INFO, "Paillier key: loaded from %s", path)
        return load_keypair(path, cfg.insecure_demo_key)
    keypair = generate_keypair(cfg.key_bits, cfg.insecure_demo_key)
    save_keypair(path, keypair[1])
    log(INFO, "Paillier key: new, saved (mode 0600) to %s", path)
    return keypair


def make_strategy(cfg: RunConfig, dp: DpSettings | None) -> BoundedFedAvg:
    """``plain``: FedAvg; ``paillier``: the same average, securely aggregated.

    Both sample every online node, and need at least ``min-clients`` of them:
    after a node dies the run goes on with the others, or skips the round.
    """
    nodes: dict[str, Any] = {
        "min_train_nodes": cfg.min_clients,
        "min_evaluate_nodes": cfg.min_clients,
        "min_available_nodes": cfg.min_clients,
        "node_timeout": cfg.round_timeout,
    }
    if cfg.aggregation == "plain":
        return BoundedFedAvg(evaluate_metrics_aggr_fn=sum_slice_reports, **nodes)
    return PaillierChainFedAvg(
        min_clients=cfg.min_clients,
        key_bits=cfg.key_bits,
        insecure_demo_key=cfg.insecure_demo_key,
        keypair=server_keypair(cfg),
        # Under DP the per-value bound must hold the noise share too, or clipping would cut it.
        clip=dp.value_bound if dp else cfg.clip,
        max_examples=cfg.max_examples,
        chain_timeout=cfg.round_timeout,
        chain_fanin=cfg.chain_fanin,
        one_example_each=dp is not None,
        **nodes,
    )


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run the app with the run-config of ``context``."""
    cfg = RunConfig.from_mapping(context.run_config)
    cfg.check_paths()
    run(grid, with_absolute_paths(cfg), context.run_id)


def run(grid: Grid, cfg: RunConfig, run_id: int | str) -> dict:
    """Run ``num-server-rounds`` of FedAvg over ``num-clients`` nodes and save the results.

    Returns
    -------
    dict
        The payload written to ``<results-dir>/<run-id>.json``.

    Raises
    ------
    RunConfigError
        When the federation cannot serve the run, or ``max-examples`` is below
        the training set; before any message is sent.
    RunFailedError
        When every round was skipped: the model never trained, and no results
        are written. The message holds the last round's reason.
    """
    data = load_data(cfg)
    cfg.check_training_set(len(data.train))
    log(INFO, "corpus: %s (%s)", data.corpus, data.split_note)
    log(
        INFO,
        "  %d train / %d test e-mails, %d words",
        len(data.train),
        len(data.test),
        len(data.vocabulary),
    )
    started = time.monotonic()
    first_round, initial, rounds = 0, [SpamModel.zeros(len(data.vocabulary)).weights], []
    if cfg.resume:
        checkpoint = load_checkpoint(Path(cfg.checkpoint_dir), data.vocabulary.fingerprint())
        first_round, initial, rounds = (
            checkpoint.server_round,
            checkpoint.arrays,
            checkpoint.history,
        )
        log(INFO, "resuming after round %d from %s", first_round, cfg.checkpoint_dir)
    dp = cfg.dp_settings(len(data.vocabulary))
    last_round = cfg.num_server_rounds
    if dp is not None:
        log(
            INFO,
            "differential privacy: L2 clip %.3g, noise multiplier %.4g "
            "(noise std %.4g on the sum), "
            "delta %g; noise shares sized for min-clients = %d",
            dp.clip,
            dp.noise_multiplier,
            dp.sum_std,
            dp.delta,
            dp.min_clients,
        )
        if cfg.target_epsilon:
            spent = noise_spent(rounds)
            last_round = rounds_within(
                cfg.target_epsilon, dp.noise_multiplier, dp.delta, cfg.num_server_rounds, spent
            )
            if last_round < cfg.num_server_rounds:
                over = epsilon_of(
                    [*spent, *[dp.noise_multiplier] * (last_round + 1 - len(spent))], dp.delta
                )
                log(
                    WARNING,
                    "target-epsilon %.3g: training stops after round %d; round %d would reach "
                    "epsilon %.3f",
                    cfg.target_epsilon,
                    last_round,
                    last_round + 1,
                    over,
                )
    # rounds-before: a resumed run's strategy counts rounds from 1 again; clients seed by
    # the true round.
    train_config: dict[str, ConfigRecordValues] = {
        **cfg.train_config(),
        "rounds-before": first_round,
    }
    if dp is not None:
        train_config.update(dp.train_config())
    remaining = last_round - first_round
    if remaining > 0:
        cfg = clients_of_federation(grid, cfg)
        strategy = make_strategy(cfg, dp)
        result = strategy.start(
            grid=grid,
            initial_arrays=ArrayRecord(initial),
            num_rounds=remaining,
            timeout=cfg.round_timeout,
            train_config=ConfigRecord(train_config),
            evaluate_fn=evaluate_and_checkpoint(cfg, data, first_round, rounds, dp),
        )
        if len(strategy.skipped) == remaining:
            last_skipped = max(strategy.skipped)
            raise RunFailedError(
                f"every round was skipped, so the model never trained (round "
                f"{first_round + last_skipped}: {strategy.skipped[last_skipped]}) — fix that and "
                "run again; no results were written"
            )
        final = result.arrays.to_numpy_ndarrays()
        by_round = {r["round"]: r for r in rounds}
        for strategy_round, metrics in result.train_metrics_clientapp.items():
            for key in (
                "contributors",
                "message_depth",
            ):  # secure rounds: the sequential message waves
                if key in metrics and first_round + strategy_round in by_round:
                    by_round[first_round + strategy_round][key] = wire.read_int(metrics, key)
        for strategy_round, metrics in result.evaluate_metrics_clientapp.items():
            if first_round + strategy_round in by_round:
                by_round[first_round + strategy_round]["federated"] = dict(metrics)
    else:
        final = initial
    last = {k: v for k, v in rounds[-1].items() if k not in ("round", "federated")}
    payload = {
        "run_id": str(run_id),
        "corpus": data.corpus,
        "synthetic": data.synthetic,
        "split": data.split_note,
        "config": cfg.to_dict(),
        "rounds": rounds,
        **last,
        "dp": None
        if dp is None
        else {
            "clip": dp.clip,
            "noise_multiplier": dp.noise_multiplier,
            "delta": dp.delta,
            "min_clients": dp.min_clients,
            "epsilon": rounds[-1].get("epsilon", 0.0),
            "neighbouring": NEIGHBOURING,
            "target_epsilon": cfg.target_epsilon or None,
        },
        "wall_time_s": round(time.monotonic() - started, 3),
    }
    model = global_model(cfg, final)
    about = {
        "corpus": data.corpus,
        "split": data.split_note,
        "run_id": str(run_id),
        "metrics": last,
    }
    payload["model"] = str(
        save_model(
            Path(cfg.results_dir).expanduser().resolve() / f"{run_id}.model.npz",
            SavedModel(model, data.vocabulary, about),
        )
    )
    title = f"{cfg.aggregation} FedAvg, {cfg.num_clients} clients - {data.corpus}"
    json_path, png_path = save_run(
        Path(cfg.results_dir), run_id, payload, title, model.predict(data.test), data.test.labels
    )
    log(
        INFO,
        "final: %s on %s (%s)",
        SpamMetrics.from_dict(last).line(),
        data.corpus,
        data.split_note,
    )
    log(INFO, "results: %s", json_path)
    log(INFO, "plot:    %s", png_path)
    log(
        INFO,
        "model:   %s (fl-spam classify --model %s PATH...)",
        payload["model"],
        payload["model"],
    )
    return payload
