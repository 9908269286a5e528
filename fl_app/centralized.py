"""The book's plain, non-federated training: one model on all training e-mails."""

from __future__ import annotations

from collections.abc import Callable

from clients.model import SpamModel
from data.prepare import PreparedData


def train_centralized(
    data: PreparedData,
    epochs: int = 3,
    lr: float = 0.01,
    batch_size: int = 500,
    loss: str = "mse",
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> list[dict[str, float]]:
    """Train from zeros; evaluate on the test set after every epoch.

    Returns
    -------
    list[dict[str, float]]
        Per epoch: ``train_loss``, test ``loss`` and test ``accuracy`` (fraction).
    """
    if epochs < 1:
        raise ValueError(f"Expected epochs >= 1, got {epochs}")
    model = SpamModel.zeros(len(data.vocabulary), loss)
    history = []
    for epoch in range(1, epochs + 1):
        train_loss = model.fit(data.train, lr=lr, batch_size=batch_size, epochs=1)
        test_loss, accuracy = model.evaluate(data.test)
        history.append({"train_loss": train_loss, "loss": test_loss, "accuracy": accuracy})
        if on_epoch:
            on_epoch(epoch, test_loss, accuracy)
    return history
