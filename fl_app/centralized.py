"""Plain, non-federated training: one model on all training e-mails, the reference for FedAvg."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from clients.model import Recipe, SpamModel
from clients.spam_metrics import SpamMetrics
from data.prepare import PreparedData


def train_centralized(
    data: PreparedData,
    recipe: Recipe,
    epochs: int,
    seed: int = 0,
    on_epoch: Callable[[int, SpamMetrics], None] | None = None,
) -> tuple[SpamModel, list[dict[str, float]]]:
    """Train from zeros with ``recipe``; evaluate on the test set after every epoch.

    Returns
    -------
    tuple[SpamModel, list[dict[str, float]]]
        The trained model, and per epoch: ``train_loss``, test ``loss`` and
        every ``SpamMetrics`` figure.
    """
    if epochs < 1:
        raise ValueError(f"Expected epochs >= 1, got {epochs}")
    model = SpamModel.zeros(len(data.vocabulary), recipe.loss, recipe.bias)
    rng = np.random.default_rng(seed) if recipe.shuffle else None
    history = []
    for epoch in range(1, epochs + 1):
        train_loss = model.fit(
            data.train, lr=recipe.lr, batch_size=recipe.batch_size, epochs=1, rng=rng
        )
        test_loss, metrics = model.evaluate(data.test)
        history.append(
            {"epoch": epoch, "train_loss": train_loss, "loss": test_loss, **metrics.as_dict()}
        )
        if on_epoch:
            on_epoch(epoch, metrics)
    return model, history
